"""scripts/ship_weights.py: the shipped copy drops optimizer state, records the route, loads, and refuses
checkpoints that say nothing about how they were trained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from edgeseg.models import build_model
from edgeseg.train.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint


def _trained(
    tmp_path: Path, card, *, command: str | None = "edgeseg train --model cgnet", val: float | None = 0.6
):
    model = build_model("cgnet", num_classes=11, m=2, n=3)
    card = card.replace(
        training={"command": command} if command else {}, metrics={"val_miou": val} if val else {}
    )
    opt = torch.optim.Adam(model.parameters())
    return save_checkpoint(tmp_path / "final.pt", model=model, card=card, optimizer=opt, epoch=7), model


@pytest.mark.parametrize("half", [False, True])
def test_shipped_copy(load_script, tmp_path: Path, camvid_card, half: bool) -> None:
    src, model = _trained(tmp_path, camvid_card)
    before = src.read_bytes()
    (tmp_path / "w").mkdir()
    dst = load_script("ship_weights").ship(
        src, route="CPU: 2h30m", note="alone", half=half, dest_dir=tmp_path / "w", name=None
    )
    assert dst == tmp_path / "w" / "cgnet_camvid.pt" and src.read_bytes() == before
    raw = read_checkpoint(dst)
    assert "optimizer" not in raw and "scheduler" not in raw
    dtypes = {v.dtype for v in raw["model"].values() if v.is_floating_point()}
    assert dtypes == ({torch.float16} if half else {torch.float32})
    loaded, card, _ = load_checkpoint(dst)
    assert card.training == {"command": "edgeseg train --model cgnet", "route": "CPU: 2h30m", "note": "alone"}
    sidecar = json.loads((dst.parent / (dst.name + ".card.json")).read_text())
    assert sidecar["training"]["route"] == "CPU: 2h30m"
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        ref, out = model.eval()(x), loaded(x)
    torch.testing.assert_close(out, ref, atol=5e-2 if half else 1e-6, rtol=0)


@pytest.mark.parametrize(
    "command,val,match", [(None, 0.6, "no training command"), ("edgeseg train", None, "no val_miou")]
)
def test_refuses_undocumented_checkpoints(
    load_script, tmp_path: Path, camvid_card, command, val, match
) -> None:
    src, _ = _trained(tmp_path, camvid_card, command=command, val=val)
    with pytest.raises(SystemExit, match=match):
        load_script("ship_weights").ship(
            src, route="r", note=None, half=False, dest_dir=tmp_path / "w", name=None
        )
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").iterdir())


def test_cli_one_line_error_for_a_missing_folder(load_script, tmp_path: Path, camvid_card, capsys) -> None:
    src, _ = _trained(tmp_path, camvid_card)
    assert load_script("ship_weights").main([str(src), "--route", "r", "--dest", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: output folder") and "nope" in err and "\n" not in err
    assert not (tmp_path / "nope").exists()


def test_replacing_a_shipped_model_needs_force(load_script, tmp_path: Path, camvid_card) -> None:
    src, _ = _trained(tmp_path, camvid_card)
    (tmp_path / "w").mkdir()
    shipped = tmp_path / "w" / "cgnet_camvid.pt"
    shipped.write_bytes(b"the model shipped before")
    mod = load_script("ship_weights")
    with pytest.raises(SystemExit, match="exists .*--force replaces it"):
        mod.ship(src, route="r", note=None, half=False, dest_dir=tmp_path / "w", name=None)
    with pytest.raises(SystemExit, match="exists .*--force replaces it"):
        mod.ship(src, route="r", note=None, half=False, dest_dir=tmp_path / "w", name="cgnet_camvid.pt")
    assert shipped.read_bytes() == b"the model shipped before"
    assert mod.main([str(src), "--route", "r", "--dest", str(tmp_path / "w"), "--force"]) == 0
    assert load_checkpoint(shipped)[1].training["route"] == "r"
