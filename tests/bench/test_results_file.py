"""Results files: schema checks, appends keep history, broken files are refused, concurrent appends."""

import json
import subprocess
import sys
import textwrap

import pytest

from edgeseg.bench.results import append_run, load_results, upsert_run
from edgeseg.bench.schema import (
    SCHEMA,
    check_results,
    json_safe,
    make_state,
    new_run_id,
    state_kind,
    validate_results,
)
from edgeseg.errors import EdgesegError


def _run(n_rows: int = 2, **extra):
    rows = [
        {
            "id": f"r{i}",
            "artifact": "m.onnx",
            "state": "ok",
            "latency_ms": {
                "mean": 2.0,
                "std": 0.1,
                "min": 1.0,
                "p50": 2.0,
                "p90": 3.0,
                "p99": 4.0,
                "max": 5.0,
            },
        }
        for i in range(n_rows)
    ]
    return {
        "id": new_run_id(),
        "started": "2025-01-01T00:00:00Z",
        "machine": {},
        "peak": {},
        "rows": rows,
        **extra,
    }


def test_append_twice_keeps_both_runs(tmp_path):
    p = tmp_path / "res.json"
    a, b = _run(), _run()
    append_run(p, a)
    append_run(p, b)
    doc = load_results(p)
    assert doc["schema"] == SCHEMA
    assert [r["id"] for r in doc["runs"]] == [a["id"], b["id"]]
    with pytest.raises(EdgesegError, match="already recorded"):
        append_run(p, a)
    # upsert replaces only the run with the same id (a run saving its own progress)
    a2 = {**a, "rows": a["rows"][:1]}
    upsert_run(p, a2)
    doc = load_results(p)
    assert len(doc["runs"]) == 2 and len(doc["runs"][0]["rows"]) == 1 and len(doc["runs"][1]["rows"]) == 2


def test_broken_or_foreign_file_is_never_overwritten(tmp_path):
    p = tmp_path / "res.json"
    p.write_text('{"schema": "edgeseg.bench/1", "runs": [')
    with pytest.raises(EdgesegError, match="not valid JSON"):
        append_run(p, _run())
    assert p.read_text() == '{"schema": "edgeseg.bench/1", "runs": ['
    p.write_text('{"hello": 1}')
    with pytest.raises(EdgesegError, match="not an edgeseg results file"):
        append_run(p, _run())
    p.write_text('{"schema": "edgeseg.bench/9", "runs": []}')
    with pytest.raises(EdgesegError, match="another edgeseg version"):
        load_results(p)


def test_validator_catches_bad_rows():
    run = _run()
    run["rows"][0]["latency_ms"]["p90"] = 10.0  # p90 > p99
    run["rows"][1]["state"] = "exploded"
    del run["peak"]
    problems = check_results({"schema": SCHEMA, "runs": [run]})
    assert any("out of order" in p for p in problems)
    assert any("unknown state" in p for p in problems)
    assert any("missing 'peak'" in p for p in problems)
    with pytest.raises(EdgesegError, match="invalid benchmark results"):
        validate_results({"schema": SCHEMA, "runs": [run]})


def test_states_and_strict_json():
    assert make_state("ok", "ignored") == "ok"
    assert make_state("failed", "worker killed by SIGSEGV") == "failed: worker killed by SIGSEGV"
    assert state_kind("export failed: boom: again") == "export failed"
    assert state_kind("skipped: no tensorrt") == "skipped"
    with pytest.raises(ValueError):
        make_state("meh")
    safe = json_safe({"a": float("nan"), "b": [float("inf"), 1.5], "c": (1, 2)})
    assert safe == {"a": None, "b": [None, 1.5], "c": [1, 2]}
    json.dumps(safe, allow_nan=False)


APPENDER = textwrap.dedent(
    """
    import sys
    from edgeseg.bench.results import append_run
    from edgeseg.bench.schema import new_run_id
    path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pad = "x" * 20000  # a bigger file widens the read-modify-write window
    for i in range(n):
        rows = [{"id": f"{tag}{i}", "artifact": "a.onnx", "state": "ok", "log": pad}]
        run = {"id": f"{tag}-{i}-" + new_run_id(), "started": "", "machine": {}, "peak": {}, "rows": rows}
        append_run(path, run)
    """
)


def test_two_processes_appending_at_once(tmp_path):
    p = tmp_path / "res.json"
    n = 15
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(p), tag, str(n)]) for tag in ("a", "b")]
    assert [q.wait(timeout=120) for q in procs] == [0, 0]
    doc = load_results(p)
    ids = [r["id"] for r in doc["runs"]]
    assert len(ids) == 2 * n
    assert sum(i.startswith("a-") for i in ids) == n and sum(i.startswith("b-") for i in ids) == n
    leftovers = [q.name for q in tmp_path.iterdir() if q.name not in ("res.json", "res.json.lock")]
    assert leftovers == []  # no temp files left behind


def test_latest_is_the_newest_finished_run(tmp_path):
    """An interrupted run (no 'finished' stamp) hid the complete run before it from ``report``."""
    from edgeseg.bench.results import iter_rows

    p = tmp_path / "res.json"
    done, cut = _run(3, finished="2025-01-01T00:10:00Z"), _run(1, finished=None)
    append_run(p, done)
    append_run(p, cut)
    doc = load_results(p)
    assert {run["id"] for run, _ in iter_rows(doc)} == {done["id"]}
    assert len(list(iter_rows(doc))) == 3
    assert len(list(iter_rows(doc, runs="all"))) == 4
    only_cut = {**doc, "runs": doc["runs"][1:]}
    assert {run["id"] for run, _ in iter_rows(only_cut)} == {cut["id"]}  # nothing finished: the newest
