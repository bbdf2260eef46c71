"""The memory side of the roofline: bytes each layer moves at the artifact's precision
(``edgeseg.bench.traffic``), the STREAM-like bandwidth probe, the bound a row is held to (the larger of
compute and memory time) and the report saying which bound applies; old results still render."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from edgeseg.bench.roofline import (
    bound_ms,
    memory_bound_ms,
    roofline_multiple,
    row_roofline,
    stream_bandwidth,
)
from edgeseg.bench.traffic import layer_traffic


def _conv_bn_relu():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())


@pytest.mark.parametrize(
    "precision,expected",
    [
        # input 3x4x5, output 8x4x5 (activations), weights 8x3x3x3 = 216 + bias 8; BatchNorm and ReLU
        # fused: nothing
        ("fp32", 60 * 4 + 160 * 4 + 216 * 4 + 8 * 4),  # 1776
        ("fp16", 60 * 2 + 160 * 2 + 216 * 2 + 8 * 2),  # 888
        ("int8", 60 * 1 + 160 * 1 + 216 * 1 + 8 * 4),  # 468: int8 kernels keep int32 biases
    ],
)
def test_a_conv_layer_moves_its_input_output_and_weights_at_the_precision(precision, expected):
    t = layer_traffic(_conv_bn_relu(), size=(4, 5), precision=precision)
    assert t["bytes"] == expected and t["mbytes"] == expected / 1e6 and t["precision"] == precision
    assert [(r["name"], r["op"]) for r in t["layers"]] == [("0", "convolution")]


def test_functional_ops_count_and_views_do_not():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1, bias=False)

        def forward(self, x):
            y = F.interpolate(self.conv(x), scale_factor=2.0, mode="nearest")  # 4x4x6 -> 4x8x12
            return torch.cat([y, y], 1).view(1, -1)

    t = layer_traffic(Net(), size=(4, 6), batch=1)
    got = {r["op"]: (r["in_bytes"], r["out_bytes"], r["weight_bytes"]) for r in t["layers"]}
    assert got == {
        "convolution": (72 * 4, 96 * 4, 12 * 4),
        "upsample_nearest2d": (96 * 4, 384 * 4, 0),
        "cat": (768 * 4, 768 * 4, 0),
    }


def test_tiny_cgnet_final_resize_and_classifier_are_counted_by_hand():
    from edgeseg.models import build_model

    with torch.device("meta"):  # shapes only
        model = build_model("cgnet", num_classes=11, m=2, n=3)
    t = layer_traffic(model, size=(64, 96), batch=2)
    resize = [r for r in t["layers"] if r["op"] == "upsample_bilinear2d"][-1]
    assert (resize["in_bytes"], resize["out_bytes"], resize["weight_bytes"]) == (
        2 * 11 * 8 * 12 * 4,
        2 * 11 * 64 * 96 * 4,
        0,
    )
    cls = next(r for r in t["layers"] if r["name"] == "classifier.0")
    assert cls["weight_bytes"] == 11 * 256 * 4 and cls["out_bytes"] == 2 * 11 * 8 * 12 * 4
    assert t["mbytes"] == pytest.approx(t["bytes"] / 2 / 1e6)
    assert not any(r["op"].startswith(("_native_batch_norm", "_prelu")) for r in t["layers"])
    int8 = layer_traffic(model, size=(64, 96), precision="int8")["mbytes"]
    assert t["mbytes"] / 4 < int8 < t["mbytes"] / 3  # activations and weights at 1 byte, 1-D vectors at 4


def test_the_bound_is_the_larger_of_compute_and_memory_time():
    # 3 GFLOPs at 100 GFLOP/s = 30 ms; 600 MB at 10 GB/s = 60 ms -> memory; at 30 GB/s 20 ms -> compute
    assert memory_bound_ms(600.0, 1, 10.0) == pytest.approx(60.0)
    assert bound_ms(3.0, 600.0, 1, 100.0, 10.0) == (pytest.approx(60.0), "memory")
    assert bound_ms(3.0, 600.0, 1, 100.0, 30.0) == (pytest.approx(30.0), "compute")
    assert bound_ms(3.0, None, 1, 100.0, 10.0) == (pytest.approx(30.0), "compute")  # no bytes: compute only
    assert bound_ms(3.0, 600.0, 1, 100.0, None) == (pytest.approx(30.0), "compute")
    assert bound_ms(None, 600.0, 1, 100.0, 10.0) == (None, None)
    assert roofline_multiple(90.0, 3.0, 1, 100.0, mbytes=600.0, gbs=10.0) == pytest.approx(1.5)
    assert roofline_multiple(90.0, 3.0, 1, 100.0) == pytest.approx(3.0)  # as before the memory side existed


def test_a_row_gets_a_bound_per_peak():
    """200 MB at 10 GB/s = 20 ms: above 3 GFLOPs at the float32 peak (100: 30 ms) it is compute-bound, at the
    int8 peak (400: 7.5 ms) memory-bound."""
    peak = {"matmul_gflops": 100.0, "int8_matmul_gops": 400.0, "stream_gbs": 10.0}
    row = {"precision": "int8", "gflops": 3.0, "mbytes": 200.0}
    got = row_roofline(row, peak, latency_ms=45.0, batch=1)
    assert got == {
        "roofline_x": pytest.approx(1.5),
        "roofline_bound": "compute",
        "roofline_int8_x": pytest.approx(2.25),
        "roofline_int8_bound": "memory",
    }
    old = row_roofline(
        {"precision": "fp32", "gflops": 3.0}, {"matmul_gflops": 100.0}, latency_ms=45.0, batch=1
    )
    assert old == {"roofline_x": pytest.approx(1.5), "roofline_bound": "compute"}
    assert row_roofline({"precision": "fp32"}, peak, latency_ms=45.0, batch=1) == {
        "roofline_x": None,
        "roofline_bound": None,
    }


def test_stream_probe_counts_bytes_as_stream_does():
    s = stream_bandwidth(threads=2, mb=8, repeats=2)
    assert (
        s["copy_gbs"] > 0 and s["triad_gbs"] > 0 and (s["array_mb"], s["threads"], s["repeats"]) == (8, 2, 2)
    )
    with pytest.raises(ValueError, match="threads, mb and repeats must be >= 1"):
        stream_bandwidth(threads=0)


def test_report_says_the_bound_and_old_rows_still_render(tmp_path):
    from edgeseg.bench.results import append_run
    from edgeseg.bench.schema import new_run_id
    from edgeseg.bench.stats import summarize
    from edgeseg.cli import main

    def row(rid, **kw):
        lat = summarize([10.0] * 3)
        return {
            "id": rid,
            "artifact": f"{rid}.onnx",
            "state": "ok",
            "model": "cgnet",
            "backend": "onnxruntime",
            "precision": "fp32",
            "device": "cpu",
            "gflops": 4.45,
            "latency_ms": lat,
            "batches": [{"batch": 1, "state": "ok", "latency_ms": lat, "timings_ms": [10.0] * 3}],
            **kw,
        }

    p = tmp_path / "res.json"
    peak = {
        "state": "ok",
        "matmul_gflops": 400.0,
        "bandwidth_gbs": 40.0,
        "stream_gbs": 14.2,
        "stream": {"copy_gbs": 12.9, "triad_gbs": 14.2, "array_mb": 128},
    }
    append_run(
        p,
        {
            "id": new_run_id(),
            "started": "",
            "machine": {},
            "peak": peak,
            "rows": [
                row("new-mem", roofline_x=2.4, roofline_bound="memory", mbytes=532.5),
                row("new-cmp", roofline_x=3.6, roofline_bound="compute"),
                row("old", roofline_x=4.1),
            ],
        },
    )
    assert main(["report", str(p), "-o", str(tmp_path / "rep")]) == 0
    md = (tmp_path / "rep" / "REPORT.md").read_text()
    lines = {
        rid: next(line for line in md.splitlines() if f"| {rid} |" in line)
        for rid in ("new-mem", "new-cmp", "old")
    }
    assert "| 2.4x (memory) |" in lines["new-mem"] and "| 3.6x (compute) |" in lines["new-cmp"]
    assert "| 4.1x |" in lines["old"]
    assert "14.2 GB/s STREAM (copy 12.9, triad 14.2; 128 MiB arrays)" in md


def test_a_labels_head_is_counted_and_its_output_checked_as_labels():
    """The bench holds a labels artifact to its own output (N x 1 x H x W uint8) and counts the head's bytes:
    the arg-max reads the 11 logit channels once; the low-res head never writes them at full size."""
    import numpy as np

    from edgeseg.bench.measure import check_logits
    from edgeseg.export.head import with_head
    from edgeseg.models import build_model

    with torch.device("meta"):
        model = build_model("cgnet", num_classes=11, m=2, n=3)
    mb = {
        h: layer_traffic(with_head(model, h), size=(64, 96))["mbytes"]
        for h in ("logits", "labels", "labels-lowres")
    }
    full = 11 * 64 * 96 * 4 / 1e6  # the full-size logits: read once more by the arg-max
    # the arg-max reads them and writes int64 ids (ONNX ArgMax's type); the cast to uint8 is fused (free)
    assert mb["labels"] - mb["logits"] == pytest.approx(full + 64 * 96 * 8 / 1e6)
    # low-res: the full-size float logits are never written; the 8x12 arg-max writes int64 ids, the
    # nearest resize reads their uint8 copy and writes the 64x96 uint8 map
    assert mb["labels-lowres"] - mb["logits"] == pytest.approx(-full + (8 * 12 * 8 + 8 * 12 + 64 * 96) / 1e6)
    ok = np.zeros((2, 1, 8, 12), np.uint8)
    assert check_logits(ok, batch=2, num_classes=11, size=(8, 12), head="labels") is None
    assert (
        check_logits(ok.astype(np.float32), batch=2, num_classes=11, size=(8, 12), head="labels")
        == "labels of type float32, expected uint8"
    )
    assert (
        check_logits(ok, batch=2, num_classes=11, size=(8, 12))
        == "logits shape (2, 1, 8, 12), expected (2, 11, 8, 12)"
    )


def test_bench_measures_a_labels_artifact_without_an_output_problem(tiny_artifacts):
    from edgeseg.backends.onnxruntime.runner import OrtRunner
    from edgeseg.bench.measure import latency_entry, model_facts
    from edgeseg.export.onnx import export_onnx
    from edgeseg.train.checkpoint import load_checkpoint

    model, card, _ = load_checkpoint(tiny_artifacts["pt"])
    path = export_onnx(model, card, tiny_artifacts["dir"] / "labels.onnx", head="labels")
    with OrtRunner(path, threads=1) as r:
        entry = latency_entry(r, batch=1, size=tuple(card.input_size), warmup=1, runs=2)
    assert entry["output_problem"] is None and entry["state"] == "ok"
    facts = model_facts(
        path, card.replace(extra={**card.extra, "head": "labels"}), size=tuple(card.input_size)
    )
    logits = model_facts(tiny_artifacts["onnx"], card, size=tuple(card.input_size))
    assert facts["mbytes"] > logits["mbytes"] > 0 and facts["mbytes_precision"] == "fp32"


def test_a_gpu_peak_without_a_triad_renders():
    """On a GPU the device copy is the rows' bandwidth (no numpy triad): the report's peak line still
    reads."""
    from edgeseg.report.render import _stream_text

    gpu = {
        "stream_gbs": 3200.0,
        "stream": {"copy_gbs": 3200.0, "triad_gbs": None, "array_mb": 256, "device": "cuda"},
    }
    assert _stream_text(gpu) == ", 3200.0 GB/s STREAM (copy 3200.0; 256 MiB arrays)"
    assert _stream_text({"bandwidth_gbs": 40.0}) == ""  # a peak from before the probe
