"""``export_checkpoint``: checkpoint -> ONNX (card inside), optional onnxslim, then a parity check on
real frames. The library function behind ``edgeseg export`` (the command only parses and prints).

Nothing is written to the output path unless the export, the ONNX checks and the parity check all
pass: the file is built beside it under a temporary name and renamed at the end.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edgeseg.errors import EdgesegError
from edgeseg.export.compare import TOLERANCES, Comparison
from edgeseg.runner import Runner

#: Export sizes: CGNet and DeepLab downsample by 8 to 16; the parity probe's synthetic scenes take 32..4096.
MIN_SIDE, MAX_SIDE = 32, 4096
#: Frames the parity check runs (the first val frames of ``parity_data``).
PARITY_FRAMES = 4


@dataclass(frozen=True)
class ExportResult:
    """What ``export_checkpoint`` wrote: the file, its opset, the parity results (one per size checked)."""

    path: Path
    opset: int
    seconds: float
    parity: tuple[Comparison, ...]
    sizes: tuple[tuple[int, int], ...]
    parity_data: str
    head: str = "logits"

    def summary(self) -> str:
        """The one success line."""
        from edgeseg._io import human_size

        first = self.parity[0]
        also = ""
        if len(self.sizes) > 1:
            second = self.parity[1]
            also = f", also at {self.sizes[1][0]}x{self.sizes[1][1]}: " + (
                second.summary() if second.rule == "labels" else f"max|diff|={second.max_abs_diff:.2e}"
            )
        head = "" if self.head == "logits" else f", head {self.head}"
        return (
            f"exported {self.path} ({human_size(self.path.stat().st_size)}, opset {self.opset}{head}, "
            f"{self.seconds:.1f} s), "
            f"parity: {first.summary()} [{first.frames} frames of {self.parity_data}{also}]"
        )


#: Bytes a traced forward pass holds per input value, a generous multiple (CGNet at 360x480 peaks near
#: 60x its float32 input; DeepLab v3 near 90x).
EXPORT_BYTES_PER_INPUT_VALUE = 4 * 128


def check_export_memory(*, batch: int, size: tuple[int, int], num_classes: int) -> None:
    """EdgesegError when tracing ``batch`` frames of ``size`` would need more memory than this machine
    has available (estimated from the input size; checked before the export allocates anything)."""
    import psutil

    need = batch * size[0] * size[1] * (3 + num_classes) * EXPORT_BYTES_PER_INPUT_VALUE
    avail = psutil.virtual_memory().available
    if need > avail:
        raise EdgesegError(
            f"--batch {batch} at {size[0]}x{size[1]}: the export would need about {need / 2**30:.1f} GiB, "
            f"this machine has {avail / 2**30:.1f} GiB available; use a smaller --batch (or --dynamic)"
        )


def export_checkpoint(
    checkpoint: str | os.PathLike,
    *,
    output: str | os.PathLike | None = None,
    size: tuple[int, int] | None = None,
    batch: int = 1,
    dynamic: bool = False,
    opset: int = 17,
    simplify: bool = False,
    parity_data: str | None = None,
    atol: float = TOLERANCES["export"].atol,
    rtol: float = TOLERANCES["export"].rtol,
    agree_min: float = TOLERANCES["export"].agree_min,
    head: str = "logits",
    open_onnx: Callable[[Path], Runner],
) -> ExportResult:
    """Export ``checkpoint`` to ``output`` (default: the checkpoint path with .onnx) at ``size`` (H, W;
    default the card's input size, sides in 32..4096), static ``batch`` (default 1; ignored when
    ``dynamic``), ONNX ``opset`` (default 17); ``simplify`` runs onnxslim. The parity check runs the
    first 4 val frames of ``parity_data`` (default: synthetic street scenes at the export size) under
    the comparator's "export" tolerance (``atol``/``rtol``/``agree_min`` override it; ``agree_min``
    is a fraction). ``head`` (default "logits"; ``edgeseg.export.head``): "labels" or "labels-lowres" end
    the graph in a uint8 label map, recorded in ``card.extra["head"]``; the parity check then compares
    label maps (the share of equal pixels must reach ``agree_min``). ``open_onnx(path)`` opens the
    fresh ONNX for that check: pass ``edgeseg.backends.open_runner`` (the onnxruntime backend's
    ``OrtRunner``, which also checks the graph against its card; ``edgeseg export`` and
    ``edgeseg.load(...).export`` do). Inputs are checked before anything is loaded or written."""
    from edgeseg._io import atomic_path, check_output_path
    from edgeseg.errors import EdgesegError, ExportError

    ckpt = Path(checkpoint)
    out = Path(output) if output else ckpt.with_suffix(".onnx")
    if out.suffix.lower() != ".onnx":
        raise EdgesegError(f"output {out} should end in .onnx")
    if out.resolve() == ckpt.resolve():
        raise EdgesegError(f"output {out} would overwrite the checkpoint")
    if size is not None and not all(MIN_SIDE <= v <= MAX_SIDE for v in size):
        raise EdgesegError(f"size {size[0]}x{size[1]}: height and width must be in {MIN_SIDE}..{MAX_SIDE}")
    if batch < 1 or opset < 17 or atol < 0 or rtol < 0 or not 0 < agree_min <= 1:
        raise EdgesegError(
            f"export: need batch >= 1, opset >= 17, atol/rtol >= 0, 0 < agree_min <= 1; found batch "
            f"{batch}, opset {opset}, atol {atol}, rtol {rtol}, agree_min {agree_min}"
        )
    from edgeseg.export.head import check_head

    check_head(head)
    check_output_path(out)  # missing/unwritable folder: fail before any work

    from edgeseg.export import onnx as onnx_export
    from edgeseg.export import parity
    from edgeseg.train.checkpoint import checkpoint_source, load_checkpoint

    t0 = time.perf_counter()
    model, card, _ = load_checkpoint(ckpt)
    check_head(head, model, arch=repr(card.arch))
    hw = tuple(size or card.input_size)
    check_export_memory(batch=1 if dynamic else batch, size=hw, num_classes=card.num_classes)
    card = card.replace(
        source=checkpoint_source(ckpt),
        extra={
            **card.extra,
            "export": {
                "opset": opset,
                "dynamic": bool(dynamic),
                "batch": None if dynamic else batch,
                "simplified": bool(simplify),
            },
        },
    )
    frames, spec = _parity_frames(parity_data, hw)
    with atomic_path(out) as tmp:
        onnx_export.export_onnx(
            model, card, tmp, size=hw, batch=1 if dynamic else batch, dynamic=dynamic, opset=opset, head=head
        )
        if simplify:
            _simplify(tmp, card.replace(input_size=hw))
        # open_onnx (OrtRunner from the CLI and the API) also checks the graph against the card.
        # A dynamic export is checked at a second size too: shapes baked in as constants by the
        # tracer would pass at the export size and fail at any other.
        sizes = [hw] + ([_second_size(hw)] if dynamic else [])
        results = []
        for s in sizes:
            res = parity.check_parity(
                tmp,
                model,
                frames,
                card.replace(input_size=hw),
                open_onnx=open_onnx,
                atol=atol,
                rtol=rtol,
                agree_min=agree_min,
                size=s,
                head=head,
            )
            if not res.passed:
                raise ExportError(
                    f"parity check failed on {res.frames} frames of {spec} at {s[0]}x{s[1]}: "
                    f"{res.summary()}; "
                    f"nothing written to {out}"
                )
            results.append(res)
    return ExportResult(
        path=out,
        opset=opset,
        seconds=time.perf_counter() - t0,
        parity=tuple(results),
        sizes=tuple(sizes),
        parity_data=spec,
        head=head,
    )


def _parity_frames(spec: str | None, size: tuple[int, int]) -> tuple[list[Any], str]:
    """First PARITY_FRAMES frames of ``spec`` (val split), else synthetic scenes at ``size``."""
    from edgeseg.data.datasets import open_dataset

    spec = spec or f"synthetic:{PARITY_FRAMES}"
    ds = open_dataset(spec, "val", size=size)
    n = min(PARITY_FRAMES, len(ds))
    return [ds[i][0] for i in range(n)], spec


def _simplify(path: Path, card: Any) -> None:
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


def _second_size(size: tuple[int, int]) -> tuple[int, int]:
    """About half the export size, in multiples of 8 (at least 32), different from it."""
    h, w = (max(32, v // 2 // 8 * 8) for v in size)
    return (h, w) if (h, w) != tuple(size) else (size[0] + 8, size[1] + 8)
