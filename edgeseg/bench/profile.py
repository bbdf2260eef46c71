"""Where an ONNX model's time goes on ONNX Runtime: a per-op-type and per-node profile.

``profile_onnx`` runs the model with ``SessionOptions.enable_profiling`` (the profile JSON goes to
a temporary folder and is parsed here), on a random input of the model's shape, and returns per
op type and per node the mean kernel time per run, plus the mean ``model_run`` time: what the
kernels do not account for (scheduling, layout reorders inserted by ORT show up as their own ops)
is ``overhead_ms``. Optimizations default to ``all`` (what ``OrtRunner`` runs), so the profile shows
the graph ORT really executes, reorders and fused ops included.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeseg.errors import EdgesegError

LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


@dataclass
class OpTime:
    name: str  # op type, or node name
    op_type: str
    ms: float  # mean kernel time per run
    calls: float  # kernel invocations per run
    share: float  # of all kernel time


@dataclass
class Profile:
    model: str
    input_shape: list[int]
    threads: int | None
    optimization: str
    runs: int
    run_ms: float  # mean model_run time with profiling on
    kernel_ms: float  # sum of kernel times per run
    overhead_ms: float
    nodes_per_run: float
    by_op: list[OpTime] = field(default_factory=list)
    top_nodes: list[OpTime] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _input_shape(sess: Any, path: Path, size: tuple[int, int] | None) -> list[int]:
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        raise EdgesegError(f"{path}: expected one graph input, found {[i.name for i in inputs]}")
    dims = list(inputs[0].shape)
    if len(dims) != 4:
        raise EdgesegError(f"{path}: expected an (N, C, H, W) input, found shape {dims}")
    if size is None:
        try:
            from edgeseg.card import card_from_onnx

            size = tuple(card_from_onnx(path).input_size)
        except EdgesegError:
            size = None
    fallback = [1, 3, *(size or (None, None))]
    shape = [d if isinstance(d, int) and d > 0 else fallback[k] for k, d in enumerate(dims)]
    if any(d is None for d in shape):
        raise EdgesegError(
            f"{path}: input {dims} has a dynamic height/width and no model card; pass --size HxW"
        )
    return shape


def profile_onnx(
    path: str | os.PathLike,
    *,
    threads: int | None = None,
    runs: int = 20,
    warmup: int = 5,
    optimization: str = "all",
    size: tuple[int, int] | None = None,
    top: int = 15,
    seed: int = 0,
) -> Profile:
    """Profile ``path`` on ONNX Runtime's CPU provider. Defaults: ORT's threads, 20 profiled runs
    after 5 warm-up runs, ``all`` optimizations, the graph's static size (else ``size``, else the
    card's), the 15 slowest nodes."""
    import numpy as np
    import onnxruntime as ort

    p = Path(path)
    if not p.is_file():
        raise EdgesegError(f"{p}: ONNX file not found")
    if p.suffix.lower() != ".onnx":
        raise EdgesegError(
            f"{p}: expected an .onnx file (profile a checkpoint by exporting it: edgeseg export)"
        )
    if optimization not in LEVELS:
        raise EdgesegError(f"optimization {optimization!r}: expected one of {', '.join(LEVELS)}")
    if runs < 1 or warmup < 0:
        raise EdgesegError(f"runs must be >= 1 and warmup >= 0, found {runs} and {warmup}")
    with tempfile.TemporaryDirectory(prefix="edgeseg-profile-") as tmp:
        so = ort.SessionOptions()
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, LEVELS[optimization])
        so.log_severity_level = 3
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "ort")
        if threads is not None:
            so.intra_op_num_threads = int(threads)
            so.inter_op_num_threads = 1
        try:
            sess = ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - ORT's own exception types
            raise EdgesegError(f"{p}: ONNX Runtime cannot load it: {str(e).splitlines()[0][:300]}") from e
        shape = _input_shape(sess, p, size)
        dtype = np.float16 if sess.get_inputs()[0].type == "tensor(float16)" else np.float32
        feed = {sess.get_inputs()[0].name: np.random.default_rng(seed).random(shape).astype(dtype)}
        for _ in range(warmup + runs):  # warm-up runs are profiled too; _summarize skips them
            sess.run(None, feed)
        events = json.loads(Path(sess.end_profiling()).read_text())
    return _summarize(
        events,
        model=str(p),
        shape=shape,
        threads=threads,
        optimization=optimization,
        runs=runs,
        warmup=warmup,
        top=top,
    )


def _summarize(
    events: list[dict[str, Any]],
    *,
    model: str,
    shape: list[int],
    threads: int | None,
    optimization: str,
    runs: int,
    warmup: int,
    top: int,
) -> Profile:
    """Mean per-run kernel time by op type and by node, over the last ``runs`` model_run spans."""
    spans = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])[warmup:]
    if len(spans) < runs:
        raise EdgesegError(f"the ONNX Runtime profile holds {len(spans)} timed runs, expected {runs}")
    lo = spans[0]["ts"]
    kernels = [
        e
        for e in events
        if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time") and e["ts"] >= lo
    ]
    by_op: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    by_node: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    for e in kernels:
        op = e.get("args", {}).get("op_name", "?")
        node = e["name"][: -len("_kernel_time")]
        for key, table in ((op, by_op), ((node, op), by_node)):
            table[key][0] += e["dur"]
            table[key][1] += 1
    total = sum(v[0] for v in by_op.values()) or 1.0
    ops = sorted(
        (OpTime(op, op, us / runs / 1000, n / runs, us / total) for op, (us, n) in by_op.items()),
        key=lambda r: -r.ms,
    )
    nodes = sorted(
        (OpTime(name, op, us / runs / 1000, n / runs, us / total) for (name, op), (us, n) in by_node.items()),
        key=lambda r: -r.ms,
    )[:top]
    run_ms = sum(s["dur"] for s in spans) / len(spans) / 1000
    kernel_ms = total / runs / 1000
    return Profile(
        model=model,
        input_shape=shape,
        threads=threads,
        optimization=optimization,
        runs=runs,
        run_ms=run_ms,
        kernel_ms=kernel_ms,
        overhead_ms=run_ms - kernel_ms,
        nodes_per_run=len(kernels) / runs,
        by_op=ops,
        top_nodes=nodes,
    )


def format_profile(prof: Profile) -> str:
    """The profile as two plain-text tables (op types, slowest nodes)."""
    lines = [
        f"{Path(prof.model).name}: input {'x'.join(map(str, prof.input_shape))}, "
        f"threads {prof.threads or 'library default'}, optimizations {prof.optimization}, {prof.runs} "
        "profiled runs",
        f"run {prof.run_ms:.2f} ms = kernels {prof.kernel_ms:.2f} ms + overhead {prof.overhead_ms:.2f} ms "
        f"({prof.nodes_per_run:.0f} kernel calls per run; profiling adds a little to each)",
        "",
        f"{'op type':<28} {'ms/run':>8} {'share':>7} {'calls':>6}",
    ]
    lines += [f"{r.name:<28} {r.ms:8.2f} {100 * r.share:6.1f}% {r.calls:6.0f}" for r in prof.by_op]
    lines += ["", f"{'slowest nodes':<60} {'op type':<32} {'ms/run':>8}"]
    lines += [f"{r.name[-60:]:<60} {r.op_type:<32} {r.ms:8.2f}" for r in prof.top_nodes]
    return "\n".join(lines)
