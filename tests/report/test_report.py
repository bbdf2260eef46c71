"""Report rendering from a constructed results file: table, embedded charts, missing-data notes."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest

from edgeseg.bench.results import append_run
from edgeseg.bench.schema import new_run_id
from edgeseg.bench.stats import summarize
from edgeseg.errors import EdgesegError
from edgeseg.report.charts import pareto_front
from edgeseg.report.render import write_report

CLASSES = ["Sky", "Building", "Road", "Car"]


def _row(rid, backend, precision, p50, miou, *, quant=None, per_class=True, params=494258, state="ok"):
    rng = np.random.default_rng(abs(hash(rid)) % 2**32)
    timings = (p50 * (1 + 0.05 * rng.standard_normal(20))).clip(0.1).tolist()
    row = {
        "id": rid,
        "artifact": f"{rid}.x",
        "state": state,
        "model": "cgnet",
        "arch": "cgnet",
        "backend": backend,
        "precision": precision,
        "quantization": quant,
        "params": params,
        "gflops": 3.4,
        "file_size_mb": 1.9,
        "latency_ms": summarize(timings),
        "threads": 2,
        "input_size": [360, 480],
        "batches": [
            {
                "batch": 1,
                "state": "ok",
                "latency_ms": summarize(timings),
                "timings_ms": timings,
                "throughput_fps": 1000 / np.mean(timings),
            }
        ],
        "memory": {
            "rss_baseline_mb": 30.0,
            "rss_loaded_mb": 150.0,
            "rss_peak_mb": 180.0,
            "rss_source": "VmHWM",
            "rss_peak_scope": "inference",
        },
        "roofline_x": 4.2,
    }
    if miou is not None:
        pcs = (
            {c: float(np.clip(miou + 0.1 * (i - 1.5), 0, 1)) for i, c in enumerate(CLASSES)}
            if per_class
            else {}
        )
        row["accuracy"] = {"miou": miou, "per_class_iou": pcs, "frames": 101, "dataset": "camvid"}
    return row


def _results(tmp_path, rows, name="res.json"):
    p = tmp_path / name
    append_run(
        p,
        {
            "id": new_run_id(),
            "started": "2025-01-01T00:00:00Z",
            "finished": "2025-01-01T00:10:00Z",
            "machine": {"cpu": "Test CPU", "cores": 2},
            "libraries": {"torch": "2.x"},
            "peak": {"state": "ok", "matmul_gflops": 80.0, "bandwidth_gbs": 20.0, "threads": 2},
            "rows": rows,
        },
    )
    return p


def _png_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im.size


def test_full_report(tmp_path):
    rows = [
        _row("torch-fp32", "torch", "fp32", 60.0, 0.60),
        _row("torch-fp32-cl", "torch", "fp32", 40.0, 0.60),
        _row("ort-fp32", "onnxruntime", "fp32", 30.0, 0.601),
        _row("ort-int8", "onnxruntime", "int8", 15.0, 0.585, quant="ptq onnxruntime-cpu"),
        _row("ort-qdq", "onnxruntime", "int8", 20.0, 0.59, quant="qat tensorrt-qdq"),
        _row("no-miou", "onnxruntime", "fp32", 25.0, None),
        {"id": "trt-fp16", "artifact": "m.engine", "state": "skipped: tensorrt is not installed"},
        {"id": "broken", "artifact": "b.onnx", "state": "failed: worker killed by SIGSEGV | twice"},
    ]
    res = _results(tmp_path, rows)
    out = tmp_path / "rep"
    written = write_report([res], out)
    md = (out / "REPORT.md").read_text()
    html = (out / "report.html").read_text()
    for r in rows:  # every row is in the table, with or without numbers
        assert re.search(rf"\| {re.escape(r['id'])} \|", md), r["id"]
        assert f">{r['id']}<" in html
    assert "| ONNX Runtime INT8 (its own static quantization) |" in md  # rows named by deployment path
    assert "| TensorRT INT8 (QAT) Q/DQ graph run by ONNX Runtime (not a deployment path here) |" in md
    assert "failed: worker killed by SIGSEGV \\| twice" in md  # pipes escaped inside a cell
    assert "| 60.00 |" in md and "| 4.2x |" in md and "| 150 | 180 |" in md
    # one model, but CamVid: the parameters chart is drawn with the published CamVid points beside it
    assert "One model in this report" not in md and "Hollow grey circles: published results" in md
    charts = ["params_vs_miou", "latency_vs_miou", "per_class_iou", "latency_distribution"]
    for c in charts:
        assert c in written and f"]({c}.png)" in md
        w, h = _png_size((out / f"{c}.png").read_bytes())
        assert w > 300 and h > 200
    imgs = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(imgs) == len(charts)
    assert all(_png_size(base64.b64decode(s))[0] > 300 for s in imgs)
    assert "http://" not in html and "https://" not in html  # self-contained
    assert "Test CPU" in md and "80.0 GFLOP/s" in md


def test_report_without_accuracy_says_so_and_removes_stale_charts(tmp_path):
    out = tmp_path / "rep"
    full = _results(tmp_path, [_row("a", "torch", "fp32", 10.0, 0.5)], "full.json")
    write_report([full], out)
    assert (out / "latency_vs_miou.png").exists()
    lat_only = _results(
        tmp_path,
        [_row("a", "torch", "fp32", 10.0, None), _row("b", "onnxruntime", "fp32", 8.0, None)],
        "lat.json",
    )
    write_report([lat_only], out)
    md = (out / "REPORT.md").read_text()
    assert "No rows with both a latency and an mIoU" in md
    assert "No rows with per-class IoU" in md
    assert not (out / "latency_vs_miou.png").exists()
    assert (out / "latency_distribution.png").exists()
    failed_only = _results(
        tmp_path, [{"id": "x", "artifact": "x.onnx", "state": "failed: boom"}], "failed.json"
    )
    write_report([failed_only], out)
    assert "No rows with raw timings" in (out / "REPORT.md").read_text()


def test_report_refuses_non_results(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("[1, 2]")
    with pytest.raises(EdgesegError, match="not an edgeseg results file|expected a JSON object"):
        write_report([bad], tmp_path / "rep")
    assert not (tmp_path / "rep" / "REPORT.md").exists()


def test_pareto_front():
    pts = [(10, 50), (12, 55), (11, 49), (30, 54), (5, 40), (40, 60), (12, 52)]
    assert pareto_front(pts) == [(5, 40), (10, 50), (12, 55), (40, 60)]
    assert pareto_front([]) == []


def test_other_tools_json_in_a_glob_is_skipped_and_named(tmp_path):
    res = _results(tmp_path, [_row("a", "torch", "fp32", 10.0, 0.5)])
    other = tmp_path / "camera_throughput.json"
    other.write_text('{"benchmark": "camera_throughput", "fps": 3.9}')
    write_report([res, other], tmp_path / "rep")
    md = (tmp_path / "rep" / "REPORT.md").read_text()
    assert "| a |" in md and "camera_throughput.json" in md
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": "edgeseg.bench/1", "runs": [{"id": 1}]}')
    with pytest.raises(EdgesegError, match="invalid benchmark results"):
        write_report([res, broken], tmp_path / "rep2")


def test_params_chart_draws_published_points_only_for_their_dataset():
    """One CamVid model still gets the parameter chart, with the cited published points beside it;
    the same row on another dataset gets no published points (and, alone, no chart)."""
    from edgeseg.report.charts import params_vs_miou
    from edgeseg.report.entry import ReportEntry
    from edgeseg.report.published import CAMVID_PUBLISHED, published_points

    row = {
        "params": 494258,
        "miou": 0.6228,
        "model": "cgnet",
        "precision": "fp32",
        "precision_base": "fp32",
        "p50": 30.0,
        "backend": "openvino",
        "dataset": "camvid:/data/camvid [val]",
    }
    chart = params_vs_miou([ReportEntry(id="r", **row)])
    assert chart.png is not None and "published" in chart.note
    assert published_points("camvid") == CAMVID_PUBLISHED and all(
        p.source and p.split == "test" for p in CAMVID_PUBLISHED
    )
    other = params_vs_miou([ReportEntry(id="r", **{**row, "dataset": "cityscapes:/data/cs [val]"})])
    assert other.png is None and published_points("cityscapes") == ()
