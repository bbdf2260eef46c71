"""A row's time by kind of work (bench.time_split), the dense / channel-wise convolution GFLOPs
(bench.flops.conv_flops_by_kind), and the matrix setting / CLI flag that ask for the profile."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from edgeseg.bench.flops import conv_flops_by_kind, count_flops
from edgeseg.bench.matrix import matrix_from_artifacts, matrix_from_dict, with_overrides
from edgeseg.bench.time_split import KINDS, kind_onnxruntime, kind_openvino, time_split
from edgeseg.errors import EdgesegError


def test_conv_flops_split_by_groups_matches_hand_counts():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # dense: 8x10x12 outputs x 3x3x3 MACs
        nn.Conv2d(8, 8, 3, padding=1, groups=8),  # channel-wise: 8x10x12 x 9
        nn.Conv2d(8, 4, 1),  # dense 1x1: 4x10x12 x 8
    )
    got = conv_flops_by_kind(model, size=(10, 12))
    px = 10 * 12
    assert got["dense"] == pytest.approx(2 * (8 * px * 27 + 4 * px * 8) / 1e9)
    assert got["channel_wise"] == pytest.approx(2 * 8 * px * 9 / 1e9)
    assert got["dense"] + got["channel_wise"] == pytest.approx(count_flops(model, size=(10, 12)) / 1e9)
    assert not any(m._forward_hooks for m in model)  # hooks removed


def test_cgnet_is_almost_all_dense_convolution_operations():
    from edgeseg.models import build_model

    with torch.device("meta"):
        model = build_model("cgnet", num_classes=11)
    got = conv_flops_by_kind(model, size=(360, 480))
    total = count_flops(model, size=(360, 480)) / 1e9
    assert 0.9 < got["dense"] / total < 0.99 and 0.01 < got["channel_wise"] / total < 0.1


@pytest.mark.parametrize(
    "layer,kind",
    [
        ("Convolution", "dense convolution"),
        ("GroupConvolution", "channel-wise convolution"),
        ("Subgraph", "element-wise and quantize"),
        ("Reorder", "layout reorder"),
        ("Interpolate", "resample"),
        ("ReduceMean", "concat, pool and reduce"),
        ("SomethingNew", "other"),
    ],
)
def test_openvino_layer_kinds(layer, kind):
    assert kind_openvino(layer) == kind and kind in KINDS


@pytest.mark.parametrize(
    "op,kind",
    [
        ("QLinearConv", "convolution"),
        ("FusedConv", "convolution"),
        ("DequantizeLinear", "element-wise and quantize"),
        ("ReorderInput", "layout reorder"),
        ("Resize", "resample"),
        ("QLinearConcat", "concat, pool and reduce"),
        ("SomethingNew", "other"),
    ],
)
def test_onnxruntime_op_kinds(op, kind):
    assert kind_onnxruntime(op) == kind and kind in KINDS


def test_onnx_time_split_accounts_for_every_kernel(tiny_artifacts):
    split = time_split(tiny_artifacts["onnx"], runs=3, warmup=1, threads=1)
    assert split["tool"] == "ONNX Runtime profiler" and split["runs"] == 3 and split["threads"] == 1
    assert set(split["kernels_ms"]) <= set(KINDS) and "convolution" in split["kernels_ms"]
    kernels = sum(split["kernels_ms"].values())
    assert 0 < kernels <= split["run_ms"] + 1e-6
    assert split["between_kernels_ms"] == pytest.approx(max(split["run_ms"] - kernels, 0.0), abs=1e-3)
    assert sum(split["calls"].values()) == pytest.approx(split["kernel_calls"], abs=0.5)


def test_openvino_time_split_names_dense_and_channel_wise_convolutions(tiny_artifacts, tmp_path):
    pytest.importorskip("openvino")
    from edgeseg.backends.openvino.build import build_openvino

    ir = build_openvino(tiny_artifacts["onnx"], output=tmp_path / "t.xml", threads=1, log=lambda s: None).path
    split = time_split(ir, runs=2, warmup=1)
    assert split["tool"] == "OpenVINO PERF_COUNT" and split["threads"] == 1
    assert {"dense convolution", "channel-wise convolution"} <= set(split["kernels_ms"])
    assert "other" not in split["kernels_ms"], split  # every layer type CGNet runs has a kind


def test_artifacts_without_a_profiler_give_none(tiny_artifacts):
    assert time_split(tiny_artifacts["pt"]) is None


def test_profile_setting_in_matrices_and_overrides(tmp_path):
    row = {"id": "a", "artifact": "m.onnx"}
    assert matrix_from_dict({"name": "t", "rows": [row]}).rows[0].profile == 0  # off unless asked
    m = matrix_from_dict({"name": "t", "defaults": {"profile": 7}, "rows": [row]})
    assert m.rows[0].profile == 7 and m.rows[0].to_dict()["profile"] == 7
    assert with_overrides(m, profile=3).rows[0].profile == 3
    assert matrix_from_artifacts(["m.onnx"], profile=4).rows[0].profile == 4
    with pytest.raises(EdgesegError, match="profile"):
        matrix_from_dict({"name": "t", "defaults": {"profile": -1}, "rows": [row]})


def test_a_bench_run_keeps_each_profiled_row_split(tiny_artifacts, tmp_path):
    from edgeseg.bench.harness import run_matrix

    a = tiny_artifacts
    defaults = {"size": "64x96", "threads": 1, "warmup": 1, "runs": 2, "timeout": 120, "profile": 2}
    m = matrix_from_dict(
        {
            "name": "t",
            "defaults": defaults,
            "peak": {"matmul_n": 128, "copy_mb": 4, "stream_mb": 4, "repeats": 2},
            "rows": [{"id": "ort", "artifact": str(a["onnx"])}, {"id": "torch", "artifact": str(a["pt"])}],
        }
    )
    run = run_matrix(m, tmp_path / "res.json", progress=False, log=lambda s: None)
    ort, torch_row = run["rows"]
    assert ort["state"] == "ok" and ort["time_split"]["runs"] == 2
    assert ort["settings"]["profile"] == 2
    assert torch_row["state"] == "ok" and torch_row.get("time_split") is None  # no profiler for .pt
    for row in (ort, torch_row):
        assert row["conv_gflops"]["dense"] > row["conv_gflops"]["channel_wise"] > 0
        assert row["conv_gflops"]["dense"] + row["conv_gflops"]["channel_wise"] <= row["gflops"] + 1e-9


@pytest.mark.parametrize("value", ["-1", "x", "1.5"])
def test_bench_refuses_a_bad_profile_count_in_one_line(tiny_artifacts, tmp_path, capsys, value):
    from edgeseg.cli import main

    out = tmp_path / "r.json"
    with pytest.raises(SystemExit) as e:
        main(["bench", str(tiny_artifacts["onnx"]), "--profile", value, "-o", str(out)])
    assert e.value.code == 2 and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--profile" in err and value in err


@pytest.mark.parametrize(
    "name,kind",
    [
        ("Convolution (NHWC, QC8) IGEMM", "dense convolution"),
        ("Convolution (NHWC, QC8) DWConv", "channel-wise convolution"),
        ("Convolution (NHWC, F32) DWConv", "channel-wise convolution"),
        ("Fully Connected (NC, QS8, QC8W) GEMM", "dense convolution"),  # XNNPACK's 1x1 convolution
        ("PReLU (ND)", "element-wise and quantize"),
        ("Convert (NC)", "element-wise and quantize"),
        ("Copy (NC, X8)", "concat, pool and reduce"),
        ("Constant Pad (ND, X32)", "layout reorder"),
        ("Resize Bilinear (NHWC)", "resample"),
        ("native_call_convolution.out", "other"),
    ],
)
def test_xnnpack_operator_kinds(name, kind):
    from edgeseg.bench.time_split import kind_xnnpack

    assert kind_xnnpack(name) == kind
