"""Our CamVid **test** figures for the params-vs-mIoU chart, so our points stand beside the published
test points like with like.

They come from the sidecar cards of the shipped models (``metrics["test"]``, written once by
``scripts/record_test_figures.py`` from ``edgeseg eval --split test``): the FP32 checkpoint and its QAT
INT8 ONNX (ONNX Runtime). A report row gets them only when it is the same model trained the same way
(architecture and training label equal to the shipped card's), so a row of another checkpoint keeps its
own (val) figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from edgeseg.errors import EdgesegError

if TYPE_CHECKING:
    from edgeseg.report.entry import ReportEntry


@dataclass(frozen=True)
class HeldOutPoint:
    """A shipped model's test mIoU (0-1) as FP32 and as QAT INT8; ``val_in_training``: its training set
    included val (then its val figure says nothing about generalization and is not drawn)."""

    fp32: float | None
    int8: float | None
    val_in_training: bool


def shipped_test_points() -> dict[tuple[str, str], HeldOutPoint]:
    """(arch, training label) -> its test figures, for every shipped ``.pt`` whose sidecar records them."""
    from edgeseg._shipped import shipped_models
    from edgeseg.card import read_sidecar, training_label

    out = {}
    for path in shipped_models().values():
        if path.suffix != ".pt":
            continue
        try:
            card = read_sidecar(path)
        except EdgesegError:
            continue
        test = card.metrics.get("test") or {}
        fp32 = (test.get("fp32") or {}).get("miou")
        int8 = (test.get("qat_int8_onnxruntime") or {}).get("miou")
        if fp32 is None and int8 is None:
            continue
        label = training_label(card.training)
        out[(card.arch, label)] = HeldOutPoint(
            fp32=None if fp32 is None else float(fp32),
            int8=None if int8 is None else float(int8),
            val_in_training="train+val" in label,
        )
    return out


def heldout_miou(
    points: dict[tuple[str, str], HeldOutPoint], *, model: str, trained: str, precision: str
) -> float | None:
    """The test mIoU for a report row of ``model`` trained as ``trained`` at ``precision`` (a precision
    label: 'fp32', 'int8 qat trt-qdq', ...): FP32 for fp32 rows, the QAT file's for QAT INT8 rows, None
    otherwise (PTQ, FP16, another checkpoint)."""
    p = points.get((model, trained))
    if p is None:
        return None
    if precision == "fp32":
        return p.fp32
    if precision.startswith("int8") and "qat" in precision.split():
        return p.int8
    return None


def val_caution(entries: Sequence[ReportEntry], *, reference: ReportEntry | None) -> str | None:
    """A line for a report that compares models on val when one of them trained on val (then its val
    mIoU is training fit and the answer across models rests on it): who trained on val, and every
    model's recorded test mIoU (FP32) to compare instead. None for one model, or when none trained on
    val."""
    if reference is None:
        return None
    points = shipped_test_points()
    ok = [e for e in entries if e.ok]
    models = {e.model for e in ok}
    if len(models) < 2:
        return None
    ours = {(e.model, e.trained): points[(e.model, e.trained)] for e in ok if (e.model, e.trained) in points}
    inside = sorted({m for (m, _), p in ours.items() if p.val_in_training})
    if not inside:
        return None
    tests = sorted(((p.fp32, m) for (m, _), p in ours.items() if p.fp32 is not None), reverse=True)
    compare = ", ".join(f"{m} {100 * v:.2f} %" for v, m in tests)
    return (
        f"Caution: {', '.join(inside)} trained on val, so {'its' if len(inside) == 1 else 'their'} val mIoU "
        f"is training fit and this answer across models rests on it; compare the models on test "
        f"(FP32, recorded in the shipped cards): {compare or 'none recorded'}."
    )
