"""The typed records between bench and report: every committed results row reads as a RowResult and
a ReportEntry, unknown keys survive, and the build time is read from every old spelling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeseg.bench.row import BUILD_SECONDS_KEYS, RowResult, card_build_seconds
from edgeseg.report.entry import ReportEntry

RESULTS = sorted((Path(__file__).parents[2] / "benchmarks" / "results").glob("*.json"))


def _bench_rows():
    for path in RESULTS:
        doc = json.loads(path.read_text())
        if str(doc.get("schema", "")).startswith("edgeseg.bench/"):
            for run in doc["runs"]:
                for row in run["rows"]:
                    yield path.name, run, row


def test_every_committed_row_reads_as_typed_records():
    n = 0
    for name, run, row in _bench_rows():
        r = RowResult.from_dict(row)
        d = r.to_dict()
        assert all(d[k] == v for k, v in row.items()), (name, row["id"])  # nothing lost or changed
        e = ReportEntry.from_row(r, run, name)
        assert e.id == row["id"] and e.build_s == row.get("build_s") and e.threads == row.get("threads")
        n += 1
    assert n > 100


@pytest.mark.parametrize("key", BUILD_SECONDS_KEYS)
def test_build_time_is_read_from_every_spelling(key):
    assert card_build_seconds({key: 1.5}) == 1.5
    row = {"id": "x", "state": "ok", "card": {"extra": {key: 2.0}}}
    assert RowResult.from_dict(row).build_s == 2.0
    assert RowResult.from_dict({**row, "build_s": None}).build_s is None  # the row's own value wins
    assert card_build_seconds({key: True}) is None and card_build_seconds(None) is None


def test_build_functions_write_one_spelling():
    """Every builder stamps card.extra with BUILD_SECONDS_KEYS[0] only."""
    import re

    root = Path(__file__).parents[2] / "edgeseg" / "backends"
    for path in root.rglob("*.py"):
        text = path.read_text()
        for old in BUILD_SECONDS_KEYS[1:]:
            assert not re.search(rf"[\"']{old}[\"']\s*:", text), f"{path} writes {old}"
