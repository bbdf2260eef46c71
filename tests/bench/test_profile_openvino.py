"""edgeseg profile MODEL.xml: per-layer-type and per-node time of what OpenVINO's CPU plugin runs."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("openvino")

from edgeseg.bench.profile_openvino import profile_openvino  # noqa: E402
from edgeseg.cli import main  # noqa: E402
from edgeseg.errors import EdgesegError  # noqa: E402


@pytest.fixture(scope="module")
def tiny_ir(tiny_artifacts, tmp_path_factory):
    """The bench tests' tiny CGNet ONNX built as an FP32 IR with --threads 1 recorded in its card."""
    from edgeseg.backends.openvino.build import build_openvino

    folder = tmp_path_factory.mktemp("ov_profile")
    return build_openvino(
        tiny_artifacts["onnx"], output=folder / "tiny.xml", threads=1, log=lambda s: None
    ).path


def test_profile_sums_every_executed_node_and_uses_the_card_threads(tiny_ir):
    prof = profile_openvino(tiny_ir, runs=3, warmup=1)
    assert prof.threads == 1  # from the card the build wrote
    names = {r.name for r in prof.by_op}
    assert "Convolution" in names or "GroupConvolution" in names
    assert sum(r.share for r in prof.by_op) == pytest.approx(1.0)
    assert prof.kernel_ms == pytest.approx(sum(r.ms for r in prof.by_op))
    assert all("/" in r.op_type for r in prof.top_nodes)  # layer type / kernel that ran
    assert prof.input_shape[1] == 3 and prof.run_ms > 0


def test_profile_cli_writes_json_and_refuses_ort_options_for_an_ir(tiny_ir, tmp_path, capsys):
    out = tmp_path / "p.json"
    assert main(["profile", str(tiny_ir), "--runs", "2", "--warmup", "0", "--json", str(out)]) == 0
    assert "slowest nodes" in capsys.readouterr().out
    assert json.loads(out.read_text())["by_op"]
    assert main(["profile", str(tiny_ir), "--opt-level", "basic"]) != 0
    assert "--opt-level is an ONNX Runtime setting" in capsys.readouterr().err


def test_profile_refuses_a_non_ir(tmp_path):
    with pytest.raises(EdgesegError, match="expected an OpenVINO .xml IR"):
        profile_openvino(tmp_path / "m.onnx")
