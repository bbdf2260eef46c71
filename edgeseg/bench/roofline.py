"""This machine's peak: float32 matmul GFLOP/s, int8 matmul GOP/s and copy bandwidth, and a row's
multiple of them.

The roofline multiple of a row is its p50 latency divided by the time the model's FLOPs would
take at the measured float32 matmul peak (compute-bound time). The peak is the best of the GEMM
libraries the rows use: torch's and, on the CPU, ONNX Runtime's MLAS and OpenVINO's oneDNN (on a
2-core AVX-512 machine MLAS and oneDNN ran a 2048-square float32 matmul at ~2x torch's GFLOP/s;
taking torch's alone made the roofline look twice as easy as it is). 1.0x would mean the model runs
as fast as a large dense float32 matmul; light, depthwise-heavy segmentation nets on CPU sit above.

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
    repeats: int = 5,
) -> dict[str, Any]:
    """Best-of-``repeats`` float32 ``matmul_n``-square matmul GFLOP/s and ``copy_mb`` MiB copy GB/s.

    Defaults: 2048x2048 matmul, 256 MiB copy (read + write counted), 5 repeats, torch's current
    thread count unless ``threads`` is given. ``matmul_gflops`` is the best of torch and (CPU only,
    when installed) ONNX Runtime and OpenVINO at the same thread count; ``matmul_by_library`` has
    each. ``int8_matmul_gops`` (CPU only) is the best int8 GEMM of the same libraries
    (``int8_by_library``), None when neither is installed. Run it in its own process.
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
            ov_gflops = _ov_matmul_gflops(matmul_n, threads=torch.get_num_threads(), repeats=repeats, int8=False)
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
    return {
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
        [helper.make_node("MatMulInteger", ["A", "B"], ["C"])], "peak_int8",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [n, n])],
        [helper.make_tensor_value_info("C", TensorProto.INT32, [n, n])],
        initializer=[numpy_helper.from_array(b, "B")],
    )
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(),
                                so, providers=["CPUExecutionProvider"])
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
    cfg = {"INFERENCE_NUM_THREADS": int(threads), "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
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
    return 2.0 * n * k * m / _best_seconds(lambda: sess.run(None, feed), repeats) / 1e9


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
