"""Issue 8, fault table 4: TOLERATED faults (issue rows 6, 7, 20). The fault is planted, the real
CLI runs (in this process) and must SUCCEED while saying what it did about the fault: frames of
another size resized with one warning, out-of-range label ids counted as ignore when asked to, a
class missing from the evaluation set reported as absent and kept out of the mean IoU."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest

from faults_table import params, run_cli, work_dir


@dataclass(frozen=True)
class ToleratedRow:
    id: str
    plant: Callable  # (work, artifacts, plant) -> argv
    issue_rows: tuple[int, ...]
    check: Callable  # (work, result: SimpleNamespace(out, err, warnings)) -> None


# ---- 6. calibration frames of other sizes: resized per the card, ONE warning -------------------------


def plant_calib_other_sizes(tmp, a, P):
    import cv2

    (tmp / "calib").mkdir()
    for i, (h, w) in enumerate([(48, 64), (40, 60), (120, 90), (48, 64)]):
        cv2.imwrite(str(tmp / "calib" / f"c{i}.png"), np.full((h, w, 3), 40 * i, np.uint8))
    return [
        "quantize",
        str(a.ckpt),
        "--method",
        "ptq",
        "--calib",
        str(tmp / "calib"),
        "--calib-batch",
        "2",
        "--device",
        "cpu",
        "-o",
        str(tmp / "q.onnx"),
        "--no-progress",
    ]


def check_calib_other_sizes(tmp, r):
    resized = [w for w in r.warnings if "resized" in w]
    assert len(resized) == 1, r.warnings
    assert re.search(r"calibration frames are resized to 96x64 \(first: \S*c0\.png is 64x48\)", resized[0]), (
        resized[0]
    )
    assert (tmp / "q.onnx").is_file()


# ---- 7. label ids outside the classes with --bad-labels ignore: counted, not silent -------------------


def plant_labels_out_of_range_ignored(tmp, a, P):
    import cv2

    root = tmp / "camvid"
    shutil.copytree(a.camvid, root)
    lab = cv2.imread(str(root / "valannot" / "f001.png"), cv2.IMREAD_UNCHANGED)
    lab[:5, :7] = 40  # 35 pixels of a class id the dataset does not have
    cv2.imwrite(str(root / "valannot" / "f001.png"), lab)
    return ["eval", str(a.ckpt), "--data", f"camvid:{root}", "--bad-labels", "ignore", "--no-progress"]


def check_labels_out_of_range_ignored(tmp, r):
    assert "note: 35 label pixels outside the classes were counted as ignore" in r.out, r.out


# ---- 20. a class absent from the evaluation set --------------------------------------------------------


def plant_eval_class_absent(tmp, a, P):
    import cv2

    root = tmp / "camvid"
    shutil.copytree(a.camvid, root)
    for lab_path in (root / "valannot").iterdir():  # only Sky (0) and Road (3) are labelled
        lab = cv2.imread(str(lab_path), cv2.IMREAD_UNCHANGED)
        lab[(lab != 0) & (lab != 11)] = 3
        cv2.imwrite(str(lab_path), lab)
    return ["eval", str(a.ckpt), "--data", f"camvid:{root}", "--json", str(tmp / "m.json"), "--no-progress"]


def check_eval_class_absent(tmp, r):
    m = json.loads((tmp / "m.json").read_text())
    names = list(m["per_class_iou"])
    cm = np.array(m["confusion_matrix"])
    present = cm.sum(1) > 0
    assert [n for n, p in zip(names, present) if p] == ["Sky", "Road"]
    predicted_absent = [n for n, p, col in zip(names, present, cm.sum(0)) if not p and col > 0]
    assert predicted_absent, "plant: the model predicts no absent class, so this row would test nothing"
    for name, p in zip(names, present):
        if not p:
            assert m["per_class_iou"][name] is None, (name, m["per_class_iou"][name])
            assert re.search(rf"^{name}\s+absent$", r.out, re.M), r.out
    tp = np.diag(cm)
    iou = {n: tp[i] / (cm[i].sum() + cm[:, i].sum() - tp[i]) for i, n in enumerate(names) if present[i]}
    assert m["per_class_iou"]["Sky"] == pytest.approx(iou["Sky"]) and m["per_class_iou"][
        "Road"
    ] == pytest.approx(iou["Road"])
    assert m["miou"] == pytest.approx(
        (iou["Sky"] + iou["Road"]) / 2
    )  # absent classes are neither 0 nor NaN in it
    assert re.search(rf"^mIoU\s+{100 * m['miou']:.2f}%$", r.out, re.M), r.out


ROWS = [
    ToleratedRow(
        "quantize-calib-frames-of-other-sizes", plant_calib_other_sizes, (6,), check_calib_other_sizes
    ),
    ToleratedRow(
        "eval-labels-out-of-range-counted-as-ignore",
        plant_labels_out_of_range_ignored,
        (7,),
        check_labels_out_of_range_ignored,
    ),
    ToleratedRow("eval-class-absent-from-eval-set", plant_eval_class_absent, (20,), check_eval_class_absent),
]


@pytest.mark.parametrize("row", params(ROWS, kind="tolerated"))
def test_tolerated(row: ToleratedRow, tmp_path, artifacts, plant, capsys, monkeypatch):
    work = work_dir(tmp_path, monkeypatch)
    argv = [str(x) for x in row.plant(work, artifacts, plant)]
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # every warning the command emits, not once per location
        code, out, err = run_cli(argv, child=False, capsys=capsys)
    assert code == 0, err
    assert "Traceback" not in err and "error:" not in err, err
    row.check(work, SimpleNamespace(out=out, err=err, warnings=[str(w.message) for w in caught]))
    assert not [p.name for p in Path(work).rglob(".*")], "temp files left behind"
