"""edgeseg quantize: FP32 checkpoint -> INT8 Q/DQ ONNX for TensorRT (PTQ or QAT), or ONNX Runtime CPU INT8."""

from __future__ import annotations

import argparse
from edgeseg.commands._policy import Io

from edgeseg.commands._args import add_option, deprecated_alias, float_in, int_in, parse_size

HELP = "INT8: PTQ/QAT to a TensorRT-ready Q/DQ ONNX (checked), or --method ort-cpu for ONNX Runtime CPU"


def _quantize_default(args: argparse.Namespace) -> list:
    from edgeseg.quant.methods import default_output

    return [] if args.output else [("--output", default_output(args.checkpoint, args.method))]


IO = Io(
    inputs=("checkpoint", "calib", "data", "val_data", "layer_cost"),
    files=("output", "save_checkpoint"),
    derived=_quantize_default,
    precision=lambda args: {"--output": "int8"},
    loose=("calib", "data", "val_data", "layer_cost"),  # --layer-cost: flops|openvino|FILE.json
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from edgeseg.backends._options import CALIB, CALIB_BATCH, CALIB_NUM, calib_method_option
    from edgeseg.card import HEADS
    from edgeseg.quant.methods import (
        BIAS_CORRECTIONS,
        DEFAULT_CALIB_BATCH,
        DEFAULT_CALIB_NUM,
        DEFAULT_PERCENTILE,
        METHODS,
    )
    from edgeseg.quant.pipeline import DEFAULT_QAT as QAT
    from edgeseg.quant.placement_cpu import TARGETS

    p.add_argument(
        "checkpoint", help="FP32 .pt checkpoint (ort-cpu also takes an FP32 .onnx from edgeseg export)"
    )
    p.add_argument(
        "--method",
        choices=METHODS,
        default="ptq",
        help="ptq (default): calibrate only; qat: calibrate then fine-tune; ort-cpu: ONNX Runtime "
        "static quantization (asymmetric, CPU only, NOT for TensorRT)",
    )
    calib = p.add_argument_group("calibration")
    add_option(
        calib,
        CALIB,
        help="calibration frames: a list file, a folder of images, or camvid:PATH / synthetic:N "
        "(required for ptq and ort-cpu; qat defaults to --data)",
    )
    add_option(calib, calib_method_option("ptq", "qat"))
    p.add_argument(
        "--bias-correction",
        choices=BIAS_CORRECTIONS,
        default=None,
        help="ptq: after calibration, shift each quantized layer's bias by the mean float-vs-INT8 output "
        "error: sequential (default; layer by layer through the quantized model, at most 64 "
        "calibration frames held in memory), fast (one pass, float inputs), none",
    )
    p.add_argument(
        "--percentile",
        type=float_in(0, 100, above=True),
        default=None,
        help=f"for --calib-method percentile (default {DEFAULT_PERCENTILE})",
    )
    add_option(calib, CALIB_NUM, help=f"calibration frames, evenly spaced (default {DEFAULT_CALIB_NUM})")
    deprecated_alias(calib, "--num-calib", new="--calib-num", dest="calib_num", type=int_in(1))
    add_option(calib, CALIB_BATCH, help=f"frames per calibration batch (default {DEFAULT_CALIB_BATCH})")
    p.add_argument(
        "--size",
        type=parse_size,
        default=None,
        metavar="HxW",
        help="input size of the INT8 model and its calibration (default: the card's input size)",
    )
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help="output .onnx (default: beside the checkpoint, <name>_int8.onnx or <name>_int8_cpu.onnx)",
    )
    p.add_argument(
        "--dynamic", action="store_true", help="dynamic batch/height/width in the ONNX (default static)"
    )
    p.add_argument(
        "--head",
        choices=HEADS,
        default=None,
        help="ptq/qat: what the Q/DQ graph ends in: logits (default), labels (their arg-max, uint8) or "
        "labels-lowres (the arg-max at the logits' own resolution, labels resized nearest); "
        "recorded in the card (see edgeseg export --head)",
    )
    p.add_argument(
        "--target",
        choices=TARGETS,
        default=None,
        help="ptq/qat: Q/DQ placement for tensorrt (default: inputs of weighted layers only) or cpu (also "
        "int8 outputs of PReLU, Concat, Add, Mul, pooling and reduce, for OpenVINO / ONNX Runtime); "
        "recorded in the card",
    )
    p.add_argument(
        "--allow-float",
        action="append",
        default=None,
        metavar="OP",
        help="op type left wholly in float without failing the Q/DQ check, e.g. MatMul for PSPNet's "
        "pooling; repeatable (default: none)",
    )
    qat = p.add_argument_group("QAT")
    qat.add_argument(
        "--data", default=None, help="training data for QAT: camvid:PATH, folder:PATH or synthetic[:N]"
    )
    qat.add_argument("--epochs", type=int_in(1), default=None, help=f"QAT epochs (default {QAT.epochs})")
    qat.add_argument(
        "--lr",
        type=float_in(0, above=True),
        default=None,
        help=f"QAT learning rate (default {QAT.lr:g}, Adam, poly decay)",
    )
    qat.add_argument("--batch", type=int_in(1), default=None, help=f"QAT batch size (default {QAT.batch})")
    qat.add_argument(
        "--crop",
        type=parse_size,
        default=None,
        metavar="HxW",
        help=f"QAT crop (default {QAT.crop[0]}x{QAT.crop[1]})",
    )
    qat.add_argument(
        "--no-class-weights",
        dest="class_weights",
        action="store_const",
        const=False,
        default=None,
        help="plain cross-entropy instead of CGNet's weighted CE",
    )
    qat.add_argument(
        "--max-steps", type=int_in(1), default=None, help="at most this many QAT steps per epoch (smoke runs)"
    )
    qat.add_argument(
        "--save-checkpoint",
        default=None,
        metavar="PT",
        help="also write the QAT weights as a checkpoint here (default: not written); "
        "edgeseg export/eval read it as FP32 weights",
    )
    val = p.add_argument_group("measuring INT8 on val (and --calib-method all)")
    val.add_argument(
        "--val-data",
        default=None,
        help="dataset spec: ptq prints FP32 and INT8 mIoU on it and warns when INT8 loses more than "
        "0.5 point; qat prints both after fine-tuning; either records them in the card; "
        "--calib-method all compares the methods on it (default --data)",
    )
    val.add_argument(
        "--max-drop",
        type=float_in(0, above=True),
        default=None,
        metavar="POINTS",
        help="ptq/qat (before fine-tuning)/ort-cpu: leave the fewest, most sensitive layers in float so that "
        "INT8 loses at most this many points of mIoU@FP32 (against the FP32 model's own labels) on "
        "--sensitivity-frames frames of --val-data (default: off; see docs/quantization.md, mixed precision)",
    )
    val.add_argument(
        "--class-drop",
        type=float_in(0, above=True),
        default=None,
        metavar="POINTS",
        help="with --max-drop: and no class more than this many points of IoU@FP32 (default 1.0)",
    )
    val.add_argument(
        "--sensitivity-frames",
        type=int_in(1),
        default=None,
        metavar="N",
        help="with --max-drop: val frames the per-layer sensitivity and the search score on (default 16)",
    )
    val.add_argument(
        "--cast-fp16",
        action="store_true",
        default=None,
        help="with --max-drop: explicit FP16 Casts around the float layers (strongly typed TensorRT 11; "
        "8.6/10.x run them FP16 from the builder flag without this)",
    )
    val.add_argument(
        "--layer-cost",
        default=None,
        metavar="flops|openvino|FILE.json",
        help="with --max-drop: what a layer left in float costs, recorded in the card and the report: flops "
        "(default: GFLOP per frame, an estimate), openvino (ms per frame measured here on OpenVINO CPU, "
        "per-node profiles of the INT8 and FP32 IRs) or a JSON written by benchmarks/layer_cost_openvino.py",
    )
    val.add_argument(
        "--prefer-cheap",
        action="store_true",
        default=None,
        help="with --max-drop: rank layers by sensitivity per unit of --layer-cost (default: by sensitivity)",
    )
    val.add_argument(
        "--budget-frames",
        type=int_in(1),
        default=None,
        metavar="N",
        help="with --max-drop: val frames the budget is checked on (default: the --sensitivity-frames "
        "frames); more than those to rank on 16 and check on a whole val split (--drop-reference labels)",
    )
    val.add_argument(
        "--drop-reference",
        choices=("fp32", "labels"),
        default=None,
        help="with --max-drop: what the points are of: fp32 (default: mIoU@FP32, agreement with the FP32 "
        "model's own labels; strict, needs no labels) or labels (label mIoU against the ground truth of "
        "--val-data, FP32's minus INT8's: what edgeseg eval prints)",
    )
    val.add_argument("--val-split", default="val", help="split to evaluate (default val)")
    val.add_argument(
        "--val-max-frames",
        type=int_in(1),
        default=None,
        help="evaluate at most N frames (per method with --calib-method all; default all)",
    )
    cpu = p.add_argument_group("ort-cpu")
    cpu.add_argument(
        "--reduce-range",
        choices=("auto", "on", "off"),
        default=None,
        help="7-bit weights for x86 CPUs without VNNI (default auto: decided from this CPU)",
    )
    cpu.add_argument(
        "--per-tensor",
        dest="per_channel",
        action="store_const",
        const=False,
        default=None,
        help="per-tensor weights instead of per-channel",
    )
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda for calibration and QAT")
    p.add_argument("--seed", type=int_in(0), default=0)
    p.add_argument("--no-progress", action="store_true")


#: Options that only some methods use: option -> (attribute, the methods that take it); each defaults
#: to None (= not given) on the command line, and the library's records hold the defaults.
_METHOD_OPTIONS = {
    "--epochs": ("epochs", ("qat",)),
    "--lr": ("lr", ("qat",)),
    "--batch": ("batch", ("qat",)),
    "--crop": ("crop", ("qat",)),
    "--no-class-weights": ("class_weights", ("qat",)),
    "--max-steps": ("max_steps", ("qat",)),
    "--save-checkpoint": ("save_checkpoint", ("qat",)),
    "--data": ("data", ("qat", "ptq")),
    "--calib-method": ("calib_method", ("ptq", "qat")),
    "--percentile": ("percentile", ("ptq", "qat")),
    "--bias-correction": ("bias_correction", ("ptq",)),
    "--allow-float": ("allow_float", ("ptq", "qat")),
    "--head": ("head", ("ptq", "qat")),
    "--target": ("target", ("ptq", "qat")),
    "--val-data": ("val_data", ("ptq", "qat", "ort-cpu")),
    "--val-max-frames": ("val_max_frames", ("ptq", "qat")),
    "--max-drop": ("max_drop", ("ptq", "qat", "ort-cpu")),
    "--class-drop": ("class_drop", ("ptq", "qat", "ort-cpu")),
    "--sensitivity-frames": ("sensitivity_frames", ("ptq", "qat", "ort-cpu")),
    "--cast-fp16": ("cast_fp16", ("ptq", "qat")),
    "--layer-cost": ("layer_cost", ("ptq", "qat", "ort-cpu")),
    "--prefer-cheap": ("prefer_cheap", ("ptq", "qat", "ort-cpu")),
    "--drop-reference": ("drop_reference", ("ptq", "qat", "ort-cpu")),
    "--budget-frames": ("budget_frames", ("ptq", "qat", "ort-cpu")),
    "--reduce-range": ("reduce_range", ("ort-cpu",)),
    "--per-tensor": ("per_channel", ("ort-cpu",)),
}
#: Options every method takes, passed as they are when given.
_COMMON = ("output", "size")


def _check_options(args: argparse.Namespace) -> None:
    """Refuse options the chosen method would ignore (Ultralytics-style), one clear line."""
    from edgeseg.errors import UnsupportedOptionError

    bad = [
        opt
        for opt, (attr, methods) in _METHOD_OPTIONS.items()
        if args.method not in methods and getattr(args, attr) is not None
    ]
    if bad:
        which = {o: "/".join(_METHOD_OPTIONS[o][1]) for o in bad}
        raise UnsupportedOptionError(
            f"--method {args.method} does not use " + ", ".join(f"{o} (only {m})" for o, m in which.items())
        )


def _given(args: argparse.Namespace, *attrs: str) -> dict:
    return {a: getattr(args, a) for a in attrs if getattr(args, a) is not None}


#: Options that only work with --max-drop: option -> attribute.
_MIXED_ONLY = {
    "--class-drop": "class_drop",
    "--sensitivity-frames": "sensitivity_frames",
    "--cast-fp16": "cast_fp16",
    "--layer-cost": "layer_cost",
    "--prefer-cheap": "prefer_cheap",
    "--drop-reference": "drop_reference",
    "--budget-frames": "budget_frames",
}


def _mixed_request(args: argparse.Namespace):
    """The --max-drop request (None without it); --class-drop / --cast-fp16 / --sensitivity-frames need it."""
    from edgeseg.errors import UnsupportedOptionError
    from edgeseg.quant.mixed_ptq import MixedRequest

    given = {a: getattr(args, a) for o, a in _MIXED_ONLY.items() if getattr(args, a) is not None}
    if args.max_drop is None:
        if given:
            opts = [o for o, a in _MIXED_ONLY.items() if a in given]
            raise UnsupportedOptionError(f"{', '.join(opts)} only work with --max-drop (the accuracy budget)")
        return None
    names = {"sensitivity_frames": "frames", "drop_reference": "reference"}
    from edgeseg.bench.cost_source import measure_for

    # --layer-cost openvino is measured here, on this machine: the library takes the measuring function
    measure = measure_for(args.layer_cost)
    request = MixedRequest(args.max_drop, measure=measure, **{names.get(a, a): v for a, v in given.items()})
    request.check_cost()  # a bad --layer-cost value or file: one line, before any work
    return request


def run(args: argparse.Namespace) -> int:
    from edgeseg.data.calib_request import CalibRequest
    from edgeseg.quant.pipeline import quantize_cpu, quantize_ptq, quantize_qat
    from edgeseg.quant.qat import QatSettings
    from edgeseg.quant.val_check import ValCheck

    _check_options(args)
    mixed = _mixed_request(args)
    calib = CalibRequest(
        source=args.calib,
        num=args.calib_num,
        method=args.calib_method,
        batch=args.calib_batch,
        seed=args.seed,
    )
    common = _given(args, *_COMMON)
    if args.method == "ort-cpu":
        val = ValCheck(data=args.val_data, split=args.val_split)
        opts = _given(args, "reduce_range", "per_channel")
        quantize_cpu(args.checkpoint, calib=calib, val=val, mixed=mixed, **common, **opts)
        return 0
    qdq = dict(
        common,
        dynamic=args.dynamic,
        allow_float=args.allow_float or (),
        device=args.device,
        progress=not args.no_progress,
        command=args.command_line,
        mixed=mixed,
        **_given(args, "head", "percentile", "target"),
    )
    val = ValCheck(
        data=args.val_data or (args.data if args.method == "ptq" else None),
        split=args.val_split,
        max_frames=args.val_max_frames,
    )
    if args.method == "ptq":
        quantize_ptq(args.checkpoint, calib=calib, val=val, **qdq, **_given(args, "bias_correction"))
        return 0
    finetune = QatSettings(**_given(args, "epochs", "lr", "batch", "crop", "class_weights", "max_steps"))
    quantize_qat(
        args.checkpoint,
        data=args.data,
        calib=calib,
        finetune=finetune,
        val=val,
        **qdq,
        **_given(args, "save_checkpoint"),
    )
    return 0
