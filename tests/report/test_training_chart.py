"""The training curve: read from history.json (bad files refused in one line), drawn with and without val
points, and the script refuses to replace a PNG without --force."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeseg.errors import EdgesegError
from edgeseg.report.training_chart import read_history, training_curve_png

PNG = b"\x89PNG\r\n\x1a\n"


def _history(n: int = 6, *, val_every: int = 3) -> list[dict]:
    rows = []
    for e in range(1, n + 1):
        r = {"epoch": e, "loss": 1.0 / e, "lr": 1e-3 * (1 - e / (n + 1)), "time": 10.0 * e}
        if e % val_every == 0:
            r.update(val_miou=0.5 + 0.01 * e, val_pixel_accuracy=0.9)
        rows.append(r)
    return rows


@pytest.mark.parametrize("val_every", [3, 100])
def test_png(val_every: int) -> None:
    png = training_curve_png(_history(val_every=val_every), title="t", val_label="val (in training set)")
    assert png.startswith(PNG) and len(png) > 5000


def test_a_budgeted_runs_fractional_last_epoch(tmp_path: Path) -> None:
    """A ``--time`` run ends inside an epoch: its last record's epoch is fractional (e.g. 408.241)."""
    rows = _history()
    rows.append({**rows[-1], "epoch": 6.241, "val_miou": 0.6})
    p = tmp_path / "history.json"
    p.write_text(json.dumps(rows))
    assert read_history(p)[-1]["epoch"] == 6.241
    assert training_curve_png(rows, title="t", val_label="v").startswith(PNG)


@pytest.mark.parametrize(
    "text, found",
    [
        ("nope", "could not read it"),
        ("[]", "expected a list"),
        ('[{"epoch": 1}]', "expected a list"),
        ('[{"epoch": "1", "loss": 1}]', "expected a list"),
        ('[{"epoch": true, "loss": 1}]', "expected a list"),
    ],
)
def test_bad_history(tmp_path: Path, text: str, found: str) -> None:
    p = tmp_path / "history.json"
    p.write_text(text)
    with pytest.raises(EdgesegError, match=found) as e:
        read_history(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_script_force(tmp_path: Path) -> None:
    import importlib.util

    h = tmp_path / "history.json"
    h.write_text(json.dumps(_history()))
    png = tmp_path / "loss.png"
    spec = importlib.util.spec_from_file_location(
        "training_curve", Path(__file__).resolve().parents[2] / "benchmarks" / "training_curve.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([str(h), "--png", str(png)]) == 0 and png.read_bytes().startswith(PNG)
    before = png.read_bytes()
    assert mod.main([str(h), "--png", str(png)]) == 2 and png.read_bytes() == before
    assert mod.main([str(h), "--png", str(tmp_path / "x.jpg")]) == 2
    assert mod.main([str(tmp_path / "missing.json"), "--png", str(tmp_path / "y.png")]) == 2
    assert not (tmp_path / "y.png").exists()
    assert mod.main([str(h), "--png", str(png), "--force"]) == 0
