"""The README's main job, end to end, in its smoke settings (several minutes on 2 cores: slow marker)."""

import importlib.util
import json

import pytest


@pytest.mark.slow
def test_demo_quick_runs_every_stage(tmp_path, capsys):
    from edgeseg.cli import main

    rc = main(["demo", "--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out[-3000:]
    stages = [
        "train",
        "eval fp32",
        "export onnx",
        "quantize ptq",
        "quantize qat",
        "build onnxruntime int8",
        "bench",
        "report",
    ]
    if importlib.util.find_spec("openvino"):
        stages += ["build openvino fp32", "build openvino int8"]
    if importlib.util.find_spec("executorch"):
        stages += ["build executorch int8"]
    for stage in stages:
        assert any(line.startswith(stage) and " ok " in line for line in out.splitlines()), stage
    results = json.loads((tmp_path / "results.json").read_text())
    rows = results["runs"][-1]["rows"]
    assert len(rows) >= 6 and all(r["state"] == "ok" for r in rows)
    if importlib.util.find_spec("openvino"):
        assert {r.get("backend") for r in rows} >= {"torch", "onnxruntime", "openvino"}
    if importlib.util.find_spec("executorch"):
        assert "executorch" in {r.get("backend") for r in rows}
    assert (tmp_path / "report" / "report.html").stat().st_size > 10_000
