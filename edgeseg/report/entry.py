"""The report's view of one benchmark row: ``ReportEntry``, built from a ``RowResult``
(``edgeseg.bench.row``).

Tables, charts and the recommendation read its typed fields; a missing number is None. ``label``,
``short`` and ``id_label`` are set unique across the report by ``report.data.load_entries``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgeseg.bench.row import RowResult
from edgeseg.bench.schema import state_kind
from edgeseg.report.paths import describe

#: Short names for Q/DQ flavours in tables.
FLAVOURS = {"tensorrt-qdq": "trt-qdq", "onnxruntime-cpu": "ort-cpu", "cpu-qdq": "cpu-qdq"}


def precision_label(row: dict[str, Any] | RowResult) -> str:
    """'fp32', 'fp16', 'int8 ptq trt-qdq', 'int8 qat trt-qdq', 'int8 ptq ort-cpu', ... ('-' when the row
    never opened)."""
    r = row if isinstance(row, RowResult) else RowResult.from_dict(row)
    p = r.precision or "-"
    if p != "int8" or not r.quantization:
        return p
    return f"{p} " + " ".join(FLAVOURS.get(w, w) for w in str(r.quantization).split())


@dataclass
class ReportEntry:
    """One row as the report shows it. Numbers are None when the row did not measure them (every field
    but ``id`` has a default, so a test or a tool can make one with the fields it needs)."""

    id: str
    label: str = ""  # the deployment path's name; made unique in load_entries
    path: str = ""
    short: str = ""
    deployable: bool = False
    path_note: str | None = None
    artifact: str | None = None
    make: list[list[Any]] = field(default_factory=list)
    workdir: str | None = None
    source: str = ""  # the results file's name
    run_id: str | None = None
    model: str = "-"
    backend: str = "-"
    precision: str = "-"  # precision_label: 'int8 ptq trt-qdq'
    precision_base: str = "?"  # 'fp32', 'fp16', 'int8' ('?' when unknown)
    params: int | None = None
    gflops: float | None = None
    size_mb: float | None = None
    miou: float | None = None
    per_class_iou: dict[str, float] = field(default_factory=dict)
    dataset: str | None = None
    trained: str = ""
    frames: int | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    mean: float | None = None
    batch: int | None = None  # the first measured batch size
    timings: list[float] = field(default_factory=list)  # of that batch
    throughput: dict[int, float] = field(default_factory=dict)  # batch -> frames per second
    rss_mb: float | None = None  # peak while inferring, of the row's own process
    rss_loaded_mb: float | None = None  # after loading the artifact
    gpu_mb: float | None = None
    roofline_x: float | None = None
    roofline_int8_x: float | None = None
    roofline_own_x: float | None = None  # against the peak of the row's own precision
    roofline_own_bound: str | None = None  # "compute", "memory", or None (before the memory probe)
    mbytes: float | None = None
    conv_gflops: dict[str, float] | None = None  # {"dense", "channel_wise"}
    time_split: dict[str, Any] | None = None  # the row's profile by kind of work (bench.time_split)
    rounds: int = 1
    state: str = "failed: no state"
    ok: bool = False
    threads: int | None = None
    input_size: list[int] | None = None
    build_s: float | None = None
    id_label: str = field(default="")

    @classmethod
    def from_row(cls, row: RowResult, run: dict[str, Any], source: str) -> ReportEntry:
        """The report's view of ``row`` from ``run`` of the results file named ``source``."""
        raw = row.to_dict()
        acc, lat, mem = row.accuracy or {}, row.latency_ms or {}, row.memory or {}
        gpu = mem.get("gpu_peak") or {}
        first = next(
            (b for b in row.batches if b.get("latency_ms") and str(b.get("state", "ok")) == "ok"), None
        )
        path = describe(raw)
        int8 = row.precision == "int8"
        return cls(
            id=row.id,
            label=path.name,
            path=path.name,
            short=path.short,
            deployable=path.deployable,
            path_note=path.note,
            artifact=row.artifact,
            make=[list(s) for s in row.make],
            workdir=(run.get("matrix") or {}).get("workdir"),
            source=source,
            run_id=run.get("id"),
            model=row.model or row.arch or "-",
            backend=row.backend or "-",
            precision=precision_label(row),
            precision_base=row.precision or "?",
            params=row.params,
            gflops=row.gflops,
            size_mb=row.file_size_mb,
            miou=acc.get("miou"),
            per_class_iou=acc.get("per_class_iou") or {},
            dataset=acc.get("dataset"),
            trained=(row.card or {}).get("trained") or "",
            frames=acc.get("frames"),
            p50=lat.get("p50"),
            p90=lat.get("p90"),
            p99=lat.get("p99"),
            mean=lat.get("mean"),
            batch=first.get("batch") if first else None,
            timings=list(first.get("timings_ms") or []) if first else [],
            throughput={int(b["batch"]): b["throughput_fps"] for b in row.batches if b.get("throughput_fps")},
            # Results written before "rss_source" existed read ru_maxrss, which carries the forking
            # parent's peak: not the row's, so not shown.
            rss_mb=mem.get("rss_peak_mb") if mem.get("rss_source") else None,
            rss_loaded_mb=mem.get("rss_loaded_mb"),
            gpu_mb=gpu.get("torch_allocated_mb") or gpu.get("process_used_mb"),
            roofline_x=row.roofline_x,
            roofline_int8_x=row.roofline_int8_x,
            roofline_own_x=row.roofline_int8_x if int8 else row.roofline_x,
            roofline_own_bound=row.roofline_int8_bound if int8 else row.roofline_bound,
            mbytes=row.mbytes,
            conv_gflops=row.conv_gflops,
            time_split=row.time_split,
            rounds=len(row.rounds) or 1,
            state=row.state,
            ok=state_kind(row.state) in ("ok", "accuracy check failed"),
            threads=row.threads,
            input_size=row.input_size,
            build_s=row.build_s,
        )
