"""Facts about an ONNX file a build needs: its inputs (static or dynamic dims), whether it is a
Q/DQ (explicitly quantized) model, and the optimization profile for dynamic dims.

TensorRT silently sets dynamic dims without a profile to 1, so a dynamic input without
``--shapes min/opt/max`` is refused here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, Tuple

from edgeseg.errors import BuildError

QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})

Shape = Tuple[int, ...]  # typing.Tuple: also evaluates on Python 3.8 (JetPack 5)


@dataclass(frozen=True)
class OnnxInput:
    """One graph input. ``dims`` holds ints for static dims and the dim name (or "?") for dynamic ones."""

    name: str
    dims: tuple[int | str, ...]

    @property
    def dynamic(self) -> bool:
        return any(not isinstance(d, int) for d in self.dims)

    def text(self) -> str:
        return "x".join(str(d) for d in self.dims)


@dataclass(frozen=True)
class Profile:
    """min/opt/max shapes for one input (equal for a static input)."""

    name: str
    min: Shape
    opt: Shape
    max: Shape

    @property
    def static(self) -> bool:
        return self.min == self.opt == self.max

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.name, "min": list(self.min), "opt": list(self.opt), "max": list(self.max)}


def load_header(path: str | os.PathLike) -> Any:
    """Load the ModelProto without external data (graph, metadata, initializers stored inline)."""
    import onnx

    p = Path(path)
    if not p.is_file():
        raise BuildError(f"{p}: ONNX file not found")
    try:
        return onnx.load(str(p), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises several kinds
        raise BuildError(f"{p}: not a readable ONNX model ({e.__class__.__name__}: {str(e)[:200]})") from e


def graph_inputs(model: Any) -> list[OnnxInput]:
    """Real inputs (initializers listed as inputs in old exports are skipped)."""
    inits = {i.name for i in model.graph.initializer}
    out = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        dims: list[int | str] = []
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
            else:
                dims.append(d.dim_param or "?")
        out.append(OnnxInput(vi.name, tuple(dims)))
    return out


def is_qdq(model: Any) -> bool:
    """True when the graph (or a subgraph function) holds QuantizeLinear/DequantizeLinear nodes."""
    if any(n.op_type in QDQ_OPS for n in model.graph.node):
        return True
    return any(n.op_type in QDQ_OPS for f in model.functions for n in f.node)


def parse_shapes(text: str) -> tuple[str | None, Shape, Shape, Shape]:
    """'[NAME:]1x3x360x480/1x3x360x480/4x3x360x480' -> (name or None, min, opt, max)."""
    name = None
    body = text.strip()
    if ":" in body:
        name, body = body.rsplit(":", 1)
        name = name.strip() or None
    parts = body.split("/")
    if len(parts) != 3:
        raise BuildError(
            f"--shapes {text!r}: expected three shapes min/opt/max, e.g. 1x3x360x480/1x3x360x480/4x3x360x480"
        )
    shapes = []
    for part in parts:
        try:
            dims = tuple(int(v) for v in part.lower().split("x"))
        except ValueError:
            raise BuildError(f"--shapes {text!r}: {part!r} is not a shape like 1x3x360x480") from None
        if not dims or min(dims) < 1:
            raise BuildError(f"--shapes {text!r}: {part!r} must be positive numbers like 1x3x360x480")
        shapes.append(dims)
    return name, shapes[0], shapes[1], shapes[2]


def _example(inp: OnnxInput) -> str:
    guess = [d if isinstance(d, int) else 1 for d in inp.dims]
    if len(guess) == 4 and not isinstance(inp.dims[0], int):
        big = [4] + guess[1:]
    else:
        big = guess
    if len(inp.dims) == 4:
        for i in (2, 3):
            if not isinstance(inp.dims[i], int):
                guess[i] = big[i] = 360 if i == 2 else 480
    f = "x".join
    return f"{f(map(str, guess))}/{f(map(str, guess))}/{f(map(str, big))}"


def resolve_profile(inputs: Sequence[OnnxInput], shapes: str | None) -> Profile:
    """The profile for the model's single input: static dims as they are, dynamic ones from ``shapes``."""
    if len(inputs) != 1:
        raise BuildError(
            f"the ONNX has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
            "edgeseg builds single-input segmentation models"
        )
    inp = inputs[0]
    if shapes is None:
        if inp.dynamic:
            raise BuildError(
                f"input {inp.name!r} has dynamic dims {inp.text()}: TensorRT would silently set them to 1. "
                f"Give an optimization profile with --shapes min/opt/max, e.g. --shapes {_example(inp)}, "
                "or export with static shapes"
            )
        static = tuple(int(d) for d in inp.dims)  # type: ignore[arg-type]
        return Profile(inp.name, static, static, static)
    name, mn, opt, mx = parse_shapes(shapes)
    if name is not None and name != inp.name:
        raise BuildError(f"--shapes names input {name!r}, but the ONNX input is {inp.name!r}")
    for label, s in (("min", mn), ("opt", opt), ("max", mx)):
        if len(s) != len(inp.dims):
            raise BuildError(
                f"--shapes {label} {'x'.join(map(str, s))} has {len(s)} dims; input {inp.name!r} has "
                f"{len(inp.dims)} ({inp.text()})"
            )
        for i, d in enumerate(inp.dims):
            if isinstance(d, int) and s[i] != d:
                raise BuildError(
                    f"--shapes {label} {'x'.join(map(str, s))} sets dim {i} to {s[i]}, but the ONNX input "
                    f"{inp.name!r} fixes it to {d} ({inp.text()})"
                )
    if any(not (a <= b <= c) for a, b, c in zip(mn, opt, mx)):
        raise BuildError(f"--shapes {shapes!r}: need min <= opt <= max in every dim")
    return Profile(inp.name, mn, opt, mx)


def load_exported(path: str | os.PathLike) -> tuple[Any, Any, bool]:
    """``(model, card, qdq)`` of an edgeseg-exported ONNX: the header (``load_header``), its model card
    and whether it is a Q/DQ graph; BuildError when it carries no card."""
    from edgeseg.card import card_from_onnx
    from edgeseg.errors import EdgesegError

    model = load_header(path)
    try:
        card = card_from_onnx(model)
    except EdgesegError as e:
        raise BuildError(f"{e}; export the model with `edgeseg export` so it carries its card") from e
    return model, card, is_qdq(model)


def check_threads(threads: int | None) -> None:
    """BuildError unless ``threads`` is None or >= 1."""
    if threads is not None and threads < 1:
        raise BuildError(f"--threads must be >= 1, found {threads}")
