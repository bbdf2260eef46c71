"""CalibrationSet: sources, order, subset, batching, resize warning, fingerprint, errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from edgeseg.data.calib import CalibrationSet
from edgeseg.data.preprocess import preprocess
from edgeseg.errors import DataError


def _write(folder: Path, n: int, size=(48, 64), seed=0, prefix="f") -> list[Path]:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = folder / f"{prefix}{i:02d}.png"
        cv2.imwrite(str(p), rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        out.append(p)
    return out


def test_folder_sorted_and_batched(tmp_path, camvid_card):
    files = _write(tmp_path / "imgs", 7)
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")
    cs = CalibrationSet(tmp_path / "imgs", camvid_card, batch=3)
    assert len(cs) == 7 and cs.paths() == sorted(files)
    batches = list(cs.batches())
    assert [b.shape for b in batches] == [(3, 3, 48, 64), (3, 3, 48, 64), (1, 3, 48, 64)]  # last partial kept
    assert all(b.dtype == np.float32 for b in batches)
    import cv2

    expected = preprocess([cv2.imread(str(files[3]))], camvid_card)[0]
    np.testing.assert_array_equal(batches[1][0], expected)
    # exhaustion then a fresh pass gives the same data
    again = list(cs.batches())
    assert len(again) == 3 and all(np.array_equal(a, b) for a, b in zip(batches, again))
    assert cs.num_batches() == 3


def test_list_file_images_and_pairs(tmp_path, camvid_card):
    files = _write(tmp_path / "data" / "img", 4)
    lst = tmp_path / "data" / "calib.txt"
    lst.write_text("# calibration frames\nimg/f02.png\n\nimg/f00.png labels/ignored.png\nimg/f03.png\n")
    cs = CalibrationSet(lst, camvid_card)
    assert cs.paths() == [files[2].resolve(), files[0].resolve(), files[3].resolve()]  # list order kept


@pytest.mark.parametrize("line", ["../outside.png", "/etc/passwd"])
def test_list_paths_must_stay_inside(tmp_path, camvid_card, line):
    _write(tmp_path, 1, prefix="outside")
    (tmp_path / "data").mkdir()
    lst = tmp_path / "data" / "calib.txt"
    lst.write_text(line + "\n")
    with pytest.raises(DataError, match="calib.txt:1"):
        CalibrationSet(lst, camvid_card)


def test_subset_evenly_spaced_and_seeded(tmp_path, camvid_card):
    files = _write(tmp_path / "imgs", 10, size=(8, 8))
    cs = CalibrationSet(tmp_path / "imgs", camvid_card, num=4)
    assert [files.index(p) for p in cs.paths()] == [0, 2, 5, 7]
    other = CalibrationSet(tmp_path / "imgs", camvid_card, num=4, seed=3)
    idx = [files.index(p) for p in other.paths()]
    assert len(idx) == 4 and idx == sorted(idx) and idx != [0, 2, 5, 7]
    assert (
        other.paths() == CalibrationSet(tmp_path / "imgs", camvid_card, num=4, seed=3).paths()
    )  # deterministic


def test_resize_warns_once(tmp_path, camvid_card):
    _write(tmp_path / "imgs", 3, size=(30, 40))
    cs = CalibrationSet(tmp_path / "imgs", camvid_card, batch=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = list(cs.batches())
        list(cs.batches())
    msgs = [str(w.message) for w in caught if "resized" in str(w.message)]
    assert len(msgs) == 1 and "64x48" in msgs[0] and "40x30" in msgs[0]
    assert all(b.shape == (1, 3, 48, 64) for b in batches)


def test_no_warning_when_sizes_match(tmp_path, camvid_card):
    _write(tmp_path / "imgs", 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(CalibrationSet(tmp_path / "imgs", camvid_card).batches())


def test_fingerprint_changes_with_frames_and_preprocessing(tmp_path, camvid_card):
    import cv2

    files = _write(tmp_path / "imgs", 3)
    fp = CalibrationSet(tmp_path / "imgs", camvid_card).fingerprint()
    assert fp == CalibrationSet(tmp_path / "imgs", camvid_card).fingerprint() and len(fp) == 64
    assert CalibrationSet(tmp_path / "imgs", camvid_card.replace(mean=(0.0, 0.0, 0.0))).fingerprint() != fp
    assert CalibrationSet(tmp_path / "imgs", camvid_card.replace(channel_order="BGR")).fingerprint() != fp
    assert CalibrationSet(tmp_path / "imgs", camvid_card, size=(32, 32)).fingerprint() != fp
    assert CalibrationSet(tmp_path / "imgs", camvid_card, batch=2).fingerprint() != fp
    assert CalibrationSet(tmp_path / "imgs", camvid_card, num=2).fingerprint() != fp
    img = cv2.imread(str(files[1]))
    img[0, 0] = 255 - img[0, 0]
    cv2.imwrite(str(files[1]), img)
    assert CalibrationSet(tmp_path / "imgs", camvid_card).fingerprint() != fp


def test_dataset_spec(camvid_card):
    cs = CalibrationSet("synthetic:5", camvid_card, num=3, batch=2)
    assert len(cs) == 3 and cs.paths() == []
    shapes = [b.shape for b in cs.batches()]
    assert shapes == [(2, 3, 48, 64), (1, 3, 48, 64)]
    fp = cs.fingerprint()
    assert fp == CalibrationSet("synthetic:5", camvid_card, num=3, batch=2).fingerprint()
    assert fp != CalibrationSet("synthetic:6", camvid_card, num=3, batch=2).fingerprint()


def test_camvid_spec_uses_files(tiny_camvid, camvid_card):
    cs = CalibrationSet(f"camvid:{tiny_camvid}", camvid_card, num=4)
    assert len(cs) == 4 and all(p.suffix == ".png" and "train" in p.parts for p in cs.paths())


def test_errors_name_the_source(tmp_path, camvid_card):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="has no images"):
        CalibrationSet(tmp_path / "empty", camvid_card)
    with pytest.raises(DataError, match="not found"):
        CalibrationSet(tmp_path / "missing", camvid_card)
    lst = tmp_path / "empty.txt"
    lst.write_text("# nothing\n")
    with pytest.raises(DataError, match="empty"):
        CalibrationSet(lst, camvid_card)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match="broken.png"):
        CalibrationSet(bad, camvid_card)
    with pytest.raises(DataError, match="num must be >= 1"):
        CalibrationSet("synthetic:2", camvid_card, num=0)
