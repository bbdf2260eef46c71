"""Fixtures for the fault tables (tiny good artifacts built once per session, a tiny finished
training run, the plant helpers) and the suite's summary line ``faults: N planted, N survived``:
every test marked ``fault_row`` that ran counts as planted, every one that passed as survived."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # so the tables can import faults_table, faults_proc and _plant
    sys.path.insert(0, str(HERE))

_COUNTS = {"planted": 0, "survived": 0, "skipped": 0}


def pytest_configure(config):
    config.addinivalue_line("markers", "fault_row(kind): one row of the issue-8 fault tables (tests/faults)")


def pytest_runtest_logreport(report):
    if "fault_row" not in report.keywords:
        return
    if report.skipped and report.when in ("setup", "call"):
        _COUNTS["skipped"] += 1
    elif report.when == "call" or (report.when == "setup" and report.failed):
        _COUNTS["planted"] += 1
        _COUNTS["survived"] += int(report.passed)


def pytest_terminal_summary(terminalreporter):
    c = _COUNTS
    if c["planted"] or c["skipped"]:
        skipped = f" ({c['skipped']} skipped, not planted here)" if c["skipped"] else ""
        terminalreporter.write_line(f"faults: {c['planted']} planted, {c['survived']} survived{skipped}")


@pytest.fixture(scope="session")
def plant(media):
    """The _plant helpers, plus the shared test-media writers of the root conftest."""
    from types import SimpleNamespace

    import _plant

    return SimpleNamespace(**vars(_plant), png_header_only=media.png_header_only)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory, plant, media):
    """Tiny good checkpoint / ONNX / dataset, shared read-only by every row."""
    return plant.build_artifacts(tmp_path_factory.mktemp("good"), write_pairs=media.write_pairs)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, plant):
    """A finished 1-epoch tiny training run (best.pt, last.pt, history.json, class_weights.json) made
    by the real CLI with ``plant.TRAIN_ARGS``; rows copy it before planting anything."""
    from edgeseg.cli import main

    out = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", *plant.TRAIN_ARGS, "--epochs", "1", "--out", str(out)]) == 0
    assert {"best.pt", "last.pt", "history.json"} <= {p.name for p in out.iterdir()}
    return out
