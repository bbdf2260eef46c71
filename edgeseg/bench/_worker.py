"""One benchmark row in its own process: ``python -m edgeseg.bench._worker SPEC.json OUT.json``.

The spec is ``{"mode": "row"|"peak", ...}``. The worker writes its (partial) result to OUT.json
atomically after every phase, so when it crashes (segfault, OOM kill, timeout) the parent still
has what was measured and marks the row "failed: <reason>". Thread counts are fixed through the
environment before numerical libraries are imported.

Test-only fault injection: a row spec with ``"_fault": "exit" | "memory" | "segv" | "raise" | "hang"``
makes the worker fail in that way once the runner is open (tests of the isolation use it), and
``"_alloc_mb": N`` makes it hold N MiB of touched memory while it infers (tests of the memory figures).

Memory (docs/benchmarks.md): ``rss_loaded_mb`` is the RSS once the artifact is open, ``rss_peak_mb``
the peak RSS while it infers (the high-water mark is reset after loading), both of this process only.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any


def _save(path: str, obj: dict[str, Any]) -> None:
    from edgeseg._io import atomic_write_text
    from edgeseg.bench.schema import json_safe

    atomic_write_text(path, json.dumps(json_safe(obj), allow_nan=False))


def _fault(kind: str | None) -> None:
    if not kind:
        return
    if kind == "exit":
        os._exit(3)
    if kind == "memory":
        raise MemoryError("injected by the test fault hook")
    if kind == "segv":
        import signal

        os.kill(os.getpid(), signal.SIGSEGV)
    if kind == "raise":
        raise RuntimeError("injected by the test fault hook")
    if kind == "hang":
        time.sleep(3600)
    raise ValueError(f"unknown _fault {kind!r}")


def _planted_alloc(mb: int | None) -> Any:
    """Test hook: ``mb`` MiB with every page touched (so it is resident), or None."""
    if not mb:
        return None
    buf = bytearray(int(mb) * 1024 * 1024)
    for i in range(0, len(buf), 4096):
        buf[i] = 1
    return buf


def _takes(artifact: str, name: str) -> bool:
    """Whether the runner for ``artifact`` accepts the keyword ``name``."""
    import inspect

    from edgeseg.backends import runner_class

    try:
        params = inspect.signature(runner_class(artifact)).parameters
    except Exception:  # noqa: BLE001 - no runner: open_runner will say so
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def run_row(spec: dict[str, Any], out_path: str) -> dict[str, Any]:
    """Measure one row; every phase is saved to ``out_path`` before the next starts."""
    from edgeseg.bench import measure
    from edgeseg.bench._availability import skip_reason
    from edgeseg.bench.memory import gpu_peak_mb, peak_rss_mb, reset_gpu_peak, reset_peak_rss, rss_mb
    from edgeseg.bench.schema import make_state
    from edgeseg.backends import open_runner
    from edgeseg.runner import resolve_threads

    r = spec["row"]
    row: dict[str, Any] = {
        "id": r["id"],
        "artifact": r["artifact"],
        "state": make_state("failed", "worker stopped before finishing"),
        "phase": "open",
        "options": dict(r.get("options") or {}),
        "threads": r.get("threads"),
        "memory": {"rss_baseline_mb": rss_mb()},
    }
    _save(out_path, row)
    options = dict(r.get("options") or {})
    reason = skip_reason(r["artifact"], options)
    if reason:
        row["state"] = make_state("skipped", reason)
        row.pop("phase", None)
        _save(out_path, row)
        return row
    threads = resolve_threads(option=options.get("threads"), row=r.get("threads"))
    if threads is not None and _takes(r["artifact"], "threads"):  # the runner adds the card's when None
        options["threads"] = threads
    t0 = time.perf_counter()
    with open_runner(r["artifact"], **options) as runner:
        row["load_s"] = time.perf_counter() - t0
        load_peak, source = peak_rss_mb()
        row["memory"].update(rss_loaded_mb=rss_mb(), rss_load_peak_mb=load_peak, rss_source=source)
        card = runner.card
        size = tuple(r["size"]) if r.get("size") else tuple(runner.input_size or card.input_size)
        row.update(
            model=r.get("model") or card.arch,
            arch=card.arch,
            backend=runner.backend,
            precision=runner.precision,
            quantization=measure.quantization_label(card),
            calibration_method=(card.calibration or {}).get("method") if card.precision == "int8" else None,
            input_size=list(size),
            file_size_mb=measure.file_size_mb(r["artifact"]),
            build_s=measure.build_seconds(card),
            card=measure.card_summary(card),
            device=str(getattr(runner, "device", "cpu")),
            runner_options=dict(getattr(runner, "options", None) or {}),
            static_batch=getattr(runner, "static_batch", None),
        )
        if getattr(runner, "threads", None):
            row["threads"] = runner.threads
        fixed = runner.input_size
        if fixed is not None and tuple(fixed) != size:
            row["state"] = make_state(
                "failed", f"artifact is fixed at {fixed[0]}x{fixed[1]}, row asks for {size[0]}x{size[1]}"
            )
            _save(out_path, row)
            return row
        row["phase"] = "latency"
        _save(out_path, row)
        _fault(spec.get("_fault"))
        reset_gpu_peak()
        scope = "inference" if reset_peak_rss() else "process"  # the peak from here on: inference only
        planted = _planted_alloc(spec.get("_alloc_mb"))
        row["batches"] = []
        for i, b in enumerate(r.get("batch") or [1]):
            row["phase"] = f"latency batch {b}"
            try:
                entry = measure.latency_entry(
                    runner, batch=b, size=size, warmup=int(r["warmup"]), runs=int(r["runs"])
                )
            except MemoryError:
                raise
            except Exception as e:  # noqa: BLE001 - a batch size the artifact refuses; others go on
                if i == 0:
                    raise
                entry = {"batch": b, "state": make_state("failed", f"{type(e).__name__}: {e}")}
            row["batches"].append(entry)
            _save(out_path, row)
        first = row["batches"][0]
        row["latency_ms"] = first["latency_ms"]
        row["memory"].update(rss_peak_mb=peak_rss_mb()[0], rss_peak_scope=scope, gpu_peak=gpu_peak_mb())
        del planted
        if spec.get("data"):
            from edgeseg.data.datasets import open_dataset

            row["phase"] = "accuracy"
            _save(out_path, row)
            ds = open_dataset(spec["data"], spec.get("split", "val"), size=size)
            row["accuracy"] = measure.evaluate_miou(
                runner, ds, size=size, max_frames=spec.get("max_frames"), progress=spec.get("progress", False)
            )
        row["phase"] = "facts"
        _save(out_path, row)
    row.update(measure.model_facts(r["artifact"], card, size=size))
    if int(r.get("profile") or 0) > 0:  # after the runner is closed: the profile opens its own
        from edgeseg.bench.time_split import time_split

        row["phase"] = "profile"
        _save(out_path, row)
        try:
            row["time_split"] = time_split(r["artifact"], runs=int(r["profile"]), threads=row.get("threads"))
        except Exception as e:  # noqa: BLE001 - the profile is optional, the row keeps its latency
            row["facts_problems"].append(f"profile: {type(e).__name__}: {e}")
    problems = [e.get("output_problem") for e in row["batches"] if e.get("output_problem")]
    acc = row.get("accuracy") or {}
    if problems:
        row["state"] = make_state("accuracy check failed", problems[0])
    elif acc.get("nonfinite_frames"):
        row["state"] = make_state(
            "accuracy check failed",
            f"non-finite logits on {acc['nonfinite_frames']} of {acc['frames']} frames",
        )
    else:
        row["state"] = "ok"
    row.pop("phase", None)
    _save(out_path, row)
    return row


def run_peak(spec: dict[str, Any], out_path: str) -> dict[str, Any]:
    from edgeseg.bench.roofline import measure_peak

    res: dict[str, Any] = {"state": "failed: worker stopped before finishing"}
    _save(out_path, res)
    res = measure_peak(**spec.get("options", {}))
    res["state"] = "ok"
    _save(out_path, res)
    return res


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m edgeseg.bench._worker SPEC.json OUT.json", file=sys.stderr)
        return 2
    spec_path, out_path = argv
    with open(spec_path) as f:
        spec = json.load(f)
    # the same order as runner.resolve_threads (option, then row), read here without importing numpy
    row = spec.get("row") or {}
    threads = (
        (row.get("options") or {}).get("threads")
        or row.get("threads")
        or (spec.get("options") or {}).get("threads")
    )
    if threads:  # before torch / onnxruntime / numpy's BLAS start their pools
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(threads)
    from edgeseg.bench.schema import make_state
    from edgeseg.errors import EdgesegError, MissingDependencyError

    try:
        (run_peak if spec.get("mode") == "peak" else run_row)(spec, out_path)
        return 0
    except BaseException as e:  # noqa: BLE001 - report every failure as a row state
        if isinstance(e, MissingDependencyError):
            state = make_state("skipped", str(e))
        elif isinstance(e, MemoryError):
            state = make_state("failed", f"out of memory (MemoryError{': ' + str(e) if str(e) else ''})")
        elif isinstance(e, EdgesegError):
            state = make_state("failed", str(e))
        elif isinstance(e, KeyboardInterrupt):
            state = make_state("failed", "interrupted")
        else:
            state = make_state("failed", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        traceback.print_exc(file=sys.stderr)
        try:
            with open(out_path) as f:
                partial = json.load(f)
        except (OSError, ValueError):
            partial = {}
        partial["state"] = state
        _save(out_path, partial)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
