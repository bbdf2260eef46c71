"""End-to-end bench runs over a tiny checkpoint and its ONNX, each row in its own worker process."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from edgeseg.bench.harness import run_matrix
from edgeseg.bench.matrix import matrix_from_dict
from edgeseg.bench.results import load_results
from edgeseg.bench.schema import check_results, state_kind

SETTINGS = {"size": "64x96", "batch": [1, 2], "threads": 1, "warmup": 1, "runs": 3, "timeout": 120}
TINY_PEAK = {"matmul_n": 128, "copy_mb": 4, "stream_mb": 4, "repeats": 2}


def _matrix(rows, **kw):
    return matrix_from_dict({"name": "t", "defaults": SETTINGS, "peak": TINY_PEAK, "rows": rows, **kw})


def test_pt_and_onnx_rows_with_miou_and_crashing_rows(tiny_artifacts, tmp_path):
    a = tiny_artifacts
    m = _matrix(
        [
            {"id": "torch", "artifact": str(a["pt"]), "options": {"channels_last": False}},
            {"id": "ort", "artifact": str(a["onnx"]), "reference": "torch", "max_miou_drop": 0.5},
            {"id": "corrupt", "artifact": str(a["corrupt"])},
            {"id": "oom", "artifact": str(a["onnx"])},
            {"id": "segv", "artifact": str(a["onnx"])},
        ],
        data="synthetic:4",
    )
    out = tmp_path / "res.json"
    run = run_matrix(m, out, progress=False, log=lambda s: None, faults={"oom": "memory", "segv": "segv"})
    doc = json.loads(out.read_text())  # strict JSON on disk
    assert check_results(doc) == []
    assert doc["runs"][0]["id"] == run["id"] and doc["runs"][0]["finished"]
    rows = {r["id"]: r for r in doc["runs"][0]["rows"]}

    for rid, backend in (("torch", "torch"), ("ort", "onnxruntime")):
        r = rows[rid]
        assert r["state"] == "ok", r.get("log")
        assert r["backend"] == backend and r["precision"] == "fp32"
        lat = r["latency_ms"]
        assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert [b["batch"] for b in r["batches"]] == [1, 2]
        assert all(len(b["timings_ms"]) == 3 and b["throughput_fps"] > 0 for b in r["batches"])
        assert r["params"] == a["params"]
        assert r["gflops"] > 0 and r["file_size_mb"] > 0
        assert r["memory"]["rss_peak_mb"] >= r["memory"]["rss_baseline_mb"] > 0
        acc = r["accuracy"]
        assert acc["frames"] == 4 and 0.0 <= acc["miou"] <= 1.0
        assert len(acc["per_class_iou"]) == 11
        assert r["roofline_x"] is not None and r["roofline_x"] > 0
        # the memory side: bytes moved at the row's precision, and which bound the multiple is against
        assert (
            r["mbytes"] > 0
            and r["mbytes_precision"] == "fp32"
            and r["roofline_bound"] in ("compute", "memory")
        )
    # the same weights through torch and ONNX Runtime agree on the labels of almost every pixel
    assert abs(rows["torch"]["accuracy"]["miou"] - rows["ort"]["accuracy"]["miou"]) < 0.01
    assert rows["ort"]["miou_delta_points"] == pytest.approx(
        100 * (rows["ort"]["accuracy"]["miou"] - rows["torch"]["accuracy"]["miou"])
    )

    assert state_kind(rows["corrupt"]["state"]) == "failed"
    assert "corrupt" in rows["corrupt"]["state"] or "readable" in rows["corrupt"]["state"]
    assert rows["oom"]["state"].startswith("failed: out of memory")
    assert rows["segv"]["state"].startswith("failed: worker killed by SIGSEGV")
    assert rows["segv"]["backend"] == "onnxruntime"  # what was measured before the crash is kept
    assert run["peak"]["state"] == "ok" and run["peak"]["matmul_gflops"] > 0 and run["peak"]["stream_gbs"] > 0


@pytest.mark.skipif(sys.platform == "darwin", reason="checks that Core ML rows are skipped off macOS")
def test_timeout_missing_artifact_failed_make_step_and_skips(tiny_artifacts, tmp_path):
    a = tiny_artifacts
    (tmp_path / "m.mlpackage").mkdir()
    m = _matrix(
        [
            {"id": "hang", "artifact": str(a["onnx"]), "timeout": 4},
            {"id": "coreml", "artifact": str(tmp_path / "m.mlpackage")},
            {"id": "ort-cuda", "artifact": str(a["onnx"]), "options": {"providers": ["cuda"]}},
            {"id": "missing", "artifact": str(tmp_path / "nope.onnx")},
            {
                "id": "export",
                "artifact": str(tmp_path / "made.onnx"),
                "make": [["export", str(tmp_path / "no_such.pt"), "-o", "{artifact}"]],
            },
            {
                "id": "build",
                "artifact": str(tmp_path / "made.ort.onnx"),
                "make": [
                    ["build", str(tmp_path / "no_such.onnx"), "--backend", "onnxruntime", "-o", "{artifact}"]
                ],
            },
            {
                "id": "trt",
                "artifact": str(tmp_path / "made.engine"),
                "make": [["build", str(tmp_path / "no_such.onnx"), "-o", "{artifact}"]],
            },
        ]
    )
    out = tmp_path / "res.json"
    run_matrix(m, out, measure_peak=False, progress=False, log=lambda s: None, faults={"hang": "hang"})
    rows = {r["id"]: r for r in load_results(out)["runs"][0]["rows"]}
    assert rows["hang"]["state"].startswith("failed: timeout after 4 s")
    assert rows["missing"]["state"].startswith("failed: artifact not found")
    assert state_kind(rows["export"]["state"]) == "export failed"
    assert state_kind(rows["build"]["state"]) == "build failed"
    assert not (tmp_path / "made.onnx").exists()
    assert rows["coreml"]["state"].startswith("skipped: Core ML prediction needs macOS")
    if importlib.util.find_spec("tensorrt") is None:  # skipped before its make step is even tried
        assert rows["trt"]["state"].startswith("skipped: TensorRT is not installed on this machine (")
        assert "log" not in rows["trt"]
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        assert rows["ort-cuda"]["state"].startswith(
            "skipped: ONNX Runtime provider(s) ['CUDAExecutionProvider'] not available"
        )


def test_rounds_rerun_measured_rows_and_report_the_median_round(tiny_artifacts, tmp_path):
    """rounds: 3 -> every measured row runs twice more (latency only, fresh workers); each row reports
    the round with its median p50, keeps all rounds' p50s, and the peak is the highest of the rounds.
    A row that failed in round 1 is not run again."""
    a = tiny_artifacts
    m = _matrix(
        [{"id": "ort", "artifact": str(a["onnx"])}, {"id": "corrupt", "artifact": str(a["corrupt"])}],
        data="synthetic:2",
        rounds=3,
    )
    lines: list[str] = []
    run = run_matrix(m, tmp_path / "res.json", progress=False, log=lines.append)
    ort, corrupt = run["rows"]
    assert [r["round"] for r in ort["rounds"]] == [1, 2, 3] and all(r["p50"] > 0 for r in ort["rounds"])
    p50s = sorted(r["p50"] for r in ort["rounds"])
    assert ort["latency_ms"]["p50"] == p50s[1]  # the median round's figures, not a mix
    assert ort["rounds"][ort["latency_round"] - 1]["p50"] == ort["latency_ms"]["p50"]
    assert ort["batches"][0]["latency_ms"]["p50"] == ort["latency_ms"]["p50"]
    assert ort["accuracy"]["miou"] is not None  # measured once, in round 1, and kept
    assert "rounds" not in corrupt and state_kind(corrupt["state"]) == "failed"
    assert len(run["peak"]["rounds"]) == 3 and run["peak"]["matmul_gflops"] == max(run["peak"]["rounds"])
    assert sum("round 2/3" in s for s in lines) == 1 and sum("round 3/3" in s for s in lines) == 1
    assert check_results(load_results(tmp_path / "res.json")) == []


def test_rounds_must_be_a_positive_integer():
    from edgeseg.errors import EdgesegError

    with pytest.raises(EdgesegError, match="rounds"):
        _matrix([{"id": "x", "artifact": "x.onnx"}], rounds=0)
