"""benchmarks/ratios.py (a shim over edgeseg.report.recommend) picks the baseline and the fastest path
within -0.5 mIoU."""

import importlib.util
from pathlib import Path

import pytest

from edgeseg.bench.results import append_run
from edgeseg.bench.schema import new_run_id

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ratios.py"


def _ratios():
    spec = importlib.util.spec_from_file_location("ratios", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _row(rid, backend, p50, miou, roof, *, cl=False, state="ok"):
    lat = {"mean": p50, "std": 0.0, "min": p50, "p50": p50, "p90": p50, "p99": p50, "max": p50}
    return {
        "id": rid,
        "artifact": "x",
        "state": state,
        "backend": backend,
        "precision": "fp32" if backend == "torch" else "int8",
        "device": "cpu",
        "options": {"channels_last": cl},
        "latency_ms": lat,
        "accuracy": {"miou": miou},
        "roofline_x": roof,
    }


def _file(tmp_path, int8_roof):
    rows = [
        _row("torch-cl", "torch", 60.0, 0.600, 3.0, cl=True),
        _row("torch-nchw", "torch", 100.0, 0.600, 5.0),
        _row("ort-int8", "onnxruntime", 40.0, 0.597, int8_roof),  # -0.3 points: eligible
        _row("ort-int8-lossy", "onnxruntime", 20.0, 0.580, 1.0),  # -2.0 points: not eligible
        _row("crashed", "onnxruntime", 5.0, 0.600, 0.5, state="failed: worker killed by SIGSEGV"),
    ]
    p = tmp_path / f"r{int8_roof}.json"
    append_run(
        p, {"id": new_run_id(), "started": "", "machine": {}, "peak": {"matmul_gflops": 100.0}, "rows": rows}
    )
    return p


@pytest.mark.parametrize("roof, code", [(1.4, 0), (2.0, 1)])
def test_targets(tmp_path, capsys, roof, code):
    rc = _ratios().main([str(_file(tmp_path, roof)), "--check"])
    out = capsys.readouterr().out
    assert (
        "Recommendation: ONNX Runtime INT8 (its own static quantization) [ort-int8] — p50 40.00 ms "
        "(2.5x faster than PyTorch eager FP32)" in out
    )
    assert (
        "speed-up vs PyTorch eager FP32: 2.50x (target >= 2.0x)   MET" in out
    )  # vs NCHW eager, not channels-last
    assert rc == code


def test_openvino_rows_count_as_cpu_paths_and_the_int8_roofline_is_printed(tmp_path, capsys):
    rows = [
        _row("torch-nchw", "torch", 100.0, 0.600, 5.0),
        {
            **_row("ov-int8", "openvino", 25.0, 0.599, 1.3),
            "roofline_int8_x": 4.7,
            "rounds": [{"round": 1, "p50": 31.0}, {"round": 2, "p50": 25.0}, {"round": 3, "p50": 24.0}],
            "latency_round": 2,
        },
    ]
    p = tmp_path / "ov.json"
    append_run(
        p,
        {
            "id": new_run_id(),
            "started": "",
            "machine": {},
            "peak": {"matmul_gflops": 100.0, "int8_matmul_gops": 400.0, "int8_library": "onnxruntime"},
            "rows": rows,
        },
    )
    assert _ratios().main([str(p), "--check"]) == 0
    out = capsys.readouterr().out
    assert "Recommendation: OpenVINO INT8" in out
    assert "against the int8 matmul peak: 4.70x (information)" in out
