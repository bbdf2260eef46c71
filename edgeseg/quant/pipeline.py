"""``quantize``: FP32 checkpoint -> INT8 Q/DQ ONNX for TensorRT (PTQ or QAT), or ONNX Runtime CPU INT8.

One entry point per method, each taking one calibration request (``edgeseg.data.calib_request``):
``quantize_ptq``, ``quantize_qat``, ``quantize_cpu``; ``quantize(checkpoint, method=...)`` maps the
flat keywords of ``edgeseg quantize`` onto them (the command only parses and prints). The methods and
defaults are ``edgeseg.quant.methods``; the steps PTQ and QAT share, ``edgeseg.quant.qdq_steps``."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

from edgeseg._io import human_size
from edgeseg.data.calib_request import CalibRequest
from edgeseg.quant.methods import (
    CALIB_KEYS,
    QAT_KEYS,
    VAL_KEYS,
    BIAS_CORRECTIONS,
    CALIB_METHODS,
    DEFAULT_BIAS_CORRECTION,
    DEFAULT_CALIB,
    DEFAULT_PERCENTILE,
    METHODS,
    default_output,
    output_path,
    pop_given,
    with_defaults,
)
from edgeseg.quant.mixed_ptq import MixedRequest, check_cpu, search_if
from edgeseg.quant.qat import QatSettings
from edgeseg.quant import qdq_steps as steps
from edgeseg.quant.val_check import ValCheck

__all__ = [
    "BIAS_CORRECTIONS",
    "CALIB_METHODS",
    "DEFAULT_CALIB",
    "METHODS",
    "default_output",
    "quantize",
    "quantize_cpu",
    "quantize_ptq",
    "quantize_qat",
]

Log = Callable[[str], None]
NO_VAL = ValCheck()  # no val measurement
DEFAULT_QAT = QatSettings()
FROM_DATA = CalibRequest()  # QAT: calibrate on --data


def quantize_cpu(
    checkpoint: str | os.PathLike,
    *,
    calib: CalibRequest,
    output: str | os.PathLike | None = None,
    size: tuple[int, int] | None = None,
    reduce_range: str = "auto",
    per_channel: bool = True,
    val: ValCheck = NO_VAL,
    mixed: MixedRequest | None = None,
    log: Log = print,
) -> Path:
    """ONNX Runtime's asymmetric CPU INT8 (not for TensorRT) of an FP32 .pt or .onnx; output default
    <name>_int8_cpu.onnx beside it. ``calib``: the frames (needed; 256 in batches of 8 by default).
    ``size`` (default the card's), ``reduce_range`` "auto" (default: from this CPU), "on" or "off";
    per-channel weights unless ``per_channel`` is False. ``mixed`` (default None: off;
    ``mixed_ptq.MixedRequest``) leaves layers float (``nodes_to_exclude``) to meet its budget on ``val``."""
    import tempfile

    from edgeseg.card import card_from_onnx
    from edgeseg.errors import QuantizationError
    from edgeseg.quant.ort_cpu import LABEL, quantize_onnx_for_cpu

    out = output_path(checkpoint, output, "ort-cpu")
    if not calib.source:
        raise QuantizationError("--method ort-cpu needs --calib LIST|DIR|SPEC")
    check_cpu(mixed, val_data=val.data, checkpoint=checkpoint)
    request = with_defaults(calib, "onnxruntime")
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
        settings = dict(request=request, card=card, size=tuple(size or card.input_size), log=log)
        settings.update(per_channel=per_channel, reduce_range=rr)
        if mixed is None:
            quantize_onnx_for_cpu(fp32, out, **settings)
        else:  # a .pt checkpoint (check_cpu): the search, then the budget checked in ONNX Runtime
            from edgeseg.quant.ort_mixed import quantize_ort_mixed

            quantize_ort_mixed(
                model, card, request, fp32, out, mixed, data=val.data, split=val.split, work=Path(d),
                quantize=lambda src, dst, **kw: quantize_onnx_for_cpu(src, dst, **settings, **kw), log=log,
            )  # fmt: skip
        ratio = out.stat().st_size / fp32.stat().st_size
    log(f"wrote {out} ({human_size(out.stat().st_size)}, {ratio:.2f}x the FP32 ONNX)")
    log(f"NOTE: {LABEL}. For TensorRT use --method ptq or qat.")
    return out


def quantize_ptq(
    checkpoint: str | os.PathLike,
    *,
    calib: CalibRequest,
    output: str | os.PathLike | None = None,
    bias_correction: str | None = None,
    percentile: float = DEFAULT_PERCENTILE,
    val: ValCheck = NO_VAL,
    size: tuple[int, int] | None = None,
    dynamic: bool = False,
    allow_float: Sequence[str] = (),
    head: str = "logits",
    target: str = "tensorrt",
    mixed: MixedRequest | None = None,
    device: str = "auto",
    progress: bool = True,
    command: str | None = None,
    log: Log = print,
) -> Path:
    """Post-training quantization of the FP32 ``checkpoint`` to a TensorRT-ready Q/DQ ONNX, checked by
    the Q/DQ rules; output default <name>_int8.onnx beside it. ``calib``: the frames (needed; defaults
    256 frames, batches of 8, method mse; "all" compares the methods on ``val.data``).
    ``bias_correction`` "sequential" (default), "fast" or "none"; ``percentile`` (default 99.99) for
    the percentile method. With ``val.data`` FP32 and INT8 mIoU are measured and logged, with a
    warning suggesting QAT above ``val.max_drop`` points. ``size`` (default the card's), ``dynamic``
    (default static), ``allow_float`` op types left in float, ``head`` (default "logits";
    ``edgeseg.export.head``), ``target`` (default "tensorrt"; "cpu" adds int8 outputs for OpenVINO / ONNX
    Runtime, ``edgeseg.quant.placement_cpu``). ``command`` (default none) is recorded in the card.
    ``mixed`` (default None: off; ``mixed_ptq.MixedRequest``) leaves the fewest layers in float so that
    INT8 meets its budget on frames of ``val.data`` (before QAT's fine-tuning); the card records them."""
    import time

    from edgeseg.errors import QuantizationError
    from edgeseg.export.head import check_head
    from edgeseg.quant.placement_cpu import check_target

    check_head(head)
    check_target(target)
    out = output_path(checkpoint, output, "ptq")
    if not calib.source:
        raise QuantizationError("--method ptq needs --calib LIST|DIR|SPEC (the calibration frames)")
    request = with_defaults(calib, "ptq")
    bias = bias_correction or DEFAULT_BIAS_CORRECTION["ptq"]
    if bias not in BIAS_CORRECTIONS:
        raise QuantizationError(f"bias correction {bias!r}: expected one of {', '.join(BIAS_CORRECTIONS)}")
    if request.method == "all" and not val.data:
        raise QuantizationError("--calib-method all needs --val-data (or --data) to compare the methods on")
    if mixed is not None:
        mixed.check(method="ptq", calib_method=request.method, val_data=val.data, target=target)
    t0 = time.perf_counter()
    model, card, cset, device = steps.calibrate(
        checkpoint, request, size=size, device=device, progress=progress, log=log
    )
    qmodel, placement, chosen, measured = steps.ranges(
        model,
        card,
        cset,
        request,
        percentile=percentile,
        bias=bias,
        compare_on=val.data,
        val_split=val.split,
        val_max_frames=val.max_frames,
        progress=progress,
        device=device,
        log=log,
    )
    sk = dict(split=val.split, device=device, progress=progress, log=log)
    qmodel, mixed_info = search_if(mixed, qmodel, model, card, data=val.data, **sk)
    if measured is None and val.data:
        from edgeseg.quant.val_check import measure

        measured = measure(qmodel, model, card, check=val, progress=progress, device=device)
    from edgeseg.quant.val_check import report_ptq_drop

    val_info = report_ptq_drop(measured, check=val, log=log)
    facts = steps.card_facts(
        cset,
        request,
        chosen,
        placement=placement,
        percentile=percentile,
        bias=bias,
        checkpoint=checkpoint,
        val=val_info,
    )
    size = tuple(card.input_size)
    steps.write_qdq(
        qmodel,
        model,
        card,
        out,
        facts=facts,
        size=size,
        dynamic=dynamic,
        allow_float=allow_float,
        head=head,
        command=command,
        target=target,
        cset=cset,
        mixed=mixed_info,
        log=log,
    )
    what = f"ptq, calibration {chosen}, bias correction {bias}"
    steps.summary(out, model, card, size, what=what, seconds=time.perf_counter() - t0, log=log)
    return out


def quantize_qat(
    checkpoint: str | os.PathLike,
    *,
    data: str,
    calib: CalibRequest = FROM_DATA,
    finetune: QatSettings = DEFAULT_QAT,
    output: str | os.PathLike | None = None,
    save_checkpoint: str | os.PathLike | None = None,
    percentile: float = DEFAULT_PERCENTILE,
    val: ValCheck = NO_VAL,
    size: tuple[int, int] | None = None,
    dynamic: bool = False,
    allow_float: Sequence[str] = (),
    head: str = "logits",
    target: str = "tensorrt",
    mixed: MixedRequest | None = None,
    device: str = "auto",
    progress: bool = True,
    command: str | None = None,
    log: Log = print,
) -> Path:
    """Calibrate the FP32 ``checkpoint`` on ``calib`` (default source: ``data``), then fine-tune it on
    ``data``'s train split with ``finetune`` (``QatSettings``) -> a checked TensorRT-ready Q/DQ ONNX
    (output default <name>_int8.onnx beside it); also the QAT weights to ``save_checkpoint`` when
    given (default not written). With ``val.data`` the QAT model's FP32/INT8 mIoU goes into the card
    (``calib.method`` "all" compares the methods on ``val.data``, else ``data``). Other keywords as
    ``quantize_ptq``; no bias correction (QAT trains the biases)."""
    import time

    from edgeseg._io import check_output_path
    from edgeseg.errors import QuantizationError
    from edgeseg.export.head import check_head
    from edgeseg.quant.placement_cpu import check_target

    check_head(head)
    check_target(target)
    out = output_path(checkpoint, output, "qat")
    if not data:
        raise QuantizationError("--method qat needs --data SPEC (the training set to fine-tune on)")
    ckpt_out = check_output_path(save_checkpoint) if save_checkpoint else None  # only when asked for
    request = with_defaults(calib if calib.source else replace(calib, source=data), "qat")
    if mixed is not None:
        kw = dict(calib_method=request.method, val_data=val.data or data, save_checkpoint=save_checkpoint)
        mixed.check(method="qat", **kw, target=target)
    t0 = time.perf_counter()
    model, card, cset, device = steps.calibrate(
        checkpoint, request, size=size, device=device, progress=progress, log=log
    )
    qmodel, placement, chosen, _ = steps.ranges(
        model,
        card,
        cset,
        request,
        percentile=percentile,
        bias="none",
        compare_on=val.data or data,
        val_split=val.split,
        val_max_frames=val.max_frames,
        progress=progress,
        device=device,
        log=log,
    )
    sk = dict(split=val.split, device=device, progress=progress, log=log)
    qmodel, mixed_info = search_if(mixed, qmodel, model, card, data=val.data or data, **sk)
    from edgeseg.data.datasets import open_dataset
    from edgeseg.quant.qat import qat_finetune

    size = tuple(card.input_size)
    qat_info = qat_finetune(
        qmodel,
        card,
        open_dataset(data, "train", size=size),
        epochs=finetune.epochs,
        lr=finetune.lr,
        batch=finetune.batch,
        crop=finetune.crop,
        class_weights=bool(finetune.class_weights),
        max_steps_per_epoch=finetune.max_steps,
        seed=request.seed,
        device=device,
        progress=progress,
    )
    qat_info["data"] = data
    log(
        f"QAT: {qat_info['steps']} steps in {qat_info['seconds']:.0f} s, loss per epoch "
        + ", ".join(f"{v:.4f}" for v in qat_info["loss"])
    )
    val_info = None
    if val.data:  # only when asked: the QAT INT8 model's val mIoU goes into the card
        from edgeseg.quant.val_check import measure, report_qat

        m = measure(qmodel, model, card, check=val, progress=progress, device=device, after="qat")
        val_info = report_qat(m, check=val, log=log)
    facts = steps.card_facts(
        cset,
        request,
        chosen,
        placement=placement,
        percentile=percentile,
        bias="none",
        checkpoint=checkpoint,
        qat=qat_info,
        val=val_info,
    )
    qcard = steps.write_qdq(
        qmodel,
        model,
        card,
        out,
        facts=facts,
        size=size,
        dynamic=dynamic,
        allow_float=allow_float,
        head=head,
        command=command,
        target=target,
        cset=cset,
        mixed=mixed_info,
        log=log,
    )
    if ckpt_out is not None:
        from edgeseg.quant.qcheckpoint import save_quantized_checkpoint

        save_quantized_checkpoint(ckpt_out, qmodel=qmodel, placement=placement, card=qcard)
        log(
            f"wrote {ckpt_out} (the QAT weights: `edgeseg export` and `eval` read them as an FP32 checkpoint)"
        )
    what = f"qat, calibration {chosen}, bias correction none"
    steps.summary(out, model, card, size, what=what, seconds=time.perf_counter() - t0, log=log)
    return out


def quantize(checkpoint: str | os.PathLike, *, method: str = "ptq", **options: Any) -> Path:
    """``edgeseg quantize`` as one call: ``method`` "ptq" (default; ``quantize_ptq``), "qat"
    (``quantize_qat``) or "ort-cpu" (``quantize_cpu``), with the command's flags as keywords
    (``calib``, ``calib_num`` (or its former name ``num_calib``), ``calib_method``, ``calib_batch``,
    ``seed`` form the calibration request; ``val_data``, ``val_split``, ``val_max_frames``,
    ``max_drop`` the val check; ``epochs``, ``lr``, ``batch``, ``crop``, ``class_weights``,
    ``max_steps`` the QAT fine-tune; the rest go to the entry point as they are). A keyword the method
    does not take is refused in one line, naming it."""
    import inspect

    from edgeseg.errors import QuantizationError, UnsupportedOptionError

    entry = {"ptq": quantize_ptq, "qat": quantize_qat, "ort-cpu": quantize_cpu}.get(method)
    if entry is None:
        raise QuantizationError(f"method {method!r}: expected one of {', '.join(METHODS)}")
    head = options.get("head", "logits")
    if method == "ort-cpu" and head != "logits":
        raise QuantizationError(
            f"--head {head} is for ptq and qat; for ONNX Runtime CPU INT8 with a labels head, "
            f"build one from `edgeseg export --head {head}` (edgeseg build --backend onnxruntime --int8)"
        )
    params = inspect.signature(entry).parameters
    kw: dict[str, Any] = {"calib": CalibRequest(**pop_given(options, CALIB_KEYS))}
    val = pop_given(options, VAL_KEYS)
    if method == "ptq" and options.get("data", None) is not None:  # PTQ measures on --val-data, else --data
        val.setdefault("data", options.pop("data"))
    elif method == "ptq":
        options.pop("data", None)
    qat = pop_given(options, QAT_KEYS)
    for name, record, given in (("val", ValCheck, val), ("finetune", QatSettings, qat)):
        if given and name not in params:
            raise UnsupportedOptionError(f"quantize method {method} does not take {', '.join(given)}")
        if given:
            kw[name] = record(**given)
    bad = [k for k in options if k not in params or k in kw]
    if bad:
        raise UnsupportedOptionError(f"quantize method {method} does not take {', '.join(bad)}")
    return entry(checkpoint, **kw, **options)
