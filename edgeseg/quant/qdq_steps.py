"""The steps PTQ and QAT share (``edgeseg.quant.pipeline``): load and calibrate, pick the ranges
(or compare the methods), write the checked Q/DQ ONNX with its card, log the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from edgeseg._io import human_size
from edgeseg.data.calib_request import CalibRequest

Log = Callable[[str], None]


def _fp32_size(model, card, size) -> int:
    import tempfile

    from edgeseg.export.onnx import export_onnx

    with tempfile.TemporaryDirectory() as d:
        return export_onnx(model, card, Path(d) / "fp32.onnx", size=size).stat().st_size


def calibrate(checkpoint, request: CalibRequest, *, size, device: str, progress: bool, log: Log):
    """Load the FP32 checkpoint and open the request's frames: (model, card at ``size``, set, device)."""
    import torch

    from edgeseg.errors import QuantizationError
    from edgeseg.train.checkpoint import load_checkpoint

    device = device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    model, card, _ = load_checkpoint(checkpoint)
    if card.precision != "fp32":
        raise QuantizationError(f"{checkpoint}: is already {card.precision}; start from the FP32 checkpoint")
    size = tuple(size or card.input_size)
    card = card.replace(input_size=size)
    calib = request.open(card, size=size)
    log(f"calibrating {card.arch} on {len(calib)} frames from {request.source} at {size[0]}x{size[1]} (HxW)")
    return model, card, calib, device


def ranges(
    model,
    card,
    calib,
    request,
    *,
    percentile,
    bias,
    compare_on,
    val_split,
    val_max_frames,
    progress,
    device,
    log,
):
    """PTQ ranges with the request's method ("all": each method on ``compare_on``, the best kept):
    (qmodel, placement, the method kept, {"fp32", "int8"} measured or None)."""
    from edgeseg.quant.ptq import ptq

    cmethod = request.method
    qmodel, placement, _, stats = ptq(
        model,
        calib,
        method="max" if cmethod == "all" else cmethod,
        percentile=percentile,
        bias_correction="none" if cmethod == "all" else bias,
        progress=progress,
        device=device,
    )
    if cmethod != "all":
        return qmodel, placement, cmethod, None
    from edgeseg.data.datasets import open_dataset
    from edgeseg.quant.compare import compare_methods

    val = open_dataset(compare_on, val_split, size=tuple(card.input_size))
    res = compare_methods(
        qmodel,
        stats,
        model.to(device),
        card,
        val,
        percentile=percentile,
        bias_correction=bias,
        calib=calib,
        max_frames=val_max_frames,
        progress=progress,
        device=device,
    )
    chosen = res["best"]
    log(
        f"calibration methods on {compare_on} [{val_split}] (bias correction {bias}): "
        f"FP32 mIoU {100 * res['fp32']:.2f}%"
    )
    for m, v in res["methods"].items():
        log(f"  {m:<10} INT8 mIoU {100 * v:.2f}%{'   <- best' if m == chosen else ''}")
    return qmodel, placement, chosen, {"fp32": res["fp32"], "int8": res["methods"][chosen]}


def write_qdq(
    qmodel,
    model,
    card,
    out: Path,
    *,
    facts: dict[str, Any],
    size,
    dynamic,
    allow_float,
    head,
    command,
    target: str = "tensorrt",
    cset: Any = None,
    mixed: dict[str, Any] | None = None,
    deploy_form: bool = False,
    log: Log = print,
) -> Any:
    """The checked Q/DQ ONNX of ``qmodel`` with its card (``facts``: ``quantized_card``'s keywords);
    returns that card. ``target`` "cpu" (default "tensorrt") exports a copy placed for the CPU runtimes,
    its extra output ranges calibrated on ``cset`` (``edgeseg.quant.placement_cpu``), in the model's deploy
    form where it has one if ``deploy_form`` (default False: slower on OpenVINO as measured,
    docs/quantization.md; ``edgeseg.quant.deploy_fakequant``): ``qmodel``
    and the returned card keep TensorRT's placement (what a QAT checkpoint stores). ``mixed`` (default none):
    the mixed-precision record, into ``extra["quantization"]["mixed"]``; its ``cast_fp16`` wraps the
    float layers in explicit FP16 Casts (``export_qdq_onnx``)."""
    from edgeseg.quant.ptq import quantized_card
    from edgeseg.quant.qdq_export import export_qdq_onnx

    qcard = quantized_card(card, **facts)
    qmodel.cpu()
    if command:
        qcard.extra["quantization"]["command"] = command
    if allow_float:
        qcard.extra["quantization"]["float_ops"] = sorted(allow_float)
    if mixed is not None:
        qcard.extra["quantization"]["mixed"] = mixed
    xmodel, xcard = qmodel, qcard
    if target == "cpu":
        from edgeseg.quant.placement_cpu import placed_copy_for_cpu

        xmodel, xcard = placed_copy_for_cpu(
            qmodel,
            qcard,
            cset,
            method=facts["method"],
            percentile=facts["percentile"],
            arch=card.arch if deploy_form else None,
            log=log,
        )
    kw = dict(
        size=size,
        dynamic=dynamic,
        allow_float=allow_float,
        head=head,
        cast_fp16=bool(mixed and mixed.get("cast_fp16")),
    )
    export_qdq_onnx(xmodel, xcard, out, **kw)
    return qcard


def summary(out: Path, model, card, size, *, what: str, seconds: float, log: Log) -> None:
    import onnx

    from edgeseg.quant.qdq_export import qdq_summary

    s = qdq_summary(onnx.load(str(out)))
    ratio = out.stat().st_size / _fp32_size(model.cpu(), card, size)
    log(
        f"Q/DQ check OK: {s['quantized_ops']} quantized ops, {s['quantize_linear']} Q / "
        f"{s['dequantize_linear']} DQ, {s['int8_weights']} int8 weight tensors"
    )
    log(
        f"wrote {out} ({human_size(out.stat().st_size)}, {ratio:.2f}x the FP32 ONNX; {what}) "
        f"in {seconds:.0f} s"
    )


def card_facts(
    calib, request: CalibRequest, chosen: str, *, placement, percentile, bias, checkpoint, **more
) -> dict:
    from edgeseg.quant.ptq import calib_facts
    from edgeseg.train.checkpoint import checkpoint_source

    return dict(
        method=chosen,
        calib_facts=calib_facts(calib, request=request),
        placement=placement,
        percentile=percentile,
        bias_correction=bias,
        source=checkpoint_source(checkpoint),
        **more,
    )
