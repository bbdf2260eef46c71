"""Measuring an INT8 fake-quant model on val while quantizing: the request (``ValCheck``), the log
lines and the card's record of it (``card.extra["quantization"]["val"]``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class ValCheck:
    """Measure FP32 and INT8 mIoU on ``data`` (a dataset spec; default None: not measured), its
    ``split`` (default "val"), at most ``max_frames`` (default None: all); PTQ warns when INT8 loses
    more than ``max_drop`` points (default None: ``compare.MAX_PTQ_DROP``, 0.5)."""

    data: str | None = None
    split: str = "val"
    max_frames: int | None = None
    max_drop: float | None = None


def val_record(measured: dict, *, check: ValCheck) -> dict[str, Any]:
    """The card's record of a val measurement ({"fp32": mIoU, "int8": mIoU})."""
    return {
        "data": check.data,
        "split": check.split,
        "max_frames": check.max_frames,
        "fp32_miou": round(float(measured["fp32"]), 6),
        "int8_miou": round(float(measured["int8"]), 6),
        "evaluator": "fake-quant model (PyTorch)",
    }


def report_ptq_drop(
    measured: dict | None, *, check: ValCheck, log: Callable[[str], None]
) -> dict[str, Any] | None:
    """Log the PTQ val measurement (and the QAT hint when the drop is large); the card's record of it."""
    from edgeseg.quant.compare import MAX_PTQ_DROP, drop_warning

    if measured is None:
        log("accuracy loss not measured: pass --val-data SPEC to compare FP32 and INT8 mIoU on its val split")
        return None
    fp, q = measured["fp32"], measured["int8"]
    log(
        f"val mIoU on {check.data} [{check.split}]: FP32 {100 * fp:.2f}%, INT8 {100 * q:.2f}% "
        f"(fake-quant model), {100 * (q - fp):+.2f} points"
    )
    warning = drop_warning(fp, q, max_drop=MAX_PTQ_DROP if check.max_drop is None else check.max_drop)
    if warning:
        log(warning)
    return val_record(measured, check=check)


def measure(
    qmodel, model, card, *, check: ValCheck, progress: bool, device, after: str | None = None
) -> dict[str, float]:
    """FP32 and INT8 (fake-quant) mIoU on ``check``'s data ({"fp32", "int8", "drop"})."""
    from edgeseg.data.datasets import open_dataset
    from edgeseg.quant.compare import measure_drop

    val = open_dataset(check.data, check.split, size=tuple(card.input_size))
    return measure_drop(
        qmodel.eval() if after else qmodel,
        model.to(device),
        card,
        val,
        max_frames=check.max_frames,
        progress=progress,
        device=device,
    )


def report_qat(measured: dict, *, check: ValCheck, log: Callable[[str], None]) -> dict[str, Any]:
    """Log the QAT model's val measurement; the card's record of it."""
    m = measured
    log(
        f"val mIoU on {check.data} [{check.split}] after QAT: FP32 {100 * m['fp32']:.2f}%, "
        f"INT8 {100 * m['int8']:.2f}% (fake-quant model), {100 * (m['int8'] - m['fp32']):+.2f} points"
    )
    return {**val_record(m, check=check), "after": "qat"}
