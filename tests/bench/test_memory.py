"""Each row's memory is its own: planted workers that allocate, and a parent with a high peak.

Linux carries a forking parent's ``ru_maxrss`` into its children, so a figure read from it is the
parent's peak in every row. These tests raise this (parent) process's peak first: a worker that
measured ``ru_maxrss`` would report at least that for every row.
"""

from __future__ import annotations

import sys

import pytest

from edgeseg.bench.isolate import run_worker
from edgeseg.bench.matrix import matrix_from_dict

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="VmHWM and clear_refs are Linux-only"
)

PARENT_MB = 900  # this process's peak RSS before any worker starts
PLANTED_MB = 400


@pytest.fixture(scope="module")
def parent_peak():
    buf = bytearray(PARENT_MB * 2**20)
    for i in range(0, len(buf), 4096):
        buf[i] = 1  # resident now; the high-water mark stays after it is freed
    del buf
    import resource

    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 >= PARENT_MB
    return PARENT_MB


def _row(artifact, **extra):
    m = matrix_from_dict(
        {
            "name": "mem",
            "rows": [
                {
                    "id": "r",
                    "artifact": str(artifact),
                    "size": "64x96",
                    "threads": 1,
                    "warmup": 1,
                    "runs": 3,
                    "timeout": 120,
                }
            ],
        }
    )
    payload = {"mode": "row", "row": m.rows[0].to_dict(), "data": None, "progress": False, **extra}
    w = run_worker(payload, timeout=120, threads=1)
    assert w.reason is None and w.result["state"] == "ok", w.log_tail
    return w.result["memory"]


def test_a_tiny_row_reports_its_own_memory_not_the_parents(tiny_artifacts, parent_peak):
    mem = _row(tiny_artifacts["onnx"])
    assert mem["rss_source"] == "VmHWM" and mem["rss_peak_scope"] == "inference"
    assert 0 < mem["rss_loaded_mb"] <= mem["rss_peak_mb"]
    assert mem["rss_peak_mb"] < parent_peak / 2, mem  # far below the parent's peak


def test_a_row_that_allocates_400_mb_reports_at_least_that(tiny_artifacts, parent_peak):
    small = _row(tiny_artifacts["onnx"])
    big = _row(tiny_artifacts["onnx"], _alloc_mb=PLANTED_MB)
    assert big["rss_peak_mb"] >= PLANTED_MB, big
    assert big["rss_peak_mb"] - small["rss_peak_mb"] >= 0.9 * PLANTED_MB, (small, big)
    assert big["rss_peak_mb"] < parent_peak, big  # its own peak, not the parent's
    # the planted buffer is allocated after loading: the loaded figure does not contain it
    assert abs(big["rss_loaded_mb"] - small["rss_loaded_mb"]) < PLANTED_MB / 4, (small, big)


def test_two_different_artifacts_report_different_figures(tiny_artifacts, parent_peak):
    pt, onnx = _row(tiny_artifacts["pt"]), _row(tiny_artifacts["onnx"])
    assert pt["rss_peak_mb"] != onnx["rss_peak_mb"]
    assert pt["rss_loaded_mb"] != onnx["rss_loaded_mb"]
    assert max(pt["rss_peak_mb"], onnx["rss_peak_mb"]) < parent_peak
