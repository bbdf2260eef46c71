"""ONNX Runtime CPU builds: offline-optimized model with the card (and thread settings) in its
metadata, outputs equal to the source ONNX, INT8 through quantize_ort_cpu."""

from __future__ import annotations

import numpy as np
import pytest

from edgeseg.backends.onnxruntime.build import build_onnxruntime
from edgeseg.card import card_from_onnx
from edgeseg.errors import BuildError


def _run(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


@pytest.mark.parametrize("level", ["extended", "basic"])
def test_fp32_build_matches_source_and_keeps_the_card(tmp_path, tiny_models, level):
    import onnx

    logs = []
    res = build_onnxruntime(
        tiny_models.onnx, output=tmp_path / "m.ort.onnx", threads=2, opt_level=level, log=logs.append
    )
    assert (
        res.path.name == "m.ort.onnx"
        and res.precision == "fp32"
        and res.size_bytes == res.path.stat().st_size
    )
    card = card_from_onnx(res.path)
    src = card_from_onnx(tiny_models.onnx)
    assert (card.class_names, card.input_size, card.mean, card.std) == (
        src.class_names,
        src.input_size,
        src.mean,
        src.std,
    )
    x = card.extra
    assert x["backend"] == "onnxruntime" and x["threads"] == 2 and x["opt_level"] == level
    assert x["execution_provider"] == "CPUExecutionProvider" and x["onnx_source"] == src.source
    assert card.source.startswith("tiny.onnx@sha256:")
    ops = {(n.domain, n.op_type) for n in onnx.load(str(res.path)).graph.node}
    if level == "extended":
        assert ("com.microsoft", "FusedConv") in ops  # the offline optimizations really happened
    assert not any(d == "com.microsoft.nchwc" for d, _ in ops)  # no hardware-specific layouts
    inp = np.random.default_rng(0).normal(size=(1, 3, 64, 96)).astype(np.float32)
    np.testing.assert_allclose(_run(res.path, inp), _run(tiny_models.onnx, inp), rtol=1e-5, atol=1e-5)
    assert "ONNX Runtime" in res.summary() and f"{level} graph optimizations" in res.summary()


def test_default_output_name(tmp_path, tiny_models):
    import shutil

    src = shutil.copy(tiny_models.onnx, tmp_path / "cgnet.onnx")
    res = build_onnxruntime(src, log=lambda s: None)
    assert res.path == tmp_path / "cgnet.ort.onnx"


def test_refusals(tmp_path, tiny_models):
    with pytest.raises(BuildError, match="needs a calibration set"):
        build_onnxruntime(tiny_models.onnx, output=tmp_path / "q.onnx", int8=True, log=lambda s: None)
    with pytest.raises(BuildError, match="overwrite the input"):
        build_onnxruntime(tiny_models.onnx, output=tiny_models.onnx, log=lambda s: None)
    with pytest.raises(BuildError, match="--threads"):
        build_onnxruntime(tiny_models.onnx, output=tmp_path / "t.onnx", threads=0, log=lambda s: None)
    assert not (tmp_path / "q.onnx").exists() and not (tmp_path / "t.onnx").exists()


def test_qdq_onnx_is_optimized_as_it_is(tmp_path, qdq_onnx):
    logs = []
    res = build_onnxruntime(qdq_onnx, output=tmp_path / "q.ort.onnx", int8=True, log=logs.append)
    assert res.precision == "int8" and card_from_onnx(res.path).precision == "int8"
    assert any("already quantized" in line for line in logs)
    x = np.random.default_rng(0).normal(size=(1, 3, 64, 96)).astype(np.float32)
    np.testing.assert_allclose(_run(res.path, x), _run(qdq_onnx, x), rtol=1e-5, atol=1e-5)


def test_int8_quantizes_with_the_calibration_set(tmp_path, tiny_models):
    pytest.importorskip("edgeseg.quant.ort_cpu", reason="edgeseg.quant.ort_cpu not written yet")
    import cv2

    folder = tmp_path / "calib"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        cv2.imwrite(str(folder / f"f{i}.png"), rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))
    res = build_onnxruntime(
        tiny_models.onnx,
        output=tmp_path / "m.int8.ort.onnx",
        int8=True,
        calib=str(folder),
        log=lambda s: None,
    )
    card = card_from_onnx(res.path)
    assert res.precision == "int8" and card.precision == "int8"
    assert card.calibration["frames"] == 4 and card.calibration["fingerprint"]
    # the one calibration request, as quantize --method ort-cpu records it (the spec's 256 by default)
    assert card.calibration["request"] == {
        "source": str(folder),
        "num": 256,
        "method": "minmax",
        "batch": None,
        "seed": 0,
    }
    assert card.extra["flavour"] == "onnxruntime-cpu" and card.extra["backend"] == "onnxruntime"
    assert res.comparison["probe"] == "2 calibration frames" and res.comparison["enforced"] is False
    from edgeseg.data.preprocess import preprocess

    x = preprocess([rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)], card)
    ref, got = _run(tiny_models.onnx, x), _run(res.path, x)
    assert got.shape == ref.shape and np.isfinite(got).all()
    assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] >= 0.95  # in-distribution input: close to FP32


def test_ort_runner_opens_the_built_model(tmp_path, tiny_models):
    from edgeseg.backends import open_runner

    res = build_onnxruntime(tiny_models.onnx, output=tmp_path / "m.ort.onnx", log=lambda s: None)
    x = np.random.default_rng(0).normal(size=(2, 3, 64, 96)).astype(np.float32)
    with open_runner(res.path) as r:
        assert r.backend == "onnxruntime" and r.card.extra["backend"] == "onnxruntime"
        got = r.infer(x)
    ref = np.concatenate([_run(tiny_models.onnx, x[i : i + 1]) for i in range(2)])
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_fp16_build_runs_close_to_fp32_and_is_labelled(tmp_path):
    """--fp16 for onnxruntime: the TensorRT-11 FP16 converter's graph, float32 IO, near the FP32 output."""
    import numpy as np

    from edgeseg.backends.onnxruntime.build import build_onnxruntime
    from edgeseg.backends.onnxruntime.runner import OrtRunner

    src = _tiny_onnx_for_fp16(tmp_path)
    res = build_onnxruntime(src, output=tmp_path / "m16.ort.onnx", fp16=True, log=lambda s: None)
    assert res.precision == "fp16" and res.card.precision == "fp16" and "float16" in res.path_name
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 96)).astype(np.float32)
    with OrtRunner(src) as a, OrtRunner(res.path) as b:
        ref, out = a.infer(x), b.infer(x)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert np.abs(out - ref).max() <= 1e-2 * max(1.0, float(np.abs(ref).max()))


def test_fp16_and_int8_exclude_each_other(tmp_path):
    import pytest as _pytest

    from edgeseg.backends.onnxruntime.build import build_onnxruntime
    from edgeseg.errors import BuildError

    with _pytest.raises(BuildError, match="exclude each other"):
        build_onnxruntime(
            _tiny_onnx_for_fp16(tmp_path),
            output=tmp_path / "x.onnx",
            fp16=True,
            int8=True,
            calib="synthetic:2",
        )


def _tiny_onnx_for_fp16(tmp_path):
    import torch

    from edgeseg.card import ModelCard
    from edgeseg.data.datasets import CAMVID
    from edgeseg.export.onnx import export_onnx
    from edgeseg.models import build_model

    torch.manual_seed(0)
    model = build_model("cgnet", num_classes=11, m=2, n=3).eval()
    card = ModelCard(
        arch="cgnet",
        arch_args={"m": 2, "n": 3},
        num_classes=11,
        class_names=CAMVID.class_names,
        palette=CAMVID.palette,
        ignore_index=11,
        input_size=(64, 96),
    )
    p = tmp_path / "tiny_fp32.onnx"
    if not p.exists():
        export_onnx(model, card, p)
    return p


def test_fp32_build_rewrites_cgnet_with_equal_outputs(tmp_path):
    """ORT's PRelu kernel (and the layout reorders around it) dominated CGNet's CPU time; the build rewrites
    PRelu/BN/Concat/Conv into ops ORT runs blocked, with the same numbers. --no-rewrite keeps them."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from edgeseg.backends.onnxruntime.build import build_onnxruntime
    from edgeseg.backends.onnxruntime.runner import OrtRunner

    src = _tiny_onnx_for_fp16(tmp_path)
    from edgeseg.onnxgraph.rewrite import inline_constants

    m = onnx.load(str(src))
    inline_constants(m)  # the exporter shares equal slopes through Identity nodes; give each its own values
    rng = np.random.default_rng(3)
    slopes = {n.input[1] for n in m.graph.node if n.op_type == "PRelu"}
    for t in m.graph.initializer:  # trained-like slopes: a different value per channel
        if t.name in slopes:
            t.CopyFrom(
                numpy_helper.from_array(
                    rng.uniform(0.0, 0.6, numpy_helper.to_array(t).shape).astype(np.float32), t.name
                )
            )
    onnx.save(m, str(src))
    n_prelu = len(slopes)
    assert n_prelu > 0
    logs = []
    res = build_onnxruntime(src, output=tmp_path / "m.ort.onnx", log=logs.append)
    ops = [n.op_type for n in onnx.load(str(res.path)).graph.node]
    assert "PRelu" not in ops
    rewrites = res.card.extra["rewrites"]
    assert any(r.startswith("BatchNormalization/PRelu moved before Concat") for r in rewrites), rewrites
    assert any(r.startswith("PRelu -> slope*x + Relu((1-slope)*x)") for r in rewrites), rewrites
    assert any(r.startswith("Conv over an unaligned Concat") for r in rewrites), (
        rewrites
    )  # 32 + 3 channels into stage2_down
    assert "3 rewrites for the CPU kernels (outputs equal to the export" in res.path_name
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 96)).astype(np.float32) * 3
    kept = build_onnxruntime(src, output=tmp_path / "kept.ort.onnx", rewrite=False, log=lambda s: None)
    assert kept.card.extra["rewrites"] == []
    assert "PRelu" in {n.op_type for n in onnx.load(str(kept.path)).graph.node}
    with OrtRunner(src) as a, OrtRunner(res.path) as b, OrtRunner(kept.path) as c:
        ref = a.infer(x)
        np.testing.assert_allclose(b.infer(x), ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(c.infer(x), ref, rtol=1e-5, atol=1e-5)
