"""scripts/record_test_figures.py: test figures go into the sidecar card and the table; a recorded figure is
replaced only with --force; bad inputs stop it in one line before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeseg.card import read_sidecar


def _result(model: str, *, miou: float = 0.6, split: str = "test") -> dict:
    return {
        "model": f"edgeseg/weights/{model}",
        "dataset": f"camvid:/data/camvid [{split}]",
        "miou": miou,
        "pixel_accuracy": 0.9,
        "per_class_iou": {"Sky": 0.9},
        "frames": 233,
        "backend": "torch",
        "precision": "fp32",
    }


@pytest.fixture
def script(load_script, tmp_path: Path, camvid_card):
    mod = load_script("record_test_figures")
    mod.WEIGHTS = tmp_path / "weights"
    mod.OUT = tmp_path / "test_split.json"
    mod.WEIGHTS.mkdir()
    (mod.WEIGHTS / "cgnet_camvid.pt").write_bytes(b"weights")
    camvid_card.write_sidecar(mod.WEIGHTS / "cgnet_camvid.pt")
    return mod


def _write(tmp_path: Path, name: str, payload) -> Path:
    p = tmp_path / name
    p.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return p


def test_records_and_refuses_to_replace_without_force(script, tmp_path: Path, capsys) -> None:
    first = _write(tmp_path, "a.json", _result("cgnet_camvid.pt", miou=0.6))
    assert script.main([str(first)]) == 0
    card = read_sidecar(script.WEIGHTS / "cgnet_camvid.pt")
    assert card.metrics["test"]["fp32"]["miou"] == 0.6
    table = json.loads(script.OUT.read_text())
    assert table["models"]["cgnet_camvid"]["fp32"]["frames"] == 233

    again = _write(tmp_path, "b.json", _result("cgnet_camvid.pt", miou=0.7))
    before = script.OUT.read_bytes()
    with pytest.raises(SystemExit, match="already records a test fp32 figure .*--force"):
        script.main([str(again)])
    assert script.OUT.read_bytes() == before
    assert read_sidecar(script.WEIGHTS / "cgnet_camvid.pt").metrics["test"]["fp32"]["miou"] == 0.6
    assert script.main([str(again), "--force"]) == 0
    assert read_sidecar(script.WEIGHTS / "cgnet_camvid.pt").metrics["test"]["fp32"]["miou"] == 0.7


@pytest.mark.parametrize(
    "payload, message",
    [
        ("{not json", "could not read it"),
        ([1, 2], "expected an edgeseg eval --json result"),
        ({"model": "x"}, "expected an edgeseg eval --json result"),
        (_result("cgnet_camvid.pt", split="val"), "expected an eval of the test split"),
        (_result("cgnet_camvid.onnx"), "expected a shipped .pt or"),
        (_result("fcn_camvid.pt"), "is not a shipped model"),
    ],
)
def test_bad_input_writes_nothing(script, tmp_path: Path, payload, message: str) -> None:
    good = _write(tmp_path, "good.json", _result("cgnet_camvid.pt"))
    bad = _write(tmp_path, "bad.json", payload)
    card_before = (script.WEIGHTS / "cgnet_camvid.pt.card.json").read_bytes()
    with pytest.raises(SystemExit, match=message) as e:
        script.main([str(good), str(bad)])
    assert "\n" not in str(e.value)
    assert not script.OUT.exists()
    assert (script.WEIGHTS / "cgnet_camvid.pt.card.json").read_bytes() == card_before


def test_same_slot_twice_is_refused(script, tmp_path: Path) -> None:
    a = _write(tmp_path, "a.json", _result("cgnet_camvid.pt"))
    b = _write(tmp_path, "b.json", _result("cgnet_camvid.pt", miou=0.5))
    with pytest.raises(SystemExit, match="is also in"):
        script.main([str(a), str(b)])
    assert not script.OUT.exists()
