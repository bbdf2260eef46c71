"""Issue 8, fault table 8: BENCHMARKS (issue rows 16, 17) through the real ``edgeseg bench``.

- Rows that crash: real worker processes are killed by a real SIGSEGV and a real SIGKILL (what the
  kernel's OOM killer sends) at their first inference, by the test hook (hooks/sitecustomize.py,
  inherited through the environment); one artifact is truncated. Those rows read "failed: reason",
  the good row completes, the exit code is 1 and the results file is valid JSON.
- Two runs at once: two ``edgeseg bench`` processes append to a results file that already holds an
  earlier run; all three runs are there afterwards, the earlier one unchanged, the JSON valid.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from faults_table import HOOKS, REPO, child_env, params, run_cli

FAST = ("--no-peak", "--runs", "3", "--warmup", "1", "--threads", "1", "--batch", "1", "--timeout", "120")


@dataclass(frozen=True)
class BenchRow:
    id: str
    issue_rows: tuple[int, ...]


def _artifacts(work: Path, a, names) -> list[str]:
    out = []
    for n in names:
        (work / n).write_bytes(a.onnx.read_bytes())
        out.append(str(work / n))
    return out


def _valid(path: Path) -> dict:
    from edgeseg.bench.results import load_results
    from edgeseg.bench.schema import check_results

    doc = json.loads(path.read_text())  # strict JSON on disk
    assert check_results(doc) == [], check_results(doc)
    load_results(path)
    return doc


@pytest.mark.parametrize(
    "row", params([BenchRow("bench-rows-that-crash-or-run-out-of-memory", (16,))], kind="bench")
)
def test_crashing_rows_fail_alone(row, tmp_path, artifacts, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    arts = _artifacts(work, artifacts, ["good.onnx", "segv.onnx", "oom.onnx"])
    corrupt = work / "corrupt.onnx"
    corrupt.write_bytes(artifacts.onnx.read_bytes()[:5000])
    monkeypatch.setenv(
        "EDGESEG_FAULT",
        json.dumps({"kind": "crash-worker", "artifacts": {"segv.onnx": "SIGSEGV", "oom.onnx": "SIGKILL"}}),
    )
    monkeypatch.setenv("PYTHONPATH", str(HOOKS))  # the harness puts the checkout in front for its workers
    code, out, err = run_cli(
        ["bench", *arts, str(corrupt), "-o", "res.json", *FAST], child=False, capsys=capsys
    )
    assert code == 1, err
    assert "Traceback" not in out
    assert out.strip().splitlines()[-1] == "3 row(s) not ok: segv.onnx, oom.onnx, corrupt.onnx", out
    doc = _valid(work / "res.json")
    (run,) = doc["runs"]
    rows = {r["id"]: r for r in run["rows"]}
    assert run["finished"] and list(rows) == ["good.onnx", "segv.onnx", "oom.onnx", "corrupt.onnx"]
    assert rows["good.onnx"]["state"] == "ok" and rows["good.onnx"]["latency_ms"]["p50"] > 0
    assert rows["segv.onnx"]["state"].startswith("failed: worker killed by SIGSEGV (during latency")
    assert rows["oom.onnx"]["state"].startswith(
        "failed: worker killed by SIGKILL (out of memory?) (during latency"
    )
    assert rows["oom.onnx"]["backend"] == "onnxruntime"  # what was found before the kill is kept
    assert rows["corrupt.onnx"]["state"].startswith("failed: ") and "corrupt" in rows["corrupt.onnx"]["state"]
    assert sorted(p.name for p in work.iterdir() if not p.name.endswith(".onnx")) == [
        "res.json",
        "res.json.lock",
    ]


@pytest.mark.parametrize("row", params([BenchRow("bench-two-runs-append-at-once", (17,))], kind="bench"))
def test_two_runs_append_at_once(row, tmp_path, artifacts, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (a, b, c) = _artifacts(work, artifacts, ["a.onnx", "b.onnx", "c.onnx"])
    assert (
        run_cli(["bench", a, "-o", "res.json", *FAST], child=False, capsys=capsys)[0] == 0
    )  # the earlier run
    earlier = _valid(work / "res.json")["runs"][0]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "edgeseg", "bench", art, "-o", "res.json", *FAST],
            cwd=work,
            env=child_env(PYTHONPATH=str(REPO)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for art in (b, c)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    doc = _valid(work / "res.json")
    assert len(doc["runs"]) == 3 and doc["runs"][0] == earlier
    later = {r["rows"][0]["id"]: r for r in doc["runs"][1:]}
    assert sorted(later) == ["b.onnx", "c.onnx"]
    assert all(r["finished"] and r["rows"][0]["state"] == "ok" for r in later.values())
    assert sorted(p.name for p in work.iterdir() if not p.name.endswith(".onnx")) == [
        "res.json",
        "res.json.lock",
    ]
