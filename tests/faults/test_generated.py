"""Issue 28: fault cases generated from the CLI's own declarations (``_gen_cases.py``), run in child
processes (``_gen_child.py``; a native crash costs one child, names its case, and the rest go on).

The invariant after every case: exit code 0 or 2; no traceback; on 2 the last stderr line is
``edgeseg COMMAND: error: ...``; every input's bytes unchanged; on 2 nothing new on disk; an output
that is an input is always refused; a broken input file is always refused.

The CI set crosses every output kind with every output and gives each input kind to one input per
command; ``-m slow`` crosses every input kind with every input.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import _gen_cases as G
from faults_table import REPO, child_env

HERE = Path(__file__).resolve().parent
#: Exit codes that are results, not failures: check-qdq's 1 says the model breaks TensorRT's Q/DQ rules.
RESULT_CODES = {"check-qdq": (0, 1, 2)}
MUST_REFUSE_INPUT = {"missing", "directory", "zero-byte", "random-bytes", "truncated", "another-kind"}


def _video(path: Path) -> Path:
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    for i in range(4):
        w.write(np.full((64, 96, 3), 40 * i, np.uint8))
    w.release()
    return path


def run_cases(cases: list[dict], tmp: Path, timeout: float = 900) -> dict[str, dict]:
    """Run ``cases`` in as few children as crashes allow; a case whose child died gets rc 'signal N'."""
    todo = [c for c in cases if "skip" not in c]
    spec, log = tmp / "cases.json", tmp / "results.jsonl"
    spec.write_text(json.dumps(todo))
    results: dict[str, dict] = {}
    start = 0
    while start < len(todo):
        p = subprocess.run(
            [sys.executable, str(HERE / "_gen_child.py"), str(spec), str(log), str(start)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env(),
            cwd=tmp,
        )
        started = None
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            if "done" in rec:
                results[rec["id"]] = rec
                started = None
            else:
                started = rec
        if p.returncode == 0 or started is None:
            break
        results[started["id"]] = {
            "id": started["id"],
            "rc": f"signal {-p.returncode}",
            "stderr": p.stderr[-2000:],
            "new_files": [],
        }
        start = started["start"] + 1
    return results


def violations(case: dict, res: dict) -> list[str]:
    """What ``res`` breaks of the invariant (empty: the case is fine)."""
    bad = []
    rc, err = res.get("rc"), res.get("stderr", "")
    if case["side"] == "baseline" and rc not in [
        c for c in RESULT_CODES.get(case["command"], (0,)) if c != 2
    ]:
        bad.append(f"the good baseline failed (exit {rc}): {err.strip().splitlines()[-1:]!r}")
    if rc not in RESULT_CODES.get(case["command"], (0, 2)):
        bad.append(f"exit code {rc}")
    if "Traceback" in err:
        bad.append("traceback: " + err.strip().splitlines()[-1][:200])
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    if rc == 2:
        if not lines or not lines[-1].startswith(f"edgeseg {case['command']}: error:"):
            bad.append(f"last stderr line is not one error line: {lines[-1:]!r}")
        if res.get("new_files"):
            bad.append(f"left output behind: {res['new_files'][:3]}")
    for path, digest in case["inputs"].items():
        p = Path(path)
        if not p.is_file() or hashlib.sha256(p.read_bytes()).hexdigest() != digest:
            bad.append(f"input changed: {path}")
    if case["side"] == "output" and case["kind"] in ("is-an-input", "hard-link-to-an-input") and rc != 2:
        bad.append("an output that is an input was not refused")
    if case["side"] == "input" and case["kind"] in MUST_REFUSE_INPUT and rc != 2:
        bad.append(f"a {case['kind']} input was not refused (exit {rc})")
    return bad


def _layer_cost(ckpt: Path, path: Path) -> Path:
    """A layer-cost JSON (``quantize --layer-cost FILE.json``) of ``ckpt``'s units: the FLOPs estimate in
    the measured file's format (the cases break the file, not the numbers)."""
    from edgeseg.quant.layer_cost import flops_table
    from edgeseg.quant.placement import prepare
    from edgeseg.train.checkpoint import load_checkpoint

    model, card, _ = load_checkpoint(ckpt)
    x = np.zeros((1, 3, *card.input_size), np.float32)
    path.write_text(json.dumps(flops_table(prepare(model)[0], x)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fields(tmp_path_factory, artifacts, trained):
    root = tmp_path_factory.mktemp("gen_inputs")
    results = root / "results.json"
    shutil.copyfile(REPO / "benchmarks" / "results" / "cgnet_cpu.json", results)
    last = root / "last.pt"
    shutil.copyfile(trained / "last.pt", last)
    f = {
        "ckpt": str(artifacts.ckpt),
        "onnx": str(artifacts.onnx),
        "camvid": str(artifacts.camvid),
        "image": str(artifacts.image),
        "video": str(_video(root / "clip.avi")),
        "results": str(results),
        "last": str(last),
        "layer_cost": str(_layer_cost(artifacts.ckpt, root / "layer_cost.json")),
    }
    others = {"image": artifacts.image, "results": results}
    return f, others


def _run_and_check(full: bool, tmp_path: Path, fields) -> None:
    f, others = fields
    cases = [
        G.materialize(c, root=tmp_path / "cases", fields=f, others=others) for c in G.generate(full=full)
    ]
    assert {c["baseline"] for c in cases} == set(G.BASELINES)
    results = run_cases(cases, tmp_path)
    report = []
    for case in cases:
        if "skip" in case:
            continue
        res = results.get(case["id"])
        if res is None:
            report.append(f"{case['id']}: never ran")
            continue
        report += [f"{case['id']}: {v}" for v in violations(case, res)]
    ran = sum(1 for c in cases if "skip" not in c)
    print(f"generated fault cases: {ran} run, {len(report)} violations")
    slowest = sorted(results.values(), key=lambda r: -float(r.get("seconds") or 0))[:8]
    print("slowest: " + ", ".join(f"{r['id']} {r.get('seconds')}s" for r in slowest))
    assert not report, "\n".join(report)


def test_generated_cases_every_command_every_kind(tmp_path, fields):
    _run_and_check(False, tmp_path, fields)


@pytest.mark.slow
def test_generated_cases_full_product(tmp_path, fields):
    _run_and_check(True, tmp_path, fields)


def test_the_generator_covers_every_declared_command_and_output():
    """A command added to the CLI with outputs but no baseline is a gap: fail until it has one."""
    import importlib

    from edgeseg.cli import COMMANDS

    skip = {
        "doctor",
        "models",
        "demo",
        "trt-check",
        "bench",
    }  # no input files to break / covered by their own tables
    covered = {G.command_of(key) for key in G.BASELINES}
    missing = [c for c in COMMANDS if c not in covered and c not in skip]
    assert not missing, f"commands without a generated-fault baseline: {missing}"
    for key, argv in G.BASELINES.items():
        command = G.command_of(key)
        assert argv[0] == command, f"BASELINES[{key!r}] runs {argv[0]!r}"
        io = importlib.import_module(COMMANDS[command]).IO
        pos = G.dest_positions(command, argv)
        optional = {"quantize": {"save_checkpoint"}}.get(
            command, set()
        )  # QAT only: a QAT baseline would train
        outs = [d for d in (*io.files, *io.folders) if d not in pos and d not in optional]
        assert not outs, f"{key}: declared outputs its baseline does not set: {outs}"
    ids = [c["id"] for c in G.generate(full=True)]
    assert len(ids) == len(set(ids))
    assert {i for i in ids if i.startswith("build+max-drop:model:")} == {
        f"build+max-drop:model:{k}" for k in G.INPUT_KINDS
    }  # the mixed build's checkpoint gets every bad kind
    assert {i for i in ids if i.startswith("build+max-drop:layer_cost:")} == {
        f"build+max-drop:layer_cost:{k}" for k in G.INPUT_KINDS
    }  # and so does its --layer-cost FILE.json
