"""In-process measurements for one benchmark row: latency per batch size, mIoU, model facts.

Called by the row worker (``edgeseg.bench._worker``), which runs each row in its own process.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeseg.bench.memory import MB
from edgeseg.bench.stats import summarize, throughput
from edgeseg.card import head_of


def _sync_fn(runner: Any) -> Callable[[], None]:
    """A CUDA synchronize for torch runners on a GPU; runners that return host arrays are already
    synchronous."""
    dev = str(getattr(runner, "device", "cpu"))
    torch = sys.modules.get("torch")
    if torch is not None and dev.startswith("cuda"):
        return torch.cuda.synchronize
    return lambda: None


def time_infer(runner: Any, batch: np.ndarray, *, warmup: int, runs: int) -> tuple[list[float], np.ndarray]:
    """``warmup`` untimed calls, then ``runs`` calls timed with ``time.perf_counter`` (ms each).

    Returns (timings in ms, the last output)."""
    sync = _sync_fn(runner)
    out = None
    for _ in range(warmup):
        out = runner.infer(batch)
    sync()
    timings = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = runner.infer(batch)
        sync()
        timings.append((time.perf_counter() - t0) * 1000.0)
    return timings, out


def check_logits(
    out: Any, *, batch: int, num_classes: int, size: tuple[int, int], head: str = "logits"
) -> str | None:
    """A problem with a runner's output (wrong shape, NaN/Inf), or None when it looks right. ``head``
    (default "logits"; ``card.extra["head"]``): a labels head's output is N x 1 x H x W uint8."""
    shape = getattr(out, "shape", None)
    labels = head != "logits"
    expected = (batch, 1 if labels else num_classes, size[0], size[1])
    if shape is None or tuple(shape) != expected:
        return (
            f"{'labels' if labels else 'logits'} shape {None if shape is None else tuple(shape)}, "
            f"expected {expected}"
        )
    if labels and getattr(out, "dtype", None) != np.uint8:
        return f"labels of type {out.dtype}, expected uint8"
    bad = int((~np.isfinite(out)).sum())
    if bad:
        return f"{bad} non-finite logits (NaN/Inf) of {out.size}"
    return None


def latency_entry(
    runner: Any, *, batch: int, size: tuple[int, int], warmup: int, runs: int, seed: int = 0
) -> dict[str, Any]:
    """Latency statistics, raw timings and throughput at one batch size on a fixed random input."""
    x = np.random.default_rng(seed).standard_normal((batch, 3, size[0], size[1])).astype(np.float32)
    timings, out = time_infer(runner, x, warmup=warmup, runs=runs)
    stats = summarize(timings)
    return {
        "batch": batch,
        "state": "ok",
        "latency_ms": stats,
        "throughput_fps": throughput(batch, stats["mean"]),
        "timings_ms": [round(t, 4) for t in timings],
        "output_problem": check_logits(
            out, batch=batch, num_classes=runner.card.num_classes, size=size, head=head_of(runner.card)
        ),
    }


def evaluate_miou(
    runner: Any,
    dataset: Any,
    *,
    size: tuple[int, int],
    max_frames: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """mIoU and per-class IoU of ``runner`` on ``dataset`` with frames resized to ``size`` (H, W):
    ``edgeseg.train.evaluate.evaluate`` (the one evaluator) without the confusion matrix."""
    from edgeseg.train.evaluate import evaluate

    res = evaluate(runner, dataset, size=size, max_frames=max_frames, progress=progress, desc="mIoU")
    res.pop("confusion_matrix", None)
    return res


def file_size_mb(path: str | os.PathLike) -> float | None:
    """Size of an artifact's model files in MiB (``BackendSpec.artifact_size``: an OpenVINO ``.xml``
    with its ``.bin``, all files of an ``.mlpackage`` folder), or None when it does not exist."""
    from edgeseg.backends import spec_for
    from edgeseg.errors import EdgesegError

    p = Path(path)
    if not p.exists():
        return None
    try:
        return spec_for(p).artifact_size(p) / MB
    except EdgesegError:  # not an artifact kind: the file itself
        return (
            p.stat().st_size if p.is_file() else sum(q.stat().st_size for q in p.rglob("*") if q.is_file())
        ) / MB


def model_facts(artifact: str | os.PathLike, card: Any, *, size: tuple[int, int]) -> dict[str, Any]:
    """Parameters, GFLOPs and MB moved (per image at ``size``) of the model behind an artifact.

    A ``.pt`` checkpoint counts its own loaded weights; other artifacts use ``card.extra``
    ("params") when present, else build the architecture named in the card. GFLOPs come from
    ``edgeseg.bench.flops.count_flops`` on the float model (quantization does not change the count),
    ``conv_gflops`` their dense / channel-wise convolution parts (``conv_flops_by_kind``);
    ``mbytes`` (1e6 bytes per image) from ``edgeseg.bench.traffic.layer_traffic`` at the card's
    precision (``mbytes_precision``), with the artifact's head (``card.extra["head"]``), the memory
    side of the row's roofline.
    """
    import torch

    from edgeseg.models import build_model, count_parameters

    facts: dict[str, Any] = {"params": None, "gflops": None, "mbytes": None, "facts_problems": []}
    model = None
    try:
        if Path(artifact).suffix.lower() == ".pt":
            from edgeseg.train.checkpoint import load_checkpoint

            model = load_checkpoint(artifact)[0]
        else:
            model = build_model(card.arch, num_classes=card.num_classes, **card.arch_args).eval()
        facts["params"] = int(count_parameters(model))
    except Exception as e:  # noqa: BLE001 - facts are optional, a row still has its latency
        facts["facts_problems"].append(f"params: {e}")
    extra_params = (card.extra or {}).get("params")
    if facts["params"] is None and isinstance(extra_params, int):
        facts["params"] = extra_params
    if model is not None:
        try:
            from edgeseg.bench.flops import conv_flops_by_kind, count_flops

            with torch.no_grad():
                facts["gflops"] = count_flops(model, size=tuple(size), batch=1) / 1e9
            facts["conv_gflops"] = conv_flops_by_kind(model, size=tuple(size))
        except Exception as e:  # noqa: BLE001
            facts["facts_problems"].append(f"gflops: {type(e).__name__}: {e}")
        try:
            facts.update(_traffic_facts(model, card, size=size))
        except Exception as e:  # noqa: BLE001
            facts["facts_problems"].append(f"mbytes: {type(e).__name__}: {e}")
    return facts


def _traffic_facts(model: Any, card: Any, *, size: tuple[int, int]) -> dict[str, Any]:
    """``mbytes`` / ``mbytes_precision`` of ``model`` with the card's head at the card's precision, counted
    on a shapes-only (meta device) copy of the architecture when it builds there, else on ``model``."""
    import torch

    from edgeseg.bench.traffic import ACT_BYTES, layer_traffic
    from edgeseg.export.head import with_head
    from edgeseg.models import build_model

    precision = card.precision if card.precision in ACT_BYTES else "fp32"
    try:
        with torch.device("meta"):
            shapes = build_model(card.arch, num_classes=card.num_classes, **card.arch_args)
    except Exception:  # noqa: BLE001 - an architecture that cannot build on meta: count the real model
        shapes = model
    counted = with_head(shapes, head_of(card))  # a labels head moves a uint8 map, not C float channels
    try:
        mbytes = layer_traffic(counted, size=tuple(size), precision=precision)["mbytes"]
    except (NotImplementedError, RuntimeError):  # an op without a meta kernel
        mbytes = layer_traffic(with_head(model, head_of(card)), size=tuple(size), precision=precision)[
            "mbytes"
        ]
    return {"mbytes": round(mbytes, 3), "mbytes_precision": precision}


def build_seconds(card: Any) -> float | None:
    """Build time recorded by the builder in ``card.extra`` (any spelling: ``row.card_build_seconds``)."""
    from edgeseg.bench.row import card_build_seconds

    return card_build_seconds(card.extra)


def card_summary(card: Any) -> dict[str, Any]:
    """The card fields a results row keeps (small; no class palette)."""
    from edgeseg.card import training_label

    return {
        "arch": card.arch,
        "arch_args": dict(card.arch_args),
        "num_classes": card.num_classes,
        "class_names": list(card.class_names),
        "precision": card.precision,
        "input_size": list(card.input_size),
        "source": card.source,
        "calibration": {k: v for k, v in (card.calibration or {}).items() if not isinstance(v, (list, dict))},
        "extra": {k: v for k, v in (card.extra or {}).items() if isinstance(v, (str, int, float, bool))},
        "trained": training_label(card.training or {}),
    }


def quantization_label(card: Any) -> str | None:
    """'ptq tensorrt-qdq', 'qat tensorrt-qdq', 'ptq onnxruntime-cpu', ... for INT8 artifacts; None for float.

    QAT when ``card.extra["quantization"]`` records a ``qat`` section or weights taken from a QAT checkpoint
    (ExecuTorch INT8 built from one: its activation ranges are calibrated again), else PTQ; the flavour is
    ``card.extra["flavour"]`` (how the Q/DQ graph is built: for TensorRT or for ONNX Runtime CPU)."""
    if card.precision != "int8":
        return None
    extra = card.extra or {}
    quant = extra.get("quantization")
    qat = isinstance(quant, dict) and (
        quant.get("qat") or str(quant.get("weights_from", "")).startswith("QAT")
    )
    method = "qat" if qat else "ptq"
    flavour = extra.get("flavour")
    return f"{method} {flavour}" if flavour else method
