"""OrtRunner specifics: the graph is checked against its card, damaged files fail cleanly,
providers are validated, static-batch graphs run larger batches frame by frame."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeseg.card import card_to_onnx
from edgeseg.data.preprocess import preprocess
from edgeseg.errors import EdgesegError, ExportError, UnsupportedOptionError
from edgeseg.backends.onnxruntime.runner import INPUT_NAME, OrtRunner


def _tiny_graph(
    path, card, *, name=INPUT_NAME, shape=(1, 3, 64, 96), dtype=TensorProto.FLOAT, qdq=False, with_card=True
):
    """input -> [Cast] -> [Q/DQ] -> 1x1 Conv (11 classes) -> logits, with the card in metadata_props."""
    nodes, inits, x = [], [], name
    if dtype != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", [x], ["xf"], to=TensorProto.FLOAT))
        x = "xf"
    if qdq:
        inits += [
            numpy_helper.from_array(np.array(0.05, np.float32), "s"),
            numpy_helper.from_array(np.array(0, np.int8), "z"),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", [x, "s", "z"], ["q"]),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"]),
        ]
        x = "dq"
    if len(shape) == 3:
        nodes.append(helper.make_node("Unsqueeze", [x, "ax"], ["u"]))
        inits.append(numpy_helper.from_array(np.array([0], np.int64), "ax"))
        x = "u"
    w = np.random.default_rng(0).standard_normal((11, 3, 1, 1)).astype(np.float32)
    inits.append(numpy_helper.from_array(w, "w"))
    nodes.append(helper.make_node("Conv", [x, "w"], ["logits"]))
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(name, dtype, list(shape))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
        inits,
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    if with_card:
        card_to_onnx(m, card)
    onnx.save(m, str(path))
    return path


def test_input_name_matches_the_exporter():
    from edgeseg.export.onnx import INPUT_NAME as EXPORTED

    assert INPUT_NAME == EXPORTED


def test_static_graph_facts(artifact_dir, arts):
    with OrtRunner(arts.tiny_onnx(artifact_dir), threads=1, optimization="basic") as r:
        assert r.input_size == (64, 96) and r.static_batch == 1
        assert r.threads == 1 and r.options["threads"] == 1 and r.options["optimization"] == "basic"
        assert r.providers == ["CPUExecutionProvider"] and r.precision == "fp32"


def test_static_batch_one_runs_n_frames_one_by_one(artifact_dir, arts):
    batch = preprocess(arts.frames(3), arts.tiny_card())
    with OrtRunner(arts.tiny_onnx(artifact_dir)) as r:
        whole = r.infer(batch)
        single = np.concatenate([r.infer(batch[i : i + 1]) for i in range(3)])
    assert whole.shape == (3, 11, 64, 96)
    np.testing.assert_array_equal(whole, single)


def test_wrong_spatial_size_for_a_static_graph_is_explained(artifact_dir, arts):
    with OrtRunner(arts.tiny_onnx(artifact_dir)) as r, pytest.raises(
        EdgesegError, match="takes 64x96 input, found 32x48"
    ):
        r.infer(np.zeros((1, 3, 32, 48), np.float32))


def test_wrong_input_name_is_refused(tmp_path, arts):
    path = _tiny_graph(tmp_path / "named.onnx", arts.tiny_card(), name="images")
    with pytest.raises(ExportError, match="named 'images', expected 'input'"):
        OrtRunner(path)


def test_wrong_input_rank_is_refused(tmp_path, arts):
    path = _tiny_graph(tmp_path / "rank3.onnx", arts.tiny_card(), shape=(3, 64, 96))
    with pytest.raises(ExportError, match="rank 3"):
        OrtRunner(path)


def test_wrong_channel_count_is_refused(tmp_path, arts):
    path = _tiny_graph(tmp_path / "gray.onnx", arts.tiny_card(), shape=(1, 1, 64, 96))
    with pytest.raises(ExportError, match="1 channels"):
        OrtRunner(path)


def test_static_size_disagreeing_with_card_is_refused(tmp_path, arts):
    path = _tiny_graph(tmp_path / "size.onnx", arts.tiny_card().replace(input_size=(360, 480)))
    with pytest.raises(ExportError, match="64x96 but its model card says input_size 360x480"):
        OrtRunner(path)


def test_onnx_without_card_is_not_ours(tmp_path, arts):
    path = _tiny_graph(tmp_path / "foreign.onnx", arts.tiny_card(), with_card=False)
    with pytest.raises(ExportError, match="not exported by edgeseg"):
        OrtRunner(path)


def test_qdq_graph_reports_int8_and_fp16_input_is_cast(tmp_path, arts):
    card = arts.tiny_card()
    with OrtRunner(_tiny_graph(tmp_path / "q.onnx", card, qdq=True)) as r:
        assert r.precision == "int8"
    with OrtRunner(_tiny_graph(tmp_path / "h.onnx", card, dtype=TensorProto.FLOAT16)) as r:
        assert r.precision == "fp16"
        out = r.infer(np.ones((1, 3, 64, 96), np.float32))
        assert out.dtype == np.float32 and out.shape == (1, 11, 64, 96)


@pytest.mark.parametrize("cut", [0.5, 0.97, 16])
def test_truncated_onnx_is_a_clean_error_naming_the_file(tmp_path, artifact_dir, arts, cut):
    data = arts.tiny_onnx(artifact_dir).read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else cut
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(data[:n])
    with pytest.raises(EdgesegError, match="truncated.onnx"):
        OrtRunner(bad)


def test_garbage_file_is_a_clean_error(tmp_path):
    bad = tmp_path / "junk.onnx"
    bad.write_bytes(b"\x00\xff" * 300)
    with pytest.raises(ExportError, match="junk.onnx"):
        OrtRunner(bad)


def test_unknown_provider_lists_the_available_ones(artifact_dir, arts):
    with pytest.raises(
        UnsupportedOptionError,
        match=r"requested provider 'NopeExecutionProvider', available providers are \[.*CPUExecutionProvider",
    ):
        OrtRunner(arts.tiny_onnx(artifact_dir), providers=["NopeExecutionProvider"])


def test_cuda_requested_on_a_cpu_build_is_refused_not_silently_cpu(artifact_dir, arts):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(UnsupportedOptionError, match="requested provider 'cuda'"):
        OrtRunner(arts.tiny_onnx(artifact_dir), providers=["cuda"])


@pytest.mark.parametrize(
    "opts, match", [({"optimization": "max"}, "optimization 'max'"), ({"threads": -1}, "threads")]
)
def test_bad_options_are_refused(artifact_dir, arts, opts, match):
    with pytest.raises(UnsupportedOptionError, match=match):
        OrtRunner(arts.tiny_onnx(artifact_dir), **opts)


def test_threads_default_to_what_the_build_recorded(artifact_dir, arts, tmp_path):
    from edgeseg.backends.onnxruntime.build import build_onnxruntime

    src = arts.tiny_onnx(artifact_dir)
    built = build_onnxruntime(src, output=tmp_path / "m.ort.onnx", threads=1, log=lambda s: None).path
    with OrtRunner(built) as r:
        assert r.threads == 1 and r.options["threads"] == 1
    with OrtRunner(built, threads=2) as r:
        assert r.threads == 2  # an explicit choice wins
    with OrtRunner(src) as r:
        assert r.threads is None  # a plain export: ONNX Runtime's default


def test_spin_off_reaches_the_session_and_changes_no_output(artifact_dir, arts):
    """``spin=False`` (camera --no-spin): the session's intra- and inter-op threads do not busy-wait; the
    logits are the same; a non-boolean is refused."""
    src = arts.tiny_onnx(artifact_dir)
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 96)).astype(np.float32)
    with OrtRunner(src) as default, OrtRunner(src, spin=False) as quiet:
        so = quiet.session.get_session_options()
        assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        assert so.get_session_config_entry("session.inter_op.allow_spinning") == "0"
        with pytest.raises(RuntimeError):  # the default leaves ONNX Runtime's own setting alone
            default.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
        assert quiet.options["spin"] is False and default.options["spin"] is True
        np.testing.assert_array_equal(quiet.infer(x), default.infer(x))
    with pytest.raises(UnsupportedOptionError, match="spin must be True or False, found 'no'"):
        OrtRunner(src, spin="no")
