"""Where an OpenVINO IR's time goes on the CPU plugin: per layer type and per node.

``profile_openvino`` opens the IR with ``OpenVinoRunner(perf_count=True)`` (latency mode, one
stream, f32 math pinned, as every run), runs it on a random input of the IR's shape and averages each
executed node's time over the timed runs. Layer types are OpenVINO's runtime ones (``Convolution``,
``Reorder``, fused ``Subgraph``...); a node's ``op_type`` adds the kernel it ran
(e.g. ``Convolution/brgconv_avx512_I8``: int8), which is how to see what really ran in int8.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from edgeseg.bench.profile import OpTime, Profile
from edgeseg.errors import EdgesegError


def node_times(
    runner: Any, x: Any, *, runs: int, warmup: int
) -> tuple[dict[str, list[float]], dict[str, tuple[str, str]], float]:
    """Run ``x`` through ``runner`` (an ``OpenVinoRunner(perf_count=True)``) ``warmup`` times, then
    ``runs`` timed times. Returns ({executed node: its time in each timed run, ms}, {node: (layer type,
    kernel)}, wall seconds of the timed runs). Nodes OpenVINO did not execute are left out."""
    times: dict[str, list[float]] = defaultdict(list)
    kinds: dict[str, tuple[str, str]] = {}
    wall = 0.0
    for _ in range(warmup):
        runner.infer(x)
    for _ in range(runs):
        t0 = time.perf_counter()
        runner.infer(x)
        wall += time.perf_counter() - t0
        this: dict[str, float] = defaultdict(float)
        for info in runner.profiling_info():
            if info.status != info.Status.EXECUTED:
                continue
            this[info.node_name] += info.real_time.total_seconds() * 1000.0
            kinds[info.node_name] = (info.node_type, info.exec_type)
        for name, ms in this.items():
            times[name].append(ms)
    return dict(times), kinds, wall


def profile_openvino(
    path: str | os.PathLike,
    *,
    threads: int | None = None,
    runs: int = 20,
    warmup: int = 5,
    size: tuple[int, int] | None = None,
    top: int = 15,
    seed: int = 0,
) -> Profile:
    """Profile ``path`` (an ``edgeseg build --backend openvino`` IR). Defaults: the threads recorded
    in its card (else OpenVINO's), 20 runs after 5 warm-up runs, the IR's static size (else ``size``,
    else the card's), the 15 slowest nodes."""
    import numpy as np

    from edgeseg.backends.openvino.runner import OpenVinoRunner

    p = Path(path)
    if p.suffix.lower() != ".xml":
        raise EdgesegError(f"{p}: expected an OpenVINO .xml IR")
    if runs < 1 or warmup < 0:
        raise EdgesegError(f"runs must be >= 1 and warmup >= 0, found {runs} and {warmup}")
    # the runner compiles it as it always does (card and weights checks, the card's threads), plus PERF_COUNT
    with OpenVinoRunner(p, threads=threads, perf_count=True) as runner:
        hw = runner.input_size or size or tuple(runner.card.input_size)
        shape = [runner.static_batch or 1, 3, *hw]
        threads = runner.threads
        x = np.random.default_rng(seed).random(shape).astype(np.float32)
        times, kinds, wall = node_times(runner, x, runs=runs, warmup=warmup)
    by_op: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    by_node: dict[tuple[str, str], float] = defaultdict(float)
    calls = 0
    for name, per_run in times.items():
        node_type, exec_type = kinds[name]
        by_op[node_type][0] += sum(per_run)
        by_op[node_type][1] += len(per_run)
        by_node[(name, f"{node_type}/{exec_type}")] += sum(per_run)
        calls += len(per_run)
    total = sum(v[0] for v in by_op.values()) or 1.0
    ops = sorted(
        (OpTime(op, op, ms / runs, n / runs, ms / total) for op, (ms, n) in by_op.items()),
        key=lambda r: -r.ms,
    )
    nodes = sorted(
        (OpTime(name, op, ms / runs, 1.0, ms / total) for (name, op), ms in by_node.items()),
        key=lambda r: -r.ms,
    )[:top]
    run_ms = 1000.0 * wall / runs
    kernel_ms = total / runs
    return Profile(
        model=str(p),
        input_shape=shape,
        threads=threads,
        optimization="OpenVINO CPU, f32 math (int8 where quantized)",
        runs=runs,
        run_ms=run_ms,
        kernel_ms=kernel_ms,
        overhead_ms=run_ms - kernel_ms,
        nodes_per_run=calls / runs,
        by_op=ops,
        top_nodes=nodes,
    )
