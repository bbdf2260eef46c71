import importlib.util
import math

import numpy as np
import pytest

from edgeseg.bench.roofline import compute_bound_ms, roofline_multiple
from edgeseg.bench.stats import STAT_KEYS, summarize, throughput


def test_summary_is_ordered_and_matches_numpy():
    rng = np.random.default_rng(0)
    t = rng.lognormal(1.0, 0.5, size=200).tolist()
    s = summarize(t)
    assert set(s) == set(STAT_KEYS)
    assert s["min"] <= s["p50"] <= s["p90"] <= s["p99"] <= s["max"]
    assert s["mean"] == pytest.approx(float(np.mean(t)))
    assert s["p90"] == pytest.approx(float(np.percentile(t, 90)))
    assert s["std"] == pytest.approx(float(np.std(t)))


def test_single_timing_and_bad_input():
    s = summarize([4.0])
    assert s["p50"] == s["p99"] == s["min"] == 4.0 and s["std"] == 0.0
    with pytest.raises(ValueError, match="no timings"):
        summarize([])
    with pytest.raises(ValueError, match="NaN"):
        summarize([1.0, float("nan")])


def test_throughput_and_roofline():
    assert throughput(4, 20.0) == pytest.approx(200.0)
    assert math.isnan(throughput(1, 0.0))
    # 3.0 GFLOPs at 100 GFLOP/s -> 30 ms; a 90 ms run is 3x the compute-bound time
    assert compute_bound_ms(3.0, 1, 100.0) == pytest.approx(30.0)
    assert roofline_multiple(90.0, 3.0, 1, 100.0) == pytest.approx(3.0)
    assert roofline_multiple(90.0, 3.0, 2, 100.0) == pytest.approx(1.5)
    assert roofline_multiple(90.0, None, 1, 100.0) is None
    assert roofline_multiple(None, 3.0, 1, 100.0) is None


def test_peak_is_the_best_gemm_library_and_names_it():
    """The roofline's peak must not be one library's slow GEMM: torch's and ONNX Runtime's are both
    measured and the larger one is the peak (a roofline below what a row reaches would be a lie)."""
    pytest.importorskip("onnxruntime")
    from edgeseg.bench.roofline import measure_peak

    p = measure_peak(threads=1, matmul_n=256, copy_mb=8, stream_mb=8, repeats=2)
    libs = p["matmul_by_library"]
    want = {"torch", "onnxruntime"} | ({"openvino"} if importlib.util.find_spec("openvino") else set())
    assert set(libs) == want and all(v > 0 for v in libs.values())
    assert p["matmul_gflops"] == max(libs.values()) and p["matmul_library"] == max(libs, key=libs.get)
    int8 = p["int8_by_library"]  # the int8 GEMM peak of the same libraries (torch has no int8 GEMM here)
    assert set(int8) == want - {"torch"} and all(v > 0 for v in int8.values())
    assert p["int8_matmul_gops"] == max(int8.values()) and p["int8_library"] == max(int8, key=int8.get)
    st = p["stream"]  # the STREAM-like bandwidth beside the compute peaks (the roofline's memory side)
    assert (st["array_mb"], st["threads"]) == (8, 1) and p["stream_gbs"] == max(
        st["copy_gbs"], st["triad_gbs"]
    ) > 0
