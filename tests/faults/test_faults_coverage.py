"""Every fault of issue 8 (rows 1..20) is planted by at least one row of the tables in tests/faults,
every row says which issue rows it covers, and row ids are unique across the tables. Rows are
found the way pytest runs them: the ``row`` parameters marked ``fault_row`` of each table's tests."""

from __future__ import annotations

import importlib.util
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ISSUE_ROWS = range(1, 21)


def fault_rows() -> list[tuple[str, str, object]]:
    """(table file, test function, row) for every parametrized fault row of test_faults*.py."""
    found = []
    for path in sorted(HERE.glob("test_faults*.py")):
        if path.name == Path(__file__).name:
            continue
        name = f"edgeseg_faults_coverage_{path.stem}"
        if name not in sys.modules:  # dataclasses look their module up in sys.modules
            spec = importlib.util.spec_from_file_location(name, path)
            sys.modules[name] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(sys.modules[name])
        mod = sys.modules[name]
        for fn in vars(mod).values():
            for mark in getattr(fn, "pytestmark", []):
                if mark.name != "parametrize" or mark.args[0] != "row":
                    continue
                for p in mark.args[1]:
                    if any(m.name == "fault_row" for m in p.marks):
                        found.append((path.name, fn.__name__, p.values[0]))
    return found


def test_every_issue_row_is_planted_and_every_row_names_its_issue_rows():
    rows = fault_rows()
    assert len(rows) > 20
    by_issue = defaultdict(list)
    for table, test, row in rows:
        assert row.issue_rows, f"{table}::{test}[{row.id}] names no issue row"
        assert set(row.issue_rows) <= set(ISSUE_ROWS), f"{row.id}: issue rows {row.issue_rows} outside 1..20"
        for n in row.issue_rows:
            by_issue[n].append(row.id)
    missing = [n for n in ISSUE_ROWS if not by_issue[n]]
    assert not missing, f"issue rows without a fault row: {missing}"
    for n in ISSUE_ROWS:
        print(f"{n:>2}: {len(by_issue[n])} row(s): {', '.join(by_issue[n])}")


def test_row_ids_are_unique_across_tables():
    ids = [row.id for _, _, row in fault_rows()]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
