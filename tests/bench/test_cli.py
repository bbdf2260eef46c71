"""The bench and report commands end to end, and make steps that rebuild stale artifacts."""

from __future__ import annotations

from edgeseg.bench.results import load_results


def test_cli_bench_appends_and_report_renders(tiny_artifacts, tmp_path, capsys):
    from edgeseg.cli import main

    out = tmp_path / "res.json"
    args = [
        "bench",
        str(tiny_artifacts["onnx"]),
        "--size",
        "64x96",
        "--warmup",
        "1",
        "--runs",
        "3",
        "--threads",
        "1",
        "--no-peak",
        "-o",
        str(out),
    ]
    assert main(args) == 0
    assert main(args) == 0
    doc = load_results(out)
    assert len(doc["runs"]) == 2 and doc["runs"][0]["id"] != doc["runs"][1]["id"]
    assert all(r["rows"][0]["state"] == "ok" for r in doc["runs"])
    assert "appended run" in capsys.readouterr().out
    rep = tmp_path / "rep"
    assert main(["report", str(out), "-o", str(rep), "--runs", "all"]) == 0
    md = (rep / "REPORT.md").read_text()
    assert md.count("| tiny.onnx@") == 2  # both runs, told apart
    assert (rep / "latency_distribution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_make_steps_rebuild_only_when_an_input_is_newer(tiny_artifacts, tmp_path):
    import os
    import shutil

    from edgeseg.bench.make_steps import run_make_steps
    from edgeseg.bench.matrix import RowSpec

    shutil.copy(tiny_artifacts["pt"], tmp_path / "m.pt")
    art = tmp_path / "m.onnx"
    shutil.copy(tiny_artifacts["onnx"], art)
    row = RowSpec(
        id="r",
        artifact=str(art),
        make=(("export", "m.pt", "--size", "64x96", "-o", "{artifact}"),),
        timeout=300,
    )
    os.utime(art, (1e9 + 100, 1e9 + 100))
    os.utime(tmp_path / "m.pt", (1e9, 1e9))
    logs = []
    assert run_make_steps(row, tmp_path, rebuild=False, log=logs.append) == (
        None,
        None,
        "",
    )  # up to date: nothing run
    assert logs == []
    os.utime(tmp_path / "m.pt", (1e9 + 200, 1e9 + 200))  # "retrained" checkpoint
    state, seconds, _ = run_make_steps(row, tmp_path, rebuild=False, log=logs.append)
    assert state is None and seconds > 0
    assert any("older than m.pt" in line for line in logs)
    assert art.stat().st_mtime > 1e9 + 200
