"""scripts/pack_camvid.py: the packed copy opens as camvid:, labels unchanged, frames close, and bad input
leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeseg.data.datasets import camvid
from edgeseg.errors import DataError


def test_packed_copy_opens_with_the_same_labels_and_close_frames(
    load_script, tiny_camvid: Path, tmp_path: Path
) -> None:
    out = tmp_path / "packed"
    r = load_script("pack_camvid").pack(tiny_camvid, out, quality=95)
    assert r["frames"] == 8
    assert sorted(p.name for p in out.iterdir()) == [
        "train",
        "train.txt",
        "trainannot",
        "val",
        "val.txt",
        "valannot",
    ]
    for split in ("train", "val", "trainval"):
        orig, packed = camvid(tiny_camvid, split), camvid(out, split)
        assert len(orig) == len(packed)
        for i in range(len(orig)):
            (img0, lab0), (img1, lab1) = orig[i], packed[i]
            assert packed.pairs[i][0].suffix == ".jpg"
            np.testing.assert_array_equal(lab0, lab1)
            assert img0.shape == img1.shape
            err = np.abs(img0.astype(np.int16) - img1.astype(np.int16))
            # the frames carry +-20 noise per pixel (JPEG's worst case); CamVid's own error is 1.6 levels
            assert err.mean() < 12.0 and err.mean() == pytest.approx(r["mean_abs_err"], abs=2.0)


def test_lower_quality_is_smaller_and_further(load_script, tiny_camvid: Path, tmp_path: Path) -> None:
    hi = load_script("pack_camvid").pack(tiny_camvid, tmp_path / "hi", quality=95)
    lo = load_script("pack_camvid").pack(tiny_camvid, tmp_path / "lo", quality=20)
    assert lo["mib"] < hi["mib"] and lo["mean_abs_err"] > hi["mean_abs_err"]


def test_existing_output_is_refused_and_kept(load_script, tiny_camvid: Path, tmp_path: Path) -> None:
    out = tmp_path / "packed"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="already exists"):
        load_script("pack_camvid").pack(tiny_camvid, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_broken_list_fails_before_any_output(load_script, tiny_camvid: Path, tmp_path: Path) -> None:
    (tiny_camvid / "val.txt").write_text("val/missing.png valannot/missing.png\n")
    with pytest.raises(DataError, match="file not found"):
        load_script("pack_camvid").pack(tiny_camvid, tmp_path / "sub" / "packed")
    assert not (tmp_path / "sub").exists()


def test_unreadable_frame_mid_run_leaves_no_partial_folder(
    load_script, tiny_camvid: Path, tmp_path: Path
) -> None:
    (tiny_camvid / "val" / "f001.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="not a readable image"):
        load_script("pack_camvid").pack(tiny_camvid, tmp_path / "packed")
    assert not (tmp_path / "packed").exists()
    assert not any(p.name.startswith(".packed.") for p in tmp_path.iterdir())


def test_cli_prints_one_line_error(load_script, tiny_camvid: Path, tmp_path: Path, capsys) -> None:
    assert (
        load_script("pack_camvid").main([str(tiny_camvid), "-o", str(tmp_path / "p"), "--quality", "0"]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --quality") and "\n" not in err
