"""``quantize``: FP32 checkpoint -> INT8 Q/DQ ONNX for TensorRT (PTQ or QAT), or ONNX Runtime CPU INT8.
The library function behind ``edgeseg quantize`` (the command only parses and prints)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

from edgeseg._io import human_size

METHODS = ("ptq", "qat", "ort-cpu")
CALIB_METHODS = ("max", "percentile", "entropy", "mse", "all")
BIAS_CORRECTIONS = ("none", "fast", "sequential")
#: Defaults per method (docs/quantization.md has the measurements): activation calibration, bias correction.
DEFAULT_CALIB = {"ptq": "mse", "qat": "mse"}
DEFAULT_BIAS_CORRECTION = {"ptq": "sequential", "qat": "none"}


def _default_output(ckpt, method: str):
    from pathlib import Path

    p = Path(ckpt)
    return p.with_name(p.stem + ("_int8_cpu.onnx" if method == "ort-cpu" else "_int8.onnx"))


def _fp32_size(model, card, size) -> int:
    import tempfile
    from pathlib import Path

    from edgeseg.export.onnx import export_onnx

    with tempfile.TemporaryDirectory() as d:
        f = export_onnx(model, card, Path(d) / "fp32.onnx", size=size)
        return f.stat().st_size


def _run_ort_cpu(
    checkpoint,
    out,
    *,
    calib_src,
    reduce_range,
    per_channel,
    num_calib,
    calib_batch,
    size,
    seed,
    log,
    mixed=None,
    val_data: str | None = None,
    val_split: str = "val",
    progress: bool = True,
) -> Path:
    import tempfile
    from pathlib import Path

    from edgeseg.card import card_from_onnx
    from edgeseg.data.calib import CalibrationSet
    from edgeseg.errors import QuantizationError
    from edgeseg.quant.ort_cpu import LABEL, quantize_ort_cpu

    if not calib_src:
        raise QuantizationError("--method ort-cpu needs --calib LIST|DIR|SPEC")
    rr = {"auto": None, "on": True, "off": False}[reduce_range]
    src = Path(checkpoint)
    with tempfile.TemporaryDirectory() as d:
        if src.suffix.lower() == ".onnx":
            card = card_from_onnx(src)
            fp32 = src
        else:
            from edgeseg.export.onnx import export_onnx
            from edgeseg.train.checkpoint import load_checkpoint

            model, card, _ = load_checkpoint(src)
            if card.precision != "fp32":
                raise QuantizationError(f"{src}: is already {card.precision}; start from the FP32 checkpoint")
            card = card.replace(input_size=tuple(size or card.input_size))
            fp32 = export_onnx(model, card, Path(d) / "fp32.onnx", size=card.input_size)
        calib_set = CalibrationSet(
            calib_src, card, num=num_calib, batch=calib_batch, size=size or card.input_size, seed=seed
        )
        exclude, record = [], None
        if mixed is not None:
            if src.suffix.lower() == ".onnx":
                raise QuantizationError("--max-drop with --method ort-cpu needs the .pt checkpoint")
            from edgeseg.quant.mixed_ptq import ort_float_nodes

            exclude, record = ort_float_nodes(
                model,
                card,
                calib_set,
                fp32,
                mixed,
                data=val_data,
                split=val_split,
                progress=progress,
                log=log,
            )
        log(f"calibrating on {len(calib_set)} frames from {calib_src} (onnxruntime MinMax)")
        quantize_ort_cpu(
            fp32,
            out,
            calib=calib_set,
            per_channel=per_channel,
            reduce_range=rr,
            exclude_nodes=exclude,
            mixed=record,
        )
        ratio = out.stat().st_size / fp32.stat().st_size
    log(f"wrote {out} ({human_size(out.stat().st_size)}, {ratio:.2f}x the FP32 ONNX)")
    log(f"NOTE: {LABEL}. For TensorRT use --method ptq or qat.")
    return out


def _report_drop(
    measured: dict | None,
    *,
    method: str,
    spec: str | None,
    split: str,
    max_frames: int | None,
    max_drop: float | None,
    log: Callable[[str], None],
) -> dict | None:
    """Log the PTQ val measurement (and the QAT hint when the drop is large); the card's record of it."""
    from edgeseg.quant.compare import MAX_PTQ_DROP, drop_warning

    if method != "ptq":
        return None
    if measured is None:
        log("accuracy loss not measured: pass --val-data SPEC to compare FP32 and INT8 mIoU on its val split")
        return None
    fp, q = measured["fp32"], measured["int8"]
    log(
        f"val mIoU on {spec} [{split}]: FP32 {100 * fp:.2f}%, INT8 {100 * q:.2f}% (fake-quant model), "
        f"{100 * (q - fp):+.2f} points"
    )
    warning = drop_warning(fp, q, max_drop=MAX_PTQ_DROP if max_drop is None else max_drop)
    if warning:
        log(warning)
    return _val_record(measured, spec=spec, split=split, max_frames=max_frames)


def _val_record(measured: dict, *, spec: str | None, split: str, max_frames: int | None) -> dict:
    """The card's record of a val measurement ({"fp32": mIoU, "int8": mIoU})."""
    return {
        "data": spec,
        "split": split,
        "max_frames": max_frames,
        "fp32_miou": round(float(measured["fp32"]), 6),
        "int8_miou": round(float(measured["int8"]), 6),
        "evaluator": "fake-quant model (PyTorch)",
    }


def _measure_qat(
    qmodel,
    model,
    card,
    spec: str,
    *,
    split: str,
    max_frames: int | None,
    progress: bool,
    device,
    log: Callable[[str], None],
) -> dict:
    """FP32 and QAT INT8 (fake-quant) mIoU on ``spec``'s ``split``, logged; the card's record of it."""
    from edgeseg.data.datasets import open_dataset
    from edgeseg.quant.compare import measure_drop

    val = open_dataset(spec, split, size=tuple(card.input_size))
    m = measure_drop(
        qmodel.eval(), model.to(device), card, val, max_frames=max_frames, progress=progress, device=device
    )
    log(
        f"val mIoU on {spec} [{split}] after QAT: FP32 {100 * m['fp32']:.2f}%, INT8 {100 * m['int8']:.2f}% "
        f"(fake-quant model), {100 * (m['int8'] - m['fp32']):+.2f} points"
    )
    return {**_val_record(m, spec=spec, split=split, max_frames=max_frames), "after": "qat"}


def quantize(
    checkpoint: str | os.PathLike,
    *,
    method: str = "ptq",
    output: str | os.PathLike | None = None,
    calib: str | None = None,
    calib_method: str | None = None,
    bias_correction: str | None = None,
    percentile: float = 99.99,
    num_calib: int = 256,
    calib_batch: int = 8,
    size: tuple[int, int] | None = None,
    dynamic: bool = False,
    allow_float: Sequence[str] = (),
    data: str | None = None,
    epochs: int = 1,
    lr: float = 1e-4,
    batch: int = 8,
    crop: tuple[int, int] = (360, 360),
    class_weights: bool = True,
    max_steps: int | None = None,
    save_checkpoint: str | os.PathLike | None = None,
    val_data: str | None = None,
    val_split: str = "val",
    val_max_frames: int | None = None,
    max_drop: float | None = None,
    mixed=None,
    reduce_range: str = "auto",
    per_channel: bool = True,
    device: str = "auto",
    seed: int = 0,
    progress: bool = True,
    command: str | None = None,
    head: str = "logits",
    log: Callable[[str], None] = print,
) -> Path:
    """Quantize the FP32 ``checkpoint`` to an INT8 ONNX and return its path (default beside it,
    <name>_int8.onnx, or <name>_int8_cpu.onnx for ``method="ort-cpu"``).

    ``method``: "ptq" (default; calibrate on ``calib``), "qat" (calibrate on ``calib`` or ``data``,
    then fine-tune ``epochs`` on ``data``; also writes the QAT checkpoint to ``save_checkpoint`` when
    given, default none) -> a TensorRT-ready Q/DQ ONNX, checked by the Q/DQ rules; "ort-cpu" -> ONNX
    Runtime's asymmetric CPU INT8 (not for TensorRT). ``calib_method`` (default mse, for ptq and
    qat; "all" compares them on ``val_data``). ``bias_correction`` (ptq only; default
    "sequential", or "fast", "none"). PTQ with ``val_data`` measures FP32 and INT8 mIoU on it and logs
    a warning suggesting QAT when INT8 loses more than ``max_drop`` points (default None:
    ``compare.MAX_PTQ_DROP``, 0.5). ``mixed`` (default None: off; a
    ``mixed_ptq.MixedRequest``, all methods, before QAT's fine-tuning) leaves the fewest layers in float
    so that INT8 meets its budget on frames of ``val_data``'s ``val_split``; the card records them.
    Progress lines go to ``log``; ``command`` (default none; the CLI passes its command line) is
    recorded in the card. ``head`` (ptq and qat; default "logits"; ``edgeseg.export.head``): "labels" or
    "labels-lowres" end the Q/DQ graph in a uint8 label map. The output is checked before any work."""
    import time

    import torch

    from edgeseg._io import check_output_path
    from edgeseg.errors import QuantizationError

    from edgeseg.export.head import check_head

    if method not in METHODS:
        raise QuantizationError(f"method {method!r}: expected one of {', '.join(METHODS)}")
    check_head(head)
    if head != "logits" and method == "ort-cpu":
        raise QuantizationError(
            f"--head {head} is for ptq and qat; for ONNX Runtime CPU INT8 with a labels head, "
            f"build one from `edgeseg export --head {head}` (edgeseg build --backend onnxruntime --int8)"
        )
    out = check_output_path(output or _default_output(checkpoint, method))
    if out.suffix.lower() != ".onnx":
        raise QuantizationError(f"output {out} should end in .onnx")
    if mixed is not None:
        mixed.check(
            method=method,
            calib_method=calib_method,
            val_data=val_data or data,
            save_checkpoint=save_checkpoint,
        )
    if method == "ort-cpu":
        if val_data and mixed is None:
            raise QuantizationError(
                "--val-data with --method ort-cpu is for --max-drop (the frames it scores on)"
            )
        return _run_ort_cpu(
            checkpoint,
            out,
            calib_src=calib,
            reduce_range=reduce_range,
            per_channel=per_channel,
            num_calib=num_calib,
            calib_batch=calib_batch,
            size=size,
            seed=seed,
            log=log,
            mixed=mixed,
            val_data=val_data,
            val_split=val_split,
            progress=progress,
        )

    from edgeseg.data.calib import CalibrationSet
    from edgeseg.quant.ptq import calib_facts, ptq, quantized_card
    from edgeseg.quant.qdq_export import export_qdq_onnx, qdq_summary
    from edgeseg.train.checkpoint import checkpoint_source, load_checkpoint

    t0 = time.perf_counter()
    ckpt_out = None
    if method == "qat":
        if not data:
            raise QuantizationError("--method qat needs --data SPEC (the training set to fine-tune on)")
        ckpt_out = check_output_path(save_checkpoint) if save_checkpoint else None  # only when asked for
    calib_src = calib or (data if method == "qat" else None)
    if not calib_src:
        raise QuantizationError("--method ptq needs --calib LIST|DIR|SPEC (the calibration frames)")
    cmethod = calib_method or DEFAULT_CALIB[method]
    bias = bias_correction or DEFAULT_BIAS_CORRECTION[method]
    if bias not in BIAS_CORRECTIONS:
        raise QuantizationError(f"bias correction {bias!r}: expected one of {', '.join(BIAS_CORRECTIONS)}")
    if method == "qat" and bias != "none":
        raise QuantizationError("bias correction is for ptq only (QAT trains the biases)")
    val_spec = val_data or data
    if cmethod == "all" and not val_spec:
        raise QuantizationError("--calib-method all needs --val-data (or --data) to compare the methods on")
    device = device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")

    model, card, _ = load_checkpoint(checkpoint)
    if card.precision != "fp32":
        raise QuantizationError(f"{checkpoint}: is already {card.precision}; start from the FP32 checkpoint")
    size = tuple(size or card.input_size)
    card = card.replace(input_size=size)
    calib = CalibrationSet(calib_src, card, num=num_calib, batch=calib_batch, size=size, seed=seed)
    log(f"calibrating {card.arch} on {len(calib)} frames from {calib_src} at {size[0]}x{size[1]} (HxW)")
    qmodel, placement, _, stats = ptq(
        model,
        calib,
        method="max" if cmethod == "all" else cmethod,
        percentile=percentile,
        bias_correction="none" if cmethod == "all" else bias,
        progress=progress,
        device=device,
    )
    mixed_info = None
    if mixed is not None:
        kw = dict(data=val_spec, split=val_split, device=device, progress=progress, log=log)
        qmodel, mixed_info = mixed.search(qmodel, model, card, **kw)
    chosen, measured = cmethod, None
    if cmethod == "all":
        from edgeseg.data.datasets import open_dataset
        from edgeseg.quant.compare import compare_methods

        val = open_dataset(val_spec, val_split, size=size)
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
        measured = {"fp32": res["fp32"], "int8": res["methods"][chosen]}
        log(
            f"calibration methods on {val_spec} [{val_split}] (bias correction {bias}): FP32 mIoU {100 * res['fp32']:.2f}%"
        )
        for m, v in res["methods"].items():
            log(f"  {m:<10} INT8 mIoU {100 * v:.2f}%{'   <- best' if m == chosen else ''}")
    elif method == "ptq" and val_spec:
        from edgeseg.data.datasets import open_dataset
        from edgeseg.quant.compare import measure_drop

        val = open_dataset(val_spec, val_split, size=size)
        measured = measure_drop(
            qmodel, model.to(device), card, val, max_frames=val_max_frames, progress=progress, device=device
        )
    val_info = _report_drop(
        measured,
        method=method,
        spec=val_spec,
        split=val_split,
        max_frames=val_max_frames,
        max_drop=max_drop,
        log=log,
    )
    qat_info = None
    if method == "qat":
        from edgeseg.data.datasets import open_dataset
        from edgeseg.quant.qat import qat_finetune

        train = open_dataset(data, "train", size=size)
        qat_info = qat_finetune(
            qmodel,
            card,
            train,
            epochs=epochs,
            lr=lr,
            batch=batch,
            crop=crop,
            class_weights=not (not class_weights),
            max_steps_per_epoch=max_steps,
            seed=seed,
            device=device,
            progress=progress,
        )
        qat_info["data"] = data
        log(
            f"QAT: {qat_info['steps']} steps in {qat_info['seconds']:.0f} s, loss per epoch "
            + ", ".join(f"{v:.4f}" for v in qat_info["loss"])
        )
        if val_data:  # only when asked: the QAT INT8 model's val mIoU goes into the card
            val_info = _measure_qat(
                qmodel,
                model,
                card,
                val_data,
                split=val_split,
                max_frames=val_max_frames,
                progress=progress,
                device=device,
                log=log,
            )
    qcard = quantized_card(
        card,
        method=chosen,
        calib_facts=calib_facts(calib),
        placement=placement,
        percentile=percentile,
        bias_correction=bias,
        source=checkpoint_source(checkpoint),
        qat=qat_info,
        val=val_info,
    )
    qmodel.cpu()
    if command:
        qcard.extra["quantization"]["command"] = command
    if allow_float:
        qcard.extra["quantization"]["float_ops"] = sorted(allow_float)
    if mixed_info is not None:
        qcard.extra["quantization"]["mixed"] = mixed_info
    export_qdq_onnx(
        qmodel,
        qcard,
        out,
        size=size,
        dynamic=dynamic,
        allow_float=allow_float,
        head=head,
        cast_fp16=mixed is not None and mixed.cast_fp16,
    )
    if ckpt_out is not None:
        from edgeseg.quant.qcheckpoint import save_quantized_checkpoint

        save_quantized_checkpoint(ckpt_out, qmodel=qmodel, placement=placement, card=qcard)
        log(
            f"wrote {ckpt_out} (the QAT weights: `edgeseg export` and `eval` read them as an FP32 checkpoint)"
        )
    import onnx

    s = qdq_summary(onnx.load(str(out)))
    ratio = out.stat().st_size / _fp32_size(model.cpu(), card, size)
    log(
        f"Q/DQ check OK: {s['quantized_ops']} quantized ops, {s['quantize_linear']} Q / {s['dequantize_linear']} DQ, "
        f"{s['int8_weights']} int8 weight tensors"
    )
    log(
        f"wrote {out} ({human_size(out.stat().st_size)}, {ratio:.2f}x the FP32 ONNX; {method}, "
        f"calibration {chosen}, bias correction {bias}) in {time.perf_counter() - t0:.0f} s"
    )
    return out
