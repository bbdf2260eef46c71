"""edgeseg quantize: FP32 checkpoint -> INT8 Q/DQ ONNX for TensorRT (PTQ or QAT), or ONNX Runtime CPU INT8."""

from __future__ import annotations

import argparse

from edgeseg.commands._args import deprecated_alias, parse_size, positive_int

HELP = "INT8: PTQ/QAT to a TensorRT-ready Q/DQ ONNX (checked), or --method ort-cpu for ONNX Runtime CPU"

CALIB_METHODS = ("max", "percentile", "entropy", "mse", "all")
#: Default activation calibration per method (see docs/quantization.md for the measurements).
DEFAULT_CALIB = {"ptq": "entropy", "qat": "entropy"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="FP32 .pt checkpoint (ort-cpu also takes an FP32 .onnx from edgeseg export)")
    p.add_argument("--method", choices=("ptq", "qat", "ort-cpu"), default="ptq",
                   help="ptq (default): calibrate only; qat: calibrate then fine-tune; ort-cpu: ONNX Runtime "
                        "static quantization (asymmetric, CPU only, NOT for TensorRT)")
    p.add_argument("--calib", default=None, metavar="LIST|DIR|SPEC",
                   help="calibration frames: a list file, a folder of images, or camvid:PATH / synthetic:N "
                        "(required for ptq and ort-cpu; qat defaults to --data)")
    p.add_argument("--calib-method", choices=CALIB_METHODS, default=None,
                   help="activation ranges: max, percentile, entropy (TensorRT KL), mse, or all (evaluate each "
                        "on --val-data and keep the best). Default: entropy")
    p.add_argument("--percentile", type=float, default=99.99, help="for --calib-method percentile (default 99.99)")
    p.add_argument("--calib-num", dest="num_calib", type=positive_int, default=256, metavar="N",
                   help="calibration frames (default 256)")
    deprecated_alias(p, "--num-calib", new="--calib-num", dest="num_calib", type=positive_int)
    p.add_argument("--calib-batch", type=int, default=8, help="frames per calibration batch (default 8)")
    p.add_argument("--size", type=parse_size, default=None, metavar="HxW",
                   help="input size of the INT8 model and its calibration (default: the card's input size)")
    p.add_argument("-o", "--output", default=None,
                   help="output .onnx (default: beside the checkpoint, <name>_int8.onnx or <name>_int8_cpu.onnx)")
    p.add_argument("--dynamic", action="store_true", help="dynamic batch/height/width in the ONNX (default static)")
    p.add_argument("--allow-float", action="append", default=[], metavar="OP",
                   help="op type left wholly in float without failing the Q/DQ check, e.g. MatMul for PSPNet's "
                        "pooling; repeatable (default: none)")
    qat = p.add_argument_group("QAT")
    qat.add_argument("--data", default=None, help="training data for QAT: camvid:PATH, folder:PATH or synthetic[:N]")
    qat.add_argument("--epochs", type=int, default=1, help="QAT epochs (default 1)")
    qat.add_argument("--lr", type=float, default=1e-4, help="QAT learning rate (default 1e-4, Adam, poly decay)")
    qat.add_argument("--batch", type=int, default=8, help="QAT batch size (default 8)")
    qat.add_argument("--crop", type=parse_size, default=(360, 360), metavar="HxW", help="QAT crop (default 360)")
    qat.add_argument("--no-class-weights", action="store_true", help="plain cross-entropy instead of CGNet's weighted CE")
    qat.add_argument("--max-steps", type=int, default=None, help="at most this many QAT steps per epoch (smoke runs)")
    qat.add_argument("--save-checkpoint", default=None, metavar="PT",
                     help="also write the QAT weights as a checkpoint here (default: not written); "
                          "edgeseg export/eval read it as FP32 weights")
    val = p.add_argument_group("choosing the calibration method (--calib-method all)")
    val.add_argument("--val-data", default=None, help="dataset spec for the comparison (default --data), split --val-split")
    val.add_argument("--val-split", default="val", help="split for the comparison (default val)")
    val.add_argument("--val-max-frames", type=int, default=None, help="evaluate at most N frames per method")
    cpu = p.add_argument_group("ort-cpu")
    cpu.add_argument("--reduce-range", choices=("auto", "on", "off"), default="auto",
                     help="7-bit weights for x86 CPUs without VNNI (default auto: decided from this CPU)")
    cpu.add_argument("--per-tensor", action="store_true", help="per-tensor weights instead of per-channel")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda for calibration and QAT")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")


#: Options that only one method uses: option -> (attribute, default, methods that accept it).
_METHOD_OPTIONS = {
    "--epochs": ("epochs", 1, ("qat",)), "--lr": ("lr", 1e-4, ("qat",)), "--batch": ("batch", 8, ("qat",)),
    "--crop": ("crop", (360, 360), ("qat",)), "--no-class-weights": ("no_class_weights", False, ("qat",)),
    "--max-steps": ("max_steps", None, ("qat",)), "--save-checkpoint": ("save_checkpoint", None, ("qat",)),
    "--data": ("data", None, ("qat", "ptq")),
    "--calib-method": ("calib_method", None, ("ptq", "qat")), "--percentile": ("percentile", 99.99, ("ptq", "qat")),
    "--allow-float": ("allow_float", [], ("ptq", "qat")),
    "--val-data": ("val_data", None, ("ptq", "qat")), "--val-max-frames": ("val_max_frames", None, ("ptq", "qat")),
    "--reduce-range": ("reduce_range", "auto", ("ort-cpu",)), "--per-tensor": ("per_tensor", False, ("ort-cpu",)),
}


def _check_options(args: argparse.Namespace) -> None:
    """Refuse options the chosen method would ignore (Ultralytics-style), one clear line."""
    from edgeseg.errors import UnsupportedOptionError

    bad = [opt for opt, (attr, default, methods) in _METHOD_OPTIONS.items()
           if args.method not in methods and getattr(args, attr) != default]
    if bad:
        which = {o: "/".join(_METHOD_OPTIONS[o][2]) for o in bad}
        raise UnsupportedOptionError(
            f"--method {args.method} does not use " + ", ".join(f"{o} (only {m})" for o, m in which.items())
        )


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


def _run_ort_cpu(args, out) -> int:
    import tempfile
    from pathlib import Path

    from edgeseg.card import card_from_onnx
    from edgeseg.data.calib import CalibrationSet
    from edgeseg.errors import QuantizationError
    from edgeseg.quant.ort_cpu import LABEL, quantize_ort_cpu

    if not args.calib:
        raise QuantizationError("--method ort-cpu needs --calib LIST|DIR|SPEC")
    rr = {"auto": None, "on": True, "off": False}[args.reduce_range]
    src = Path(args.checkpoint)
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
            card = card.replace(input_size=tuple(args.size or card.input_size))
            fp32 = export_onnx(model, card, Path(d) / "fp32.onnx", size=card.input_size)
        calib = CalibrationSet(args.calib, card, num=args.num_calib, batch=args.calib_batch,
                               size=args.size or card.input_size, seed=args.seed)
        print(f"calibrating on {len(calib)} frames from {args.calib} (onnxruntime MinMax)")
        quantize_ort_cpu(fp32, out, calib=calib, per_channel=not args.per_tensor, reduce_range=rr)
        ratio = out.stat().st_size / fp32.stat().st_size
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {ratio:.2f}x the FP32 ONNX)")
    print(f"NOTE: {LABEL}. For TensorRT use --method ptq or qat.")
    return 0


def run(args: argparse.Namespace) -> int:
    import time

    import torch

    from edgeseg._io import check_output_path
    from edgeseg.errors import QuantizationError

    _check_options(args)
    out = check_output_path(args.output or _default_output(args.checkpoint, args.method))
    if out.suffix.lower() != ".onnx":
        raise QuantizationError(f"output {out} should end in .onnx")
    if args.method == "ort-cpu":
        return _run_ort_cpu(args, out)

    from pathlib import Path

    from edgeseg.data.calib import CalibrationSet
    from edgeseg.quant.ptq import calib_facts, ptq, quantized_card
    from edgeseg.quant.qdq_export import export_qdq_onnx, qdq_summary
    from edgeseg.train.checkpoint import checkpoint_source, load_checkpoint

    t0 = time.perf_counter()
    ckpt_out = None
    if args.method == "qat":
        if not args.data:
            raise QuantizationError("--method qat needs --data SPEC (the training set to fine-tune on)")
        ckpt_out = check_output_path(args.save_checkpoint) if args.save_checkpoint else None  # only when asked for
    calib_src = args.calib or (args.data if args.method == "qat" else None)
    if not calib_src:
        raise QuantizationError("--method ptq needs --calib LIST|DIR|SPEC (the calibration frames)")
    method = args.calib_method or DEFAULT_CALIB[args.method]
    val_spec = args.val_data or args.data
    if method == "all" and not val_spec:
        raise QuantizationError("--calib-method all needs --val-data (or --data) to compare the methods on")
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    progress = not args.no_progress

    model, card, _ = load_checkpoint(args.checkpoint)
    if card.precision != "fp32":
        raise QuantizationError(f"{args.checkpoint}: is already {card.precision}; start from the FP32 checkpoint")
    size = tuple(args.size or card.input_size)
    card = card.replace(input_size=size)
    calib = CalibrationSet(calib_src, card, num=args.num_calib, batch=args.calib_batch, size=size, seed=args.seed)
    print(f"calibrating {card.arch} on {len(calib)} frames from {calib_src} at {size[0]}x{size[1]} (HxW)")
    qmodel, placement, _, stats = ptq(model, calib, method="max" if method == "all" else method,
                                      percentile=args.percentile, progress=progress, device=device)
    chosen = method
    if method == "all":
        from edgeseg.data.datasets import open_dataset
        from edgeseg.quant.compare import compare_methods

        val = open_dataset(val_spec, args.val_split, size=size)
        res = compare_methods(qmodel, stats, model.to(device), card, val, percentile=args.percentile,
                              max_frames=args.val_max_frames, progress=progress, device=device)
        chosen = res["best"]
        print(f"calibration methods on {val_spec} [{args.val_split}]: FP32 mIoU {100 * res['fp32']:.2f}%")
        for m, v in res["methods"].items():
            print(f"  {m:<10} INT8 mIoU {100 * v:.2f}%{'   <- best' if m == chosen else ''}")
    qat_info = None
    if args.method == "qat":
        from edgeseg.data.datasets import open_dataset
        from edgeseg.quant.qat import qat_finetune

        train = open_dataset(args.data, "train", size=size)
        qat_info = qat_finetune(qmodel, card, train, epochs=args.epochs, lr=args.lr, batch=args.batch, crop=args.crop,
                                class_weights=not args.no_class_weights, max_steps_per_epoch=args.max_steps,
                                seed=args.seed, device=device, progress=progress)
        qat_info["data"] = args.data
        print(f"QAT: {qat_info['steps']} steps in {qat_info['seconds']:.0f} s, loss per epoch "
              + ", ".join(f"{v:.4f}" for v in qat_info["loss"]))
    qcard = quantized_card(card, method=chosen, calib_facts=calib_facts(calib), placement=placement,
                           percentile=args.percentile, source=checkpoint_source(args.checkpoint), qat=qat_info)
    qmodel.cpu()
    if args.allow_float:
        qcard.extra["quantization"]["float_ops"] = sorted(args.allow_float)
    export_qdq_onnx(qmodel, qcard, out, size=size, dynamic=args.dynamic, allow_float=args.allow_float)
    if ckpt_out is not None:
        from edgeseg.quant.qcheckpoint import save_quantized_checkpoint

        save_quantized_checkpoint(ckpt_out, qmodel=qmodel, placement=placement, card=qcard)
        print(f"wrote {ckpt_out} (the QAT weights: `edgeseg export` and `eval` read them as an FP32 checkpoint)")
    import onnx

    s = qdq_summary(onnx.load(str(out)))
    ratio = out.stat().st_size / _fp32_size(model.cpu(), card, size)
    print(f"Q/DQ check OK: {s['quantized_ops']} quantized ops, {s['quantize_linear']} Q / {s['dequantize_linear']} DQ, "
          f"{s['int8_weights']} int8 weight tensors")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {ratio:.2f}x the FP32 ONNX; {args.method}, "
          f"calibration {chosen}) in {time.perf_counter() - t0:.0f} s")
    return 0
