"""edgeseg check-qdq: static TensorRT INT8 Q/DQ rule check of an ONNX model."""

from __future__ import annotations

import argparse
from edgeseg.commands._policy import Io

HELP = "check an INT8 Q/DQ ONNX against TensorRT's explicit-quantization rules (exit 1 on violations)"

IO = Io(inputs=("model",))  # prints only


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="the .onnx file")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--allow-float",
        action="append",
        default=[],
        metavar="OP",
        help="op type (Conv, ConvTranspose, Gemm, MatMul) allowed to stay wholly in float; repeatable",
    )


def run(args: argparse.Namespace) -> int:
    import json

    from edgeseg.quant.qdq_check import check_qdq, count_qdq_nodes, count_quantized_ops, format_violations

    floats = _documented_float_nodes(args.model)
    violations = check_qdq(args.model, allow_float=args.allow_float, allow_float_nodes=floats)
    if count_qdq_nodes(args.model) == 0:  # a float model: one line, not a violation per layer
        msg = "no Q/DQ nodes (a float model): run edgeseg quantize first"
        print(
            json.dumps(
                {"model": str(args.model), "ok": False, "quantized_ops": 0, "error": msg, "violations": []}
            )
            if args.json
            else f"{args.model}: {msg}"
        )
        return 1
    n_ok = count_quantized_ops(args.model)
    if args.json:
        print(
            json.dumps(
                {
                    "model": str(args.model),
                    "ok": not violations,
                    "quantized_ops": n_ok,
                    "float_layers": floats,
                    "target": _target(args.model),
                    "violations": [v.to_dict() for v in violations],
                },
                indent=2,
            )
        )
        return 1 if violations else 0
    if violations:
        print(f"{args.model}: {len(violations)} Q/DQ rule violation(s) ({_target_line(args.model)}):")
        print(format_violations(violations, limit=200))
        recorded = sorted(set(_recorded_float_ops(args.model)) - set(args.allow_float))
        if recorded:
            flags = " ".join(f"--allow-float {op}" for op in recorded)
            print(
                f"note: its card says `edgeseg quantize` left {', '.join(recorded)} in float on purpose; "
                f"check with {flags}"
            )
        return 1
    if n_ok == 0:
        print(f"{args.model}: no quantized ops; nothing to check")
        return 1
    note = f" ({len(floats)} layers in float, as its card documents: mixed precision)" if floats else ""
    print(f"OK: {n_ok} quantized ops{note}; {_target_line(args.model)}")
    return 0


def _recorded_float_ops(path: str) -> list[str]:
    """Op types the file's card says were quantized with ``--allow-float`` (none without a card)."""
    from edgeseg.card import card_from_onnx
    from edgeseg.errors import EdgesegError

    try:
        return list(card_from_onnx(path).extra.get("quantization", {}).get("float_ops", []))
    except EdgesegError:
        return []


def _documented_float_nodes(path: str) -> list[str]:
    """ONNX nodes of the layers the card's mixed-precision record leaves in float (none without one)."""
    import onnx

    from edgeseg.card import card_from_onnx
    from edgeseg.errors import EdgesegError
    from edgeseg.quant.mixed import onnx_nodes

    try:
        layers = card_from_onnx(path).extra.get("quantization", {}).get("mixed", {}).get("float_layers", [])
    except EdgesegError:
        return []
    return onnx_nodes(onnx.load(path), layers) if layers else []


def _target(path: str) -> str | None:
    """The Q/DQ target the file's card names ("tensorrt" for a card without one; None without a card)."""
    from edgeseg.card import card_from_onnx
    from edgeseg.errors import EdgesegError
    from edgeseg.quant.placement_cpu import target_of

    try:
        return target_of(card_from_onnx(path))
    except EdgesegError:
        return None


def _target_line(path: str) -> str:
    t = _target(path)
    if t is None:
        return "placed for: unknown (no card)"
    if t == "cpu":
        return (
            "placed for: cpu (OpenVINO / ONNX Runtime; not for TensorRT: edgeseg quantize --target tensorrt)"
        )
    return f"placed for: {t}"
