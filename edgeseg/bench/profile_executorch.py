"""Where an ExecuTorch program's time goes: XNNPACK's per-operator events from an ETDump.

``op_times`` loads the ``.pte`` with ETDump on (``_load_for_executorch(..., enable_etdump=True)``), runs
it ``warmup + runs`` times on a random input of its fixed shape, writes the ETDump to a temporary file
and reads it with ExecuTorch's ``Inspector``: XNNPACK reports each operator it runs ("Convolution (NHWC,
QC8) IGEMM #4", "PReLU (ND) #2", ...; the "#N" instance suffix is dropped here), portable kernels report
theirs, and ``Method::execute`` is the whole run. Only the timed runs (after the warm-up) are averaged.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from edgeseg.errors import EdgesegError

#: Events that wrap others (their time is the run's, or a delegate call's), not operators.
WRAPPERS = frozenset(
    {"Method::execute", "DELEGATE_CALL", "OPERATOR_CALL", "Program::load_method", "Method::init"}
)


def _mean_after(raw: Any, warmup: int) -> float | None:
    vals = [float(v) for v in list(raw or [])[warmup:]]
    return sum(vals) / len(vals) if vals else None


def op_times(
    path: str | os.PathLike, *, runs: int = 20, warmup: int = 5, threads: int | None = None, seed: int = 0
) -> tuple[list[tuple[str, float, float]], float, int]:
    """([(operator name, ms per run, calls per run)], ms per run of ``Method::execute``, threads) of the
    program at ``path`` over ``runs`` timed runs (default 20) after ``warmup`` (default 5), at ``threads``
    (default: the count its card records, else the runtime's)."""
    import torch

    from edgeseg.backends.executorch._native import quiet, read_program_card, threadpool

    with quiet():  # torchao's optional CUDA kernels announce that they are missing
        from executorch.devtools import Inspector
        from executorch.extension.pybindings import portable_lib
    from edgeseg.runner import resolve_threads

    p = Path(path)
    if p.suffix.lower() != ".pte":
        raise EdgesegError(f"{p}: expected an ExecuTorch .pte program")
    if runs < 1 or warmup < 0:
        raise EdgesegError(f"runs must be >= 1 and warmup >= 0, found {runs} and {warmup}")
    card = read_program_card(p)
    threads = resolve_threads(option=threads, card=card)
    pool = threadpool()
    with quiet(), tempfile.TemporaryDirectory() as tmp:
        if threads is not None and pool._threadpool_get_thread_count() != threads:
            pool._unsafe_reset_threadpool(int(threads))  # before the program is loaded (see the runner)
        module = portable_lib._load_for_executorch(str(p), enable_etdump=True)
        x = torch.from_numpy(_random_input(module, seed))
        for _ in range(warmup + runs):
            module.forward((x,))
        dump = os.path.join(tmp, "run.etdp")
        module.write_etdump_result_to_file(dump, "")
        inspector = Inspector(etdump_path=dump)
        used = int(pool._threadpool_get_thread_count())
    ms: dict[str, float] = defaultdict(float)
    calls: dict[str, float] = defaultdict(float)
    run_ms = None
    for block in inspector.event_blocks:
        if block.name != "Execute":
            continue
        for e in block.events:
            t = _mean_after(e.perf_data.raw if e.perf_data else None, warmup)
            if t is None:
                continue
            if e.name == "Method::execute":
                run_ms = t
            elif e.name not in WRAPPERS:
                name = re.sub(r" #\d+$", "", e.name)
                ms[name] += t
                calls[name] += 1
    if run_ms is None:
        raise EdgesegError(f"{p}: its ETDump holds no Method::execute event")
    return [(k, ms[k], calls[k]) for k in sorted(ms, key=lambda k: -ms[k])], run_ms, used


def _random_input(module: Any, seed: int) -> Any:
    import numpy as np

    shape = tuple(module.method_meta("forward").input_tensor_meta(0).sizes())
    return np.random.default_rng(seed).random(shape).astype(np.float32)
