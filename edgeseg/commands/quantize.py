"""edgeseg quantize: FP32 checkpoint -> INT8 Q/DQ ONNX for TensorRT (PTQ or QAT), or ONNX Runtime CPU INT8."""

from __future__ import annotations

import argparse
from edgeseg.commands._policy import Io

from edgeseg.commands._args import deprecated_alias, float_in, int_in, parse_size

HELP = "INT8: PTQ/QAT to a TensorRT-ready Q/DQ ONNX (checked), or --method ort-cpu for ONNX Runtime CPU"


def _quantize_default(args: argparse.Namespace) -> list:
    from edgeseg.quant.pipeline import _default_output

    return [] if args.output else [("--output", _default_output(args.checkpoint, args.method))]


IO = Io(
    inputs=("checkpoint", "calib", "data", "val_data"),
    files=("output", "save_checkpoint"),
    derived=_quantize_default,
    precision=lambda args: {"--output": "int8"},
    loose=("calib", "data", "val_data"),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from edgeseg.card import HEADS
    from edgeseg.quant.pipeline import BIAS_CORRECTIONS, CALIB_METHODS, METHODS

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
    p.add_argument(
        "--calib",
        default=None,
        metavar="LIST|DIR|SPEC",
        help="calibration frames: a list file, a folder of images, or camvid:PATH / synthetic:N "
        "(required for ptq and ort-cpu; qat defaults to --data)",
    )
    p.add_argument(
        "--calib-method",
        choices=CALIB_METHODS,
        default=None,
        help="activation ranges: max, percentile, entropy (TensorRT KL), mse, or all (evaluate each "
        "on --val-data and keep the best). Default: mse",
    )
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
        default=99.99,
        help="for --calib-method percentile (default 99.99)",
    )
    p.add_argument(
        "--calib-num",
        dest="num_calib",
        type=int_in(1),
        default=256,
        metavar="N",
        help="calibration frames (default 256)",
    )
    deprecated_alias(p, "--num-calib", new="--calib-num", dest="num_calib", type=int_in(1))
    p.add_argument(
        "--calib-batch", type=int_in(1), default=8, help="frames per calibration batch (default 8)"
    )
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
        default="logits",
        help="ptq/qat: what the Q/DQ graph ends in: logits (default), labels (their arg-max, uint8) or "
        "labels-lowres (the arg-max at the logits' own resolution, labels resized nearest); "
        "recorded in the card (see edgeseg export --head)",
    )
    p.add_argument(
        "--allow-float",
        action="append",
        default=[],
        metavar="OP",
        help="op type left wholly in float without failing the Q/DQ check, e.g. MatMul for PSPNet's "
        "pooling; repeatable (default: none)",
    )
    qat = p.add_argument_group("QAT")
    qat.add_argument(
        "--data", default=None, help="training data for QAT: camvid:PATH, folder:PATH or synthetic[:N]"
    )
    qat.add_argument("--epochs", type=int_in(1), default=1, help="QAT epochs (default 1)")
    qat.add_argument(
        "--lr",
        type=float_in(0, above=True),
        default=1e-4,
        help="QAT learning rate (default 1e-4, Adam, poly decay)",
    )
    qat.add_argument("--batch", type=int_in(1), default=8, help="QAT batch size (default 8)")
    qat.add_argument(
        "--crop", type=parse_size, default=(360, 360), metavar="HxW", help="QAT crop (default 360)"
    )
    qat.add_argument(
        "--no-class-weights", action="store_true", help="plain cross-entropy instead of CGNet's weighted CE"
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
        help="ptq/qat (before fine-tuning): leave the fewest, most sensitive layers in float so that INT8 loses at most this many "
        "points of mIoU@FP32 (against the FP32 model's own labels) on --sensitivity-frames frames of "
        "--val-data (default: off; see docs/quantization.md, mixed precision)",
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
        default=16,
        metavar="N",
        help="with --max-drop: val frames the per-layer sensitivity and the search score on (default 16)",
    )
    val.add_argument(
        "--cast-fp16",
        action="store_true",
        help="with --max-drop: explicit FP16 Casts around the float layers (strongly typed TensorRT 11; "
        "8.6/10.x run them FP16 from the builder flag without this)",
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
        default="auto",
        help="7-bit weights for x86 CPUs without VNNI (default auto: decided from this CPU)",
    )
    cpu.add_argument("--per-tensor", action="store_true", help="per-tensor weights instead of per-channel")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda for calibration and QAT")
    p.add_argument("--seed", type=int_in(0), default=0)
    p.add_argument("--no-progress", action="store_true")


#: Options that only one method uses: option -> (attribute, default, methods that accept it).
_METHOD_OPTIONS = {
    "--epochs": ("epochs", 1, ("qat",)),
    "--lr": ("lr", 1e-4, ("qat",)),
    "--batch": ("batch", 8, ("qat",)),
    "--crop": ("crop", (360, 360), ("qat",)),
    "--no-class-weights": ("no_class_weights", False, ("qat",)),
    "--max-steps": ("max_steps", None, ("qat",)),
    "--save-checkpoint": ("save_checkpoint", None, ("qat",)),
    "--data": ("data", None, ("qat", "ptq")),
    "--calib-method": ("calib_method", None, ("ptq", "qat")),
    "--percentile": ("percentile", 99.99, ("ptq", "qat")),
    "--bias-correction": ("bias_correction", None, ("ptq",)),
    "--allow-float": ("allow_float", [], ("ptq", "qat")),
    "--head": ("head", "logits", ("ptq", "qat")),
    "--val-data": ("val_data", None, ("ptq", "qat", "ort-cpu")),
    "--val-max-frames": ("val_max_frames", None, ("ptq", "qat")),
    "--max-drop": ("max_drop", None, ("ptq", "qat", "ort-cpu")),
    "--class-drop": ("class_drop", None, ("ptq", "qat", "ort-cpu")),
    "--sensitivity-frames": ("sensitivity_frames", 16, ("ptq", "qat", "ort-cpu")),
    "--cast-fp16": ("cast_fp16", False, ("ptq", "qat")),
    "--reduce-range": ("reduce_range", "auto", ("ort-cpu",)),
    "--per-tensor": ("per_tensor", False, ("ort-cpu",)),
}


def _check_options(args: argparse.Namespace) -> None:
    """Refuse options the chosen method would ignore (Ultralytics-style), one clear line."""
    from edgeseg.errors import UnsupportedOptionError

    bad = [
        opt
        for opt, (attr, default, methods) in _METHOD_OPTIONS.items()
        if args.method not in methods and getattr(args, attr) != default
    ]
    if bad:
        which = {o: "/".join(_METHOD_OPTIONS[o][2]) for o in bad}
        raise UnsupportedOptionError(
            f"--method {args.method} does not use " + ", ".join(f"{o} (only {m})" for o, m in which.items())
        )


def _mixed_request(args: argparse.Namespace):
    """The --max-drop request (None without it); --class-drop / --cast-fp16 / --sensitivity-frames need it."""
    from edgeseg.errors import UnsupportedOptionError
    from edgeseg.quant.mixed_ptq import MixedRequest

    if args.max_drop is None:
        given = [o for o, a, d in _MIXED_ONLY if getattr(args, a) != d]
        if given:
            raise UnsupportedOptionError(
                f"{', '.join(given)} only work with --max-drop (the accuracy budget)"
            )
        return None
    return MixedRequest(args.max_drop, args.class_drop, args.sensitivity_frames, args.cast_fp16)


_MIXED_ONLY = (
    ("--class-drop", "class_drop", None),
    ("--sensitivity-frames", "sensitivity_frames", 16),
    ("--cast-fp16", "cast_fp16", False),
)


def run(args: argparse.Namespace) -> int:
    from edgeseg.quant.pipeline import quantize

    _check_options(args)
    quantize(
        args.checkpoint,
        method=args.method,
        output=args.output,
        calib=args.calib,
        calib_method=args.calib_method,
        bias_correction=args.bias_correction,
        percentile=args.percentile,
        num_calib=args.num_calib,
        calib_batch=args.calib_batch,
        size=args.size,
        dynamic=args.dynamic,
        allow_float=args.allow_float,
        data=args.data,
        epochs=args.epochs,
        lr=args.lr,
        batch=args.batch,
        crop=args.crop,
        class_weights=not args.no_class_weights,
        max_steps=args.max_steps,
        save_checkpoint=args.save_checkpoint,
        val_data=args.val_data,
        val_split=args.val_split,
        val_max_frames=args.val_max_frames,
        mixed=_mixed_request(args),
        reduce_range=args.reduce_range,
        per_channel=not args.per_tensor,
        device=args.device,
        seed=args.seed,
        progress=not args.no_progress,
        command=args.command_line,
        head=args.head,
    )
    return 0
