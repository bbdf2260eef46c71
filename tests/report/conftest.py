"""Report tests build their own rows: the shipped models' recorded test figures (which the
params-vs-mIoU chart draws for rows of the same model and training) are switched off here, except in
the tests that ask for them (``tests/report/test_split_points.py``)."""

import pytest


@pytest.fixture(autouse=True)
def _no_shipped_test_points(request, monkeypatch):
    if "shipped_points" in request.keywords:
        return
    import edgeseg.report.split_points as sp

    monkeypatch.setattr(sp, "shipped_test_points", lambda: {})
