"""edgeseg export: checkpoint -> ONNX (card inside), optional onnxslim, then a parity check on real frames.

Nothing is written to the output path unless the export, the ONNX checks and the parity check all
pass: the file is built beside it under a temporary name and renamed at the end.
"""

from __future__ import annotations

import argparse

from edgeseg.commands._args import float_in, int_in, size_in

#: Export sizes: CGNet and DeepLab downsample by 8 to 16; the parity probe's synthetic scenes take 32..4096.
MIN_SIDE, MAX_SIDE = 32, 4096

HELP = "export a checkpoint to ONNX (model card in metadata) and check ONNX Runtime against PyTorch on real frames"

PARITY_FRAMES = 4


def add_arguments(p: argparse.ArgumentParser) -> None:
    from edgeseg.export.parity import DEFAULT_AGREE_MIN, DEFAULT_ATOL, DEFAULT_RTOL

    p.add_argument("checkpoint", help="edgeseg .pt checkpoint")
    p.add_argument("-o", "--output", default=None, help="output .onnx (default: the checkpoint path with .onnx)")
    p.add_argument("--size", type=size_in(MIN_SIDE, MAX_SIDE), default=None, help=f"input HEIGHTxWIDTH, sides {MIN_SIDE}..{MAX_SIDE} (default: the card's input_size)")
    p.add_argument("--batch", type=int_in(1), default=1, help="static batch size (default 1; ignored with --dynamic)")
    p.add_argument("--dynamic", action="store_true", help="dynamic batch, height and width")
    p.add_argument("--opset", type=int_in(17), default=17, help="ONNX opset (default 17, the minimum)")
    p.add_argument("--simplify", action="store_true", help="simplify the graph with onnxslim (card kept, re-checked)")
    p.add_argument("--parity-data", default=None, metavar="SPEC",
                   help=f"dataset for the parity check, first {PARITY_FRAMES} val frames: camvid:PATH, cityscapes:PATH, "
                        "folder:PATH or synthetic[:N] (default: synthetic street scenes at the export size)")
    p.add_argument("--atol", type=float_in(0), default=DEFAULT_ATOL, help=f"parity: absolute logit tolerance (default {DEFAULT_ATOL:g})")
    p.add_argument("--rtol", type=float_in(0), default=DEFAULT_RTOL, help=f"parity: relative logit tolerance (default {DEFAULT_RTOL:g})")
    p.add_argument("--agree-min", type=float_in(0, 100, above=True), default=100 * DEFAULT_AGREE_MIN,
                   help=f"parity: minimum argmax agreement in %% (default {100 * DEFAULT_AGREE_MIN:g})")


def _parity_frames(spec: str | None, size: tuple[int, int]) -> tuple[list, str]:
    """First PARITY_FRAMES frames of ``spec`` (val split), else synthetic scenes at ``size``."""
    from edgeseg.data.datasets import open_dataset

    spec = spec or f"synthetic:{PARITY_FRAMES}"
    ds = open_dataset(spec, "val", size=size)
    n = min(PARITY_FRAMES, len(ds))
    return [ds[i][0] for i in range(n)], spec


def _simplify(path, card) -> None:
    """onnxslim in place, card re-attached, checker + shape inference re-run."""
    import onnx

    from edgeseg._io import atomic_write_bytes
    from edgeseg.card import card_to_onnx
    from edgeseg.errors import ExportError, MissingDependencyError

    try:
        import onnxslim
    except ImportError as e:
        raise MissingDependencyError("onnxslim", "simplify", hint="needed for --simplify") from e
    proto = onnx.load(str(path))
    try:
        slim = onnxslim.slim(proto)
    except Exception as e:  # noqa: BLE001 - onnxslim raises many kinds
        raise ExportError(f"onnxslim could not simplify the graph: {str(e).splitlines()[0][:300]}") from e
    card_to_onnx(slim, card)
    try:
        onnx.checker.check_model(slim, full_check=False)
        slim = onnx.shape_inference.infer_shapes(slim, check_type=True, strict_mode=True)
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"the onnxslim-simplified graph failed onnx.checker/shape inference: {e}") from e
    atomic_write_bytes(path, slim.SerializeToString())


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from edgeseg._io import atomic_path, check_output_path
    from edgeseg.errors import EdgesegError, ExportError

    ckpt = Path(args.checkpoint)
    out = Path(args.output) if args.output else ckpt.with_suffix(".onnx")
    if out.suffix.lower() != ".onnx":
        raise EdgesegError(f"output {out} should end in .onnx")
    if out.resolve() == ckpt.resolve():
        raise EdgesegError(f"output {out} would overwrite the checkpoint")
    check_output_path(out)  # missing/unwritable folder: fail before any work

    from edgeseg.export.onnx import export_onnx
    from edgeseg.export.parity import check_parity
    from edgeseg.train.checkpoint import checkpoint_source, load_checkpoint

    t0 = time.perf_counter()
    model, card, _ = load_checkpoint(ckpt)
    size = tuple(args.size or card.input_size)
    card = card.replace(
        source=checkpoint_source(ckpt),
        extra={**card.extra, "export": {"opset": args.opset, "dynamic": bool(args.dynamic),
                                        "batch": None if args.dynamic else args.batch, "simplified": bool(args.simplify)}},
    )
    frames, spec = _parity_frames(args.parity_data, size)
    with atomic_path(out) as tmp:
        export_onnx(model, card, tmp, size=size, batch=1 if args.dynamic else args.batch, dynamic=args.dynamic, opset=args.opset)
        if args.simplify:
            _simplify(tmp, card.replace(input_size=size))
        # check_parity opens the file with OrtRunner, which also checks the graph against the card.
        # A dynamic export is checked at a second size too: shapes baked in as constants by the
        # tracer would pass at the export size and fail at any other.
        sizes = [size] + ([_second_size(size)] if args.dynamic else [])
        results = []
        for hw in sizes:
            res = check_parity(tmp, model, frames, card.replace(input_size=size), atol=args.atol, rtol=args.rtol,
                               agree_min=args.agree_min / 100, size=hw)
            if not res.passed:
                raise ExportError(
                    f"parity check failed on {res.frames} frames of {spec} at {hw[0]}x{hw[1]}: {res.summary()}; "
                    f"nothing written to {out}"
                )
            results.append(res)
    secs = time.perf_counter() - t0
    from edgeseg.backends._build import human_size

    also = f", also at {sizes[1][0]}x{sizes[1][1]}: max|diff|={results[1].max_abs_diff:.2e}" if len(sizes) > 1 else ""
    print(f"exported {out} ({human_size(out.stat().st_size)}, opset {args.opset}, {secs:.1f} s), parity: {results[0].summary()} "
          f"[{results[0].frames} frames of {spec}{also}]")
    return 0


def _second_size(size: tuple[int, int]) -> tuple[int, int]:
    """About half the export size, in multiples of 8 (at least 32), different from it."""
    h, w = (max(32, v // 2 // 8 * 8) for v in size)
    return (h, w) if (h, w) != tuple(size) else (size[0] + 8, size[1] + 8)
