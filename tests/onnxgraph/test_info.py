"""ONNX facts for builds: inputs, Q/DQ detection, --shapes parsing and profiles; FP16 conversion."""

from __future__ import annotations

import numpy as np
import pytest

from edgeseg.onnxgraph.info import OnnxInput, graph_inputs, is_qdq, load_header, parse_shapes, resolve_profile
from edgeseg.errors import BuildError


def test_inputs_static_and_dynamic(tiny_models):
    (static,) = graph_inputs(load_header(tiny_models.onnx))
    (dyn,) = graph_inputs(load_header(tiny_models.onnx_dyn))
    assert static == OnnxInput("input", (1, 3, 64, 96)) and not static.dynamic
    assert dyn.dims == ("batch", 3, "height", "width") and dyn.dynamic


def test_qdq_detection(tiny_models, qdq_onnx):
    assert not is_qdq(load_header(tiny_models.onnx))
    assert is_qdq(load_header(qdq_onnx))


def test_unreadable_onnx(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not a protobuf" * 10)
    with pytest.raises(BuildError, match="not a readable ONNX"):
        load_header(bad)
    with pytest.raises(BuildError, match="not found"):
        load_header(tmp_path / "missing.onnx")


def test_parse_shapes():
    assert parse_shapes("1x3x360x480/1x3x360x480/4x3x360x480") == (
        None,
        (1, 3, 360, 480),
        (1, 3, 360, 480),
        (4, 3, 360, 480),
    )
    assert parse_shapes("input:1x3x8x8/2x3x8x8/4x3x8x8")[0] == "input"
    for bad in ("1x3x8x8", "1x3x8x8/2x3x8x8", "1x3xAx8/1x3x8x8/1x3x8x8", "0x3x8x8/1x3x8x8/1x3x8x8"):
        with pytest.raises(BuildError, match="--shapes"):
            parse_shapes(bad)


def test_dynamic_input_without_shapes_is_refused_with_an_example():
    dyn = OnnxInput("input", ("batch", 3, "height", "width"))
    with pytest.raises(BuildError) as e:
        resolve_profile([dyn], None)
    msg = str(e.value)
    assert "silently set them to 1" in msg and "--shapes 1x3x360x480/1x3x360x480/4x3x360x480" in msg


def test_profiles():
    dyn = OnnxInput("input", ("batch", 3, "height", "width"))
    p = resolve_profile([dyn], "1x3x64x96/2x3x64x96/4x3x128x192")
    assert (p.min, p.opt, p.max) == ((1, 3, 64, 96), (2, 3, 64, 96), (4, 3, 128, 192)) and not p.static
    static = OnnxInput("input", (1, 3, 64, 96))
    assert resolve_profile([static], None).static
    assert resolve_profile([static], "1x3x64x96/1x3x64x96/1x3x64x96").static
    with pytest.raises(BuildError, match="fixes it to 3"):
        resolve_profile([dyn], "1x4x64x96/1x4x64x96/1x4x64x96")
    with pytest.raises(BuildError, match="fixes it to 1"):
        resolve_profile([static], "1x3x64x96/2x3x64x96/4x3x64x96")
    with pytest.raises(BuildError, match="min <= opt <= max"):
        resolve_profile([dyn], "4x3x64x96/1x3x64x96/4x3x64x96")
    with pytest.raises(BuildError, match="has 3 dims"):
        resolve_profile([dyn], "1x3x64/1x3x64/1x3x64")
    with pytest.raises(BuildError, match="names input 'image'"):
        resolve_profile([dyn], "image:1x3x8x8/1x3x8x8/1x3x8x8")
    with pytest.raises(BuildError, match="2 inputs"):
        resolve_profile([dyn, static], None)


def test_fp16_conversion_keeps_io_float32_sensitive_ops_fp32_and_the_card(tiny_models):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto

    from edgeseg.onnxgraph.fp16 import FP32_OPS, convert_onnx_fp16
    from edgeseg.card import card_from_onnx

    src = onnx.load(str(tiny_models.onnx))
    fp16 = convert_onnx_fp16(src)
    assert [v.type.tensor_type.elem_type for v in list(fp16.graph.input) + list(fp16.graph.output)] == [
        TensorProto.FLOAT
    ] * 2
    assert card_from_onnx(fp16) == card_from_onnx(src)
    conv_w = {n.input[1] for n in fp16.graph.node if n.op_type == "Conv"}
    inits = {i.name: i.data_type for i in fp16.graph.initializer}
    assert conv_w and all(inits[w] == TensorProto.FLOAT16 for w in conv_w if w in inits)
    # Ops kept in FP32 see float32 data: infer types and check their first input.
    typed = onnx.shape_inference.infer_shapes(fp16)
    types = {
        v.name: v.type.tensor_type.elem_type for v in list(typed.graph.value_info) + list(typed.graph.input)
    }
    kept = [n for n in typed.graph.node if n.op_type in FP32_OPS]
    assert {n.op_type for n in kept} >= {"Resize", "ReduceMean"}
    assert all(types[n.input[0]] == TensorProto.FLOAT for n in kept)
    # Numerically close to FP32 (Polygraphy's FP16 examples use 1e-3; logits of this untrained net are small).
    x = np.random.default_rng(0).normal(size=(1, 3, 64, 96)).astype(np.float32)
    ref = ort.InferenceSession(src.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"input": x}
    )[0]
    got = ort.InferenceSession(fp16.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"input": x}
    )[0]
    assert got.dtype == np.float32
    scale = float(np.abs(ref).max())
    assert np.abs(got - ref).max() <= 1e-2 * scale + 1e-5
