"""This machine's peak: float32 matmul GFLOP/s and copy bandwidth, and a row's multiple of it.

The roofline multiple of a row is its mean latency divided by the time the model's FLOPs would
take at the measured matmul peak (compute-bound time). The peak is the best of the GEMM libraries
the rows use: torch's and, on the CPU, ONNX Runtime's MLAS (on a 2-core AVX-512 machine MLAS ran a
2048-square float32 matmul at ~2x torch's GFLOP/s; taking torch's alone made the roofline look
twice as easy as it is). 1.0x would mean the model runs as fast as
a large dense float32 matmul; light, depthwise-heavy segmentation nets on CPU sit well above.
INT8 and FP16 rows are still compared with the float32 peak (stated in the report).
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
    repeats: int = 5,
) -> dict[str, Any]:
    """Best-of-``repeats`` float32 ``matmul_n``-square matmul GFLOP/s and ``copy_mb`` MiB copy GB/s.

    Defaults: 2048x2048 matmul, 256 MiB copy (read + write counted), 5 repeats, torch's current
    thread count unless ``threads`` is given. ``matmul_gflops`` is the best of torch and (CPU only,
    when installed) ONNX Runtime at the same thread count; ``matmul_by_library`` has each.
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
            ort_gflops = _ort_matmul_gflops(a.numpy(), b.numpy(), threads=torch.get_num_threads(), repeats=repeats)
            if ort_gflops is not None:
                by_lib["onnxruntime"] = round(ort_gflops, 2)
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
    return {
        "matmul_gflops": round(gflops, 2),
        "matmul_library": library,
        "matmul_by_library": by_lib,
        "bandwidth_gbs": round(gbs, 2),
        "threads": torch.get_num_threads() if dev.type == "cpu" else None,
        "device": str(dev),
        "matmul_n": matmul_n,
        "copy_mb": copy_mb,
        "repeats": repeats,
    }


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
        [helper.make_node("MatMul", ["A", "B"], ["C"])], "peak",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, [n, k]), helper.make_tensor_value_info("B", TensorProto.FLOAT, [k, m])],
        [helper.make_tensor_value_info("C", TensorProto.FLOAT, [n, m])],
    )
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(),
                                so, providers=["CPUExecutionProvider"])
    feed = {"A": a, "B": b}
    sess.run(None, feed)  # warm-up
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        sess.run(None, feed)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n * k * m / best / 1e9


def compute_bound_ms(gflops: float | None, batch: int, peak_gflops: float | None) -> float | None:
    """Milliseconds ``batch`` images of ``gflops`` each take at ``peak_gflops`` GFLOP/s."""
    if not gflops or not peak_gflops or peak_gflops <= 0:
        return None
    return 1000.0 * gflops * batch / peak_gflops


def roofline_multiple(latency_ms: float | None, gflops: float | None, batch: int, peak_gflops: float | None) -> float | None:
    """Latency as a multiple of the compute-bound time (None when any input is missing)."""
    t = compute_bound_ms(gflops, batch, peak_gflops)
    if t is None or latency_ms is None or not math.isfinite(latency_ms):
        return None
    return latency_ms / t
