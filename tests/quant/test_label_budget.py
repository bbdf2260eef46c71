"""``--drop-reference labels``: the budget in points of label mIoU (FP32's minus INT8's, against the ground
truth), the arithmetic and the CLI; the search on the planted model is in ``test_sensitivity``."""

from __future__ import annotations

import numpy as np
import pytest

from edgeseg.errors import QuantizationError
from edgeseg.quant.fallback_search import Budget
from edgeseg.quant.label_budget import LabelDrop, make_scorer


def test_label_drop_is_fp32_minus_int8_and_leaves_ignored_pixels_out():
    gt = np.array([[[0, 0, 1, 1, 255, 255]]], dtype=np.uint8)
    fp32 = np.array([[[0, 0, 1, 0, 1, 1]]], dtype=np.uint8)  # one class-1 pixel wrong; ignored ones anything
    int8 = np.array([[[0, 1, 1, 0, 0, 0]]], dtype=np.uint8)  # one more pixel wrong
    score = make_scorer(fp32, num_classes=2, reference="labels", labels=gt, ignore_index=255)
    d = score(int8)
    assert isinstance(d, LabelDrop)
    # FP32: class 0 IoU 2/3, class 1 IoU 1/2; INT8: class 0 1/3, class 1 1/3
    assert d.fp32_miou == pytest.approx((2 / 3 + 1 / 2) / 2) and d.miou == pytest.approx(1 / 3)
    assert d.drop() == pytest.approx(100 * ((2 / 3 + 1 / 2) / 2 - 1 / 3))
    assert d.class_drops(min_pixels=1) == pytest.approx({0: 100 / 3, 1: 100 / 6})
    assert d.class_drops(min_pixels=3) == {}  # 2 labelled pixels per class: no per-class budget
    assert score(fp32).drop() == 0.0
    assert score(gt.clip(0, 1)).drop() < 0  # better than FP32 on these frames: a negative drop


def test_labels_reference_needs_labelled_pixels():
    fp32 = np.zeros((1, 2, 2), np.uint8)
    with pytest.raises(QuantizationError, match="needs the frames' label maps"):
        make_scorer(fp32, num_classes=2, reference="labels")
    with pytest.raises(QuantizationError, match="no labelled pixel"):
        make_scorer(fp32, num_classes=2, reference="labels", labels=np.full((1, 2, 2), 255, np.uint8))
    with pytest.raises(QuantizationError, match="--drop-reference: expected one of fp32, labels, found 'gt'"):
        Budget(max_drop=1.0, reference="gt")


def test_quantize_cli_with_labels_reference_records_it(trained_ckpt, calib_dir, tmp_path, monkeypatch):
    from edgeseg.card import card_from_onnx
    from edgeseg.cli import main

    monkeypatch.setenv("EDGESEG_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "mixed_int8.onnx"
    argv = ["quantize", str(trained_ckpt), "--calib", str(calib_dir), "--calib-num", "4", "-o", str(out)]
    argv += ["--val-data", "synthetic:8", "--max-drop", "0.5", "--class-drop", "10", "--drop-reference"]
    argv += ["labels", "--sensitivity-frames", "4", "--budget-frames", "8", "--bias-correction", "none"]
    argv += ["--no-progress"]
    assert main(argv) == 0
    mixed = card_from_onnx(out).extra["quantization"]["mixed"]
    assert mixed["budget"]["drop_reference"] == "labels"
    assert mixed["budget"]["reference"].startswith("label mIoU")
    assert {"label_miou", "fp32_label_miou"} <= set(mixed["int8"])
    assert mixed["budget_met"] and mixed["mixed"]["drop"] <= 0.5
    assert (mixed["frames"], mixed["sensitivity_frames"]) == (8, 4)  # checked on 8, ranked on 4
