"""The default PTQ (mse ranges + sequential bias correction) is what the card records, and PTQ
reports its val accuracy: FP32 and INT8 mIoU with a QAT hint when INT8 loses more than 0.5 point."""

from __future__ import annotations

import pytest

from edgeseg.card import card_from_onnx
from edgeseg.errors import QuantizationError, UnsupportedOptionError
from edgeseg.quant.compare import MAX_PTQ_DROP, drop_warning


def _quantize(ckpt, calib_dir, out, **kw):
    from edgeseg.quant import quantize

    lines: list[str] = []
    quantize(ckpt, calib=str(calib_dir), output=out, progress=False, log=lines.append, **kw)
    return lines


def test_default_ptq_is_recorded_in_the_card(trained_ckpt, calib_dir, tmp_path):
    out = tmp_path / "default.onnx"
    lines = _quantize(trained_ckpt, calib_dir, out)
    card = card_from_onnx(out)
    assert card.calibration["method"] == "mse" and card.calibration["bias_correction"] == "sequential"
    q = card.extra["quantization"]
    assert q["calibration_method"] == "mse" and q["bias_correction"] == "sequential" and "val" not in q
    assert any(line.startswith("accuracy loss not measured: pass --val-data") for line in lines)
    assert "calibration mse, bias correction sequential" in lines[-1]


def test_bias_correction_choice_is_recorded_and_qat_refuses_it(trained_ckpt, calib_dir, tmp_path):
    out = tmp_path / "none.onnx"
    _quantize(trained_ckpt, calib_dir, out, calib_method="entropy", bias_correction="none")
    card = card_from_onnx(out)
    assert card.calibration["method"] == "entropy" and card.calibration["bias_correction"] == "none"
    with pytest.raises(QuantizationError, match="bias correction 'slow'"):
        _quantize(trained_ckpt, calib_dir, tmp_path / "x.onnx", bias_correction="slow")
    with pytest.raises(UnsupportedOptionError, match="quantize method qat does not take bias_correction"):
        _quantize(
            trained_ckpt,
            calib_dir,
            tmp_path / "x.onnx",
            method="qat",
            data="synthetic:2",
            bias_correction="fast",
        )
    assert not (tmp_path / "x.onnx").exists()


def test_ptq_with_val_data_prints_both_mious(trained_ckpt, calib_dir, tmp_path):
    out = tmp_path / "val.onnx"
    lines = _quantize(trained_ckpt, calib_dir, out, val_data="synthetic:3")
    row = next(line for line in lines if line.startswith("val mIoU on synthetic:3 [val]: FP32 "))
    assert "INT8 " in row and "(fake-quant model)" in row
    val = card_from_onnx(out).extra["quantization"]["val"]
    assert val["data"] == "synthetic:3" and 0 <= val["int8_miou"] <= 1 and 0 <= val["fp32_miou"] <= 1


@pytest.mark.parametrize("int8, warned", [(0.590, True), (0.598, False)])
def test_drop_warning_suggests_qat_only_above_the_threshold(
    trained_ckpt, calib_dir, tmp_path, monkeypatch, int8, warned
):
    import edgeseg.quant.compare as compare

    monkeypatch.setattr(compare, "_eval", lambda *a, precision, **k: 0.600 if precision == "fp32" else int8)
    out = tmp_path / "w.onnx"
    lines = _quantize(trained_ckpt, calib_dir, out, val_data="synthetic:2", bias_correction="none")
    assert (
        f"FP32 60.00%, INT8 {100 * int8:.2f}% (fake-quant model), {100 * (int8 - 0.6):+.2f} points"
        in "\n".join(lines)
    )
    hint = [line for line in lines if line.startswith("WARNING: PTQ lost")]
    assert bool(hint) is warned
    if warned:
        assert "1.00 mIoU points" in hint[0] and "more than 0.5" in hint[0] and "--method qat" in hint[0]
    assert card_from_onnx(out).extra["quantization"]["val"]["int8_miou"] == int8


def test_drop_warning_threshold():
    assert MAX_PTQ_DROP == 0.5
    assert drop_warning(0.62, 0.615) is None  # exactly 0.5 point: not more than the threshold
    assert drop_warning(0.62, 0.6149) is not None
    assert drop_warning(0.62, 0.64) is None
    assert drop_warning(0.62, 0.60, max_drop=3.0) is None
