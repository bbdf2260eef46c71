"""This machine's peak: float32 matmul GFLOP/s, int8 matmul GOP/s and copy bandwidth, and a row's
multiple of them.

The roofline multiple of a row is its p50 latency divided by the time the model's FLOPs would
take at the measured float32 matmul peak (compute-bound time). The peak is the best of the GEMM
libraries the rows use: torch's and, on the CPU, ONNX Runtime's MLAS and OpenVINO's oneDNN (on a
2-core AVX-512 machine MLAS and oneDNN ran a 2048-square float32 matmul at ~2x torch's GFLOP/s;
taking torch's alone made the roofline look twice as easy as it is). 1.0x would mean the model runs
as fast as a large dense float32 matmul; light, depthwise-heavy segmentation nets on CPU sit above.

Memory counts too (``stream_bandwidth``, ``bound_ms``): a STREAM-like probe measures the bandwidth
(numpy copy and triad over arrays far larger than the caches, split across the threads, best of N),
and a row's bound is the larger of its compute time and its memory time (the bytes its layers move
at the artifact's precision, ``edgeseg.bench.traffic``, over that bandwidth); the row records which
(``roofline_bound``: "compute" or "memory"). A row without bytes or bandwidth is compute-bound only.

INT8 rows get a second multiple against the int8 matmul peak (``int8_matmul_gops``: u8 x s8 GEMM
with int32 accumulation, best of ONNX Runtime's MatMulInteger and OpenVINO), ~4x the float32 peak
on CPUs with VNNI: an INT8 row that beats the float32 roofline may still be far from its own.
"""

from __future__ import annotations

import math
import time
from typing import Any


def measure_peak(
    *,
    threads: int | None = None,
    device: str = "cpu",
    matmul_n: int = 2048,
    copy_mb: int = 256,
    stream_mb: int = 128,
    repeats: int = 5,
) -> dict[str, Any]:
    """Best-of-``repeats`` float32 ``matmul_n``-square matmul GFLOP/s and ``copy_mb`` MiB copy GB/s.

    Defaults: 2048x2048 matmul, 256 MiB copy (read + write counted), 5 repeats, torch's current
    thread count unless ``threads`` is given. ``matmul_gflops`` is the best of torch and (CPU only,
    when installed) ONNX Runtime and OpenVINO at the same thread count; ``matmul_by_library`` has
    each. ``int8_matmul_gops`` (CPU only) is the best int8 GEMM of the same libraries
    (``int8_by_library``), None when neither is installed. ``stream`` / ``stream_gbs``: the STREAM-like
    host memory bandwidth (``stream_bandwidth`` with ``stream_mb`` MiB arrays, default 128, at the same
    thread count; on a GPU the device copy instead), what the memory side of the roofline divides by.
    Run it in its own process.
    """
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    with torch.no_grad():
        a = torch.randn(matmul_n, matmul_n, device=dev)
        b = torch.randn(matmul_n, matmul_n, device=dev)
        torch.mm(a, b)  # warm-up: thread pool, allocator
        sync()
        best = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b)
            sync()
            best = min(best, time.perf_counter() - t0)
        by_lib = {"torch": round(2.0 * matmul_n**3 / best / 1e9, 2)}
        if dev.type == "cpu":
            ort_gflops = _ort_matmul_gflops(
                a.numpy(), b.numpy(), threads=torch.get_num_threads(), repeats=repeats
            )
            if ort_gflops is not None:
                by_lib["onnxruntime"] = round(ort_gflops, 2)
            ov_gflops = _ov_matmul_gflops(
                matmul_n, threads=torch.get_num_threads(), repeats=repeats, int8=False
            )
            if ov_gflops is not None:
                by_lib["openvino"] = round(ov_gflops, 2)
            int8_by_lib = _int8_peaks(matmul_n, threads=torch.get_num_threads(), repeats=repeats)
        else:
            int8_by_lib = {}
        library = max(by_lib, key=by_lib.__getitem__)
        gflops = by_lib[library]
        del a, b
        n = copy_mb * 1024 * 1024 // 4
        src = torch.ones(n, device=dev)
        dst = torch.empty_like(src)
        dst.copy_(src)
        sync()
        best_c = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            dst.copy_(src)
            sync()
            best_c = min(best_c, time.perf_counter() - t0)
        gbs = 2.0 * n * 4 / best_c / 1e9
    if dev.type == "cpu":
        stream = stream_bandwidth(threads=torch.get_num_threads(), mb=stream_mb, repeats=repeats)
        stream_gbs = max(stream["copy_gbs"], stream["triad_gbs"])
    else:  # a GPU's rows move their bytes in device memory: the device copy above is their bandwidth
        stream = {"copy_gbs": round(gbs, 2), "triad_gbs": None, "array_mb": copy_mb, "device": str(dev)}
        stream_gbs = round(gbs, 2)
    return {
        "stream": stream,
        "stream_gbs": stream_gbs,
        "matmul_gflops": round(gflops, 2),
        "matmul_library": library,
        "matmul_by_library": by_lib,
        "int8_matmul_gops": max(int8_by_lib.values()) if int8_by_lib else None,
        "int8_library": max(int8_by_lib, key=int8_by_lib.__getitem__) if int8_by_lib else None,
        "int8_by_library": int8_by_lib,
        "bandwidth_gbs": round(gbs, 2),
        "threads": torch.get_num_threads() if dev.type == "cpu" else None,
        "device": str(dev),
        "matmul_n": matmul_n,
        "copy_mb": copy_mb,
        "repeats": repeats,
    }


def stream_bandwidth(*, threads: int = 1, mb: int = 128, repeats: int = 5) -> dict[str, Any]:
    """STREAM-like host memory bandwidth: best-of-``repeats`` GB/s (1e9 bytes) of numpy ``copy``
    (``a = b``: 2 arrays' bytes counted) and ``triad`` (``a = b + s * c``: 3 arrays' bytes counted, as
    STREAM counts them) over float64 arrays of ``mb`` MiB each (default 128: far beyond any CPU cache),
    split into ``threads`` slices run on as many threads (numpy releases the GIL in these loops).
    Defaults: 1 thread, 128 MiB, 5 repeats. The triad runs as two numpy passes into ``a`` (numpy has no
    fused multiply-add), so it moves more bytes than it counts: its figure is a lower bound."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    if threads < 1 or mb < 1 or repeats < 1:
        raise ValueError(
            f"stream_bandwidth: threads, mb and repeats must be >= 1, found {threads}, {mb}, {repeats}"
        )
    n = mb * 1024 * 1024 // 8
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    bounds = [(k * n // threads, (k + 1) * n // threads) for k in range(threads)]

    def copy(lo: int, hi: int) -> None:
        np.copyto(a[lo:hi], b[lo:hi])

    def triad(lo: int, hi: int) -> None:
        np.multiply(c[lo:hi], 3.0, out=a[lo:hi])
        np.add(a[lo:hi], b[lo:hi], out=a[lo:hi])

    with ThreadPoolExecutor(max_workers=threads) as pool:

        def run(kernel: Any) -> None:
            list(pool.map(lambda bound: kernel(*bound), bounds))

        copy_s = _best_seconds(lambda: run(copy), repeats)
        triad_s = _best_seconds(lambda: run(triad), repeats)
    if not (a[:: max(1, n // 1000)] == 7.0).all():  # pragma: no cover - numpy did not compute the triad
        raise RuntimeError("stream_bandwidth: the triad gave wrong values")
    return {
        "copy_gbs": round(2 * 8 * n / copy_s / 1e9, 2),
        "triad_gbs": round(3 * 8 * n / triad_s / 1e9, 2),
        "array_mb": mb,
        "threads": threads,
        "repeats": repeats,
    }


def _best_seconds(fn: Any, repeats: int) -> float:
    fn()  # warm-up
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _int8_peaks(n: int, *, threads: int, repeats: int) -> dict[str, float]:
    """GOP/s of an ``n``-square u8 x s8 -> s32 GEMM in ONNX Runtime and OpenVINO (those installed)."""
    out = {}
    ort_gops = _ort_int8_gops(n, threads=threads, repeats=repeats)
    if ort_gops is not None:
        out["onnxruntime"] = round(ort_gops, 2)
    ov_gops = _ov_matmul_gflops(n, threads=threads, repeats=repeats, int8=True)
    if ov_gops is not None:
        out["openvino"] = round(ov_gops, 2)
    return out


def _ort_int8_gops(n: int, *, threads: int, repeats: int) -> float | None:
    """ONNX Runtime's MatMulInteger (uint8 activations x int8 constant weights, MLAS int8 GEMM)."""
    try:
        import numpy as np
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (n, n), dtype=np.uint8)
    b = rng.integers(-127, 127, (n, n), dtype=np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["C"])],
        "peak_int8",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [n, n])],
        [helper.make_tensor_value_info("C", TensorProto.INT32, [n, n])],
        initializer=[numpy_helper.from_array(b, "B")],
    )
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(),
        so,
        providers=["CPUExecutionProvider"],
    )
    return 2.0 * n**3 / _best_seconds(lambda: sess.run(None, {"A": a}), repeats) / 1e9


def _ov_matmul_gflops(n: int, *, threads: int, repeats: int, int8: bool) -> float | None:
    """OpenVINO CPU MatMul of an ``n``-square input by constant weights: float32 (f32 math pinned), or
    int8 (a FakeQuantize'd input times int8 weights, which the CPU plugin runs as an int8 GEMM)."""
    try:
        import numpy as np
        import openvino as ov
        import openvino.opset13 as ops
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    x = ops.parameter([n, n], ov.Type.f32)
    if int8:
        lo, hi = ops.constant(np.float32(-6.4)), ops.constant(np.float32(6.35))
        x_in = ops.fake_quantize(x, lo, hi, lo, hi, 256)
        w = ops.convert(ops.constant(rng.integers(-127, 127, (n, n), dtype=np.int8)), ov.Type.f32)
        w = ops.multiply(w, ops.constant(np.full((n, 1), 0.01, np.float32)))
    else:
        x_in, w = x, ops.constant(rng.standard_normal((n, n), dtype=np.float32))
    model = ov.Model([ops.matmul(x_in, w, False, False)], [x])
    cfg = {
        "INFERENCE_NUM_THREADS": int(threads),
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
    }
    from edgeseg.backends.openvino._core import shared_core

    request = shared_core().compile_model(model, "CPU", cfg).create_infer_request()
    feed = {0: rng.standard_normal((n, n), dtype=np.float32)}
    return 2.0 * n**3 / _best_seconds(lambda: request.infer(feed), repeats) / 1e9


def _ort_matmul_gflops(a: Any, b: Any, *, threads: int, repeats: int) -> float | None:
    """Best-of-``repeats`` GFLOP/s of ONNX Runtime's CPU MatMul on ``a @ b``; None without onnxruntime."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError:
        return None
    n, k = a.shape
    m = b.shape[1]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["A", "B"], ["C"])],
        "peak",
        [
            helper.make_tensor_value_info("A", TensorProto.FLOAT, [n, k]),
            helper.make_tensor_value_info("B", TensorProto.FLOAT, [k, m]),
        ],
        [helper.make_tensor_value_info("C", TensorProto.FLOAT, [n, m])],
    )
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(),
        so,
        providers=["CPUExecutionProvider"],
    )
    feed = {"A": a, "B": b}
    return 2.0 * n * k * m / _best_seconds(lambda: sess.run(None, feed), repeats) / 1e9


def compute_bound_ms(gflops: float | None, batch: int, peak_gflops: float | None) -> float | None:
    """Milliseconds ``batch`` images of ``gflops`` each take at ``peak_gflops`` GFLOP/s."""
    if not gflops or not peak_gflops or peak_gflops <= 0:
        return None
    return 1000.0 * gflops * batch / peak_gflops


def memory_bound_ms(mbytes: float | None, batch: int, gbs: float | None) -> float | None:
    """Milliseconds ``batch`` images that each move ``mbytes`` MB (1e6 bytes) take at ``gbs`` GB/s."""
    if not mbytes or not gbs or gbs <= 0:
        return None
    return mbytes * batch / gbs  # 1e6 bytes / 1e9 bytes per s = 1e-3 s


def bound_ms(
    gflops: float | None, mbytes: float | None, batch: int, peak_gflops: float | None, gbs: float | None
) -> tuple[float | None, str | None]:
    """(the row's roofline time, "compute" or "memory"): the larger of its compute-bound and memory-bound
    times; compute only when the bytes or the bandwidth are unknown; (None, None) without compute."""
    compute = compute_bound_ms(gflops, batch, peak_gflops)
    if compute is None:
        return None, None
    memory = memory_bound_ms(mbytes, batch, gbs)
    return (memory, "memory") if memory is not None and memory > compute else (compute, "compute")


def roofline_multiple(
    latency_ms: float | None,
    gflops: float | None,
    batch: int,
    peak_gflops: float | None,
    *,
    mbytes: float | None = None,
    gbs: float | None = None,
) -> float | None:
    """Latency as a multiple of the roofline time (``bound_ms``: the larger of compute and memory time;
    compute alone when ``mbytes`` or ``gbs`` is None, the default); None when any input is missing."""
    t, _ = bound_ms(gflops, mbytes, batch, peak_gflops, gbs)
    if t is None or latency_ms is None or not math.isfinite(latency_ms):
        return None
    return latency_ms / t


def row_roofline(
    row: dict[str, Any], peak: dict[str, Any], *, latency_ms: float | None, batch: int
) -> dict[str, Any]:
    """A results row's roofline fields from its ``gflops`` and ``mbytes`` and the run's ``peak``:
    ``roofline_x`` (against the float32 matmul peak) and ``roofline_bound`` ("compute" / "memory", None
    without a multiple), and for INT8 rows ``roofline_int8_x`` / ``roofline_int8_bound`` (int8 peak).
    Memory time is ``mbytes`` over the peak's ``stream_gbs``; compute alone when either is missing
    (rows and peaks written before the STREAM probe)."""
    gflops, mbytes, gbs = row.get("gflops"), row.get("mbytes"), peak.get("stream_gbs")
    peaks = {"roofline": peak.get("matmul_gflops")}
    if row.get("precision") == "int8":
        peaks["roofline_int8"] = peak.get("int8_matmul_gops")
    out: dict[str, Any] = {}
    for key, p in peaks.items():
        x = roofline_multiple(latency_ms, gflops, batch, p, mbytes=mbytes, gbs=gbs)
        out[f"{key}_x"] = x
        out[f"{key}_bound"] = bound_ms(gflops, mbytes, batch, p, gbs)[1] if x is not None else None
    return out
