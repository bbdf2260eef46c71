"""build --backend openvino --bf16-float: opt-in bf16 for the float parts, recorded in the card and
compiled so by the runner; FP32 stays pinned without it; a CPU without BF16 is refused in one line."""

from __future__ import annotations

import pytest

ov = pytest.importorskip("openvino")

from _openvino_helpers import batch_of  # noqa: E402
from edgeseg.backends.onnxruntime.runner import OrtRunner  # noqa: E402
from edgeseg.backends.openvino.build import build_openvino, compile_config  # noqa: E402
from edgeseg.backends.openvino.runner import OpenVinoRunner  # noqa: E402
from edgeseg.errors import BuildError, UnsupportedOptionError  # noqa: E402


def _has_bf16() -> bool:
    from edgeseg.backends.openvino._core import shared_core

    return "BF16" in list(shared_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def test_compile_config_takes_bf16_only_when_asked():
    assert compile_config(threads=None)["INFERENCE_PRECISION_HINT"] == "f32"
    assert compile_config(threads=None, inference_precision="bf16")["INFERENCE_PRECISION_HINT"] == "bf16"


@pytest.mark.skipif(not _has_bf16(), reason="this CPU's OpenVINO plugin has no BF16")
def test_bf16_float_build_is_recorded_and_run_in_bf16(qdq, tmp_path):
    res = build_openvino(qdq.onnx, output=tmp_path / "b.xml", bf16_float=True, log=lambda s: None)
    assert res.card.extra["inference_precision"] == "bf16" and "bf16 float parts" in res.path_name
    x = batch_of(2, seed=3)
    with OpenVinoRunner(tmp_path / "b.xml") as r:
        assert r.options["inference_precision"] == "bf16"
        assert r._compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.bf16
        got = r.infer(x)
    with OpenVinoRunner(qdq.xml) as r:  # the same file built without it: f32 pinned
        assert r.options["inference_precision"] == "f32"
        assert r._compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    with OrtRunner(qdq.onnx) as o:
        ref = o.infer(x)
    assert float((got.argmax(1) == ref.argmax(1)).mean()) >= 0.9


def test_a_cpu_without_bf16_is_refused_before_any_work(qdq, tmp_path, monkeypatch):
    from edgeseg.backends.openvino import _core

    class NoBf16:
        def get_property(self, device, key):
            assert (device, key) == ("CPU", "OPTIMIZATION_CAPABILITIES")
            return ["FP32", "INT8"]

    monkeypatch.setattr(_core, "shared_core", lambda: NoBf16())
    with pytest.raises(BuildError, match=r"--bf16-float: .*no BF16 \(capabilities: FP32, INT8\)"):
        build_openvino(qdq.onnx, output=tmp_path / "n.xml", bf16_float=True, log=lambda s: None)
    assert list(tmp_path.iterdir()) == []


def test_a_card_with_an_unknown_inference_precision_is_refused(qdq, tmp_path):
    from _openvino_helpers import copy_pair

    xml = copy_pair(qdq.xml, tmp_path)
    text = xml.read_text()
    assert "&quot;inference_precision&quot;: &quot;f32&quot;" in text
    xml.write_text(
        text.replace(
            "&quot;inference_precision&quot;: &quot;f32&quot;",
            "&quot;inference_precision&quot;: &quot;f8&quot;",
        )
    )
    with pytest.raises(Exception, match="inference_precision is 'f8'"):
        OpenVinoRunner(xml, verify_weights=False)


def test_other_backends_do_not_take_it():
    from edgeseg.backends import BACKENDS
    from edgeseg.backends._options import check_options

    with pytest.raises(UnsupportedOptionError, match=r"--bf16-float \(accepted by openvino\)"):
        check_options("onnxruntime", {"bf16_float": True}, BACKENDS)
