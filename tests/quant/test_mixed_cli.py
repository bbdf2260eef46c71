"""``edgeseg quantize --max-drop``: the layers left in float are in the card, have no Q/DQ in the ONNX,
and ``check-qdq`` accepts exactly them (the tiny CGNet of conftest, synthetic frames)."""

from __future__ import annotations

import onnx
import pytest

from edgeseg.card import card_from_onnx


@pytest.fixture(scope="module")
def mixed_onnx(trained_ckpt, calib_dir, tmp_path_factory):
    import os

    from edgeseg.cli import main

    d = tmp_path_factory.mktemp("mixed")
    os.environ["EDGESEG_CACHE"] = str(d / "cache")
    out = d / "mixed_int8.onnx"
    argv = ["quantize", str(trained_ckpt), "--calib", str(calib_dir), "--calib-num", "4", "-o", str(out)]
    argv += ["--val-data", "synthetic:4", "--max-drop", "3", "--class-drop", "10"]
    argv += ["--sensitivity-frames", "4", "--bias-correction", "none", "--no-progress"]
    try:
        assert main(argv) == 0
    finally:
        del os.environ["EDGESEG_CACHE"]
    return out, d


def test_card_records_float_layers_and_why(mixed_onnx):
    out, d = mixed_onnx
    mixed = card_from_onnx(out).extra["quantization"]["mixed"]
    assert mixed["float_layers"], "plain INT8 loses ~10 points here: some layer must stay float"
    assert [w["unit"] for w in mixed["why"]] == mixed["float_layers"]
    assert mixed["budget"] == {
        "max_drop": 3.0,
        "class_drop": 10.0,
        "min_class_pixels": 1000,
        "reference": "mIoU@FP32 (the FP32 model's own labels)",
        "drop_reference": "fp32",
    }
    assert mixed["frames"] == 4 and mixed["split"] == "val"
    assert mixed["cast_fp16"] is False  # the card says whether the float layers got FP16 Casts
    assert mixed["budget_met"] and mixed["mixed"]["drop"] <= 3.0 < mixed["int8"]["drop"]
    assert 0 < mixed["float_flops_share"] < 1  # some layers float, not all
    assert list((d / "cache").rglob("cgnet-*.json")), "the per-layer results are cached"


def test_float_layers_have_no_qdq_and_check_qdq_accepts_only_them(mixed_onnx, capsys):
    from edgeseg.cli import main
    from edgeseg.quant.mixed import onnx_nodes
    from edgeseg.quant.qdq_check import check_qdq

    out, _ = mixed_onnx
    proto = onnx.load(str(out))
    layers = card_from_onnx(out).extra["quantization"]["mixed"]["float_layers"]
    nodes = onnx_nodes(proto, layers)
    producer = {o: n for n in proto.graph.node for o in n.output}
    for n in proto.graph.node:
        if n.name in nodes:
            assert all(producer.get(i) is None or producer[i].op_type != "DequantizeLinear" for i in n.input)
    plain = check_qdq(proto)  # without the card's list, exactly the float layers break the rules
    assert {v.node for v in plain} == set(nodes)
    assert check_qdq(proto, allow_float_nodes=nodes) == []
    capsys.readouterr()
    assert main(["check-qdq", str(out)]) == 0
    assert "layers in float, as its card documents" in capsys.readouterr().out


def test_class_drop_needs_max_drop(trained_ckpt, calib_dir, tmp_path, capsys):
    from edgeseg.cli import main

    out = tmp_path / "x.onnx"
    argv = ["quantize", str(trained_ckpt), "--calib", str(calib_dir), "-o", str(out), "--class-drop", "1"]
    assert main(argv) == 2 and not out.exists()
    assert "--class-drop" in capsys.readouterr().err


def test_cast_fp16_float_layers_runs_and_passes_the_checker(mixed_onnx, val_batch):
    """The strongly typed (TensorRT 11) variant: explicit FP16 Casts around the float layers."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto

    from edgeseg.quant.mixed import onnx_nodes
    from edgeseg.quant.mixed_fp16 import cast_layers_fp16
    from edgeseg.quant.qdq_check import check_qdq

    out, _ = mixed_onnx
    proto = onnx.load(str(out))
    nodes = onnx_nodes(proto, card_from_onnx(out).extra["quantization"]["mixed"]["float_layers"])
    x = val_batch[0][:1]

    def run(p):
        s = ort.InferenceSession(p.SerializeToString(), providers=["CPUExecutionProvider"])
        return s.run(None, {s.get_inputs()[0].name: x})[0]

    ref = run(proto)
    assert cast_layers_fp16(proto, nodes) == len(nodes)
    onnx.checker.check_model(proto, full_check=True)
    inits = {t.name: t.data_type for t in proto.graph.initializer}
    for n in proto.graph.node:
        if n.name in nodes:
            assert all(inits.get(i, TensorProto.FLOAT16) == TensorProto.FLOAT16 for i in n.input[1:] if i)
    assert check_qdq(proto, allow_float_nodes=nodes) == []
    got = run(proto)
    assert float((got.argmax(1) == ref.argmax(1)).mean()) >= 0.99
    np.testing.assert_allclose(got, ref, rtol=0, atol=0.05 * float(np.abs(ref).max()))


@pytest.mark.parametrize("backend,suffix", [("openvino", ".xml"), ("onnxruntime", ".ort.onnx")])
def test_cpu_backends_build_the_mixed_qdq_onnx(mixed_onnx, backend, suffix, capsys):
    """OpenVINO and ONNX Runtime build the mixed Q/DQ ONNX as it is: the float layers stay float."""
    pytest.importorskip(backend)
    from edgeseg.cli import main

    out, d = mixed_onnx
    dst = d / f"mixed_{backend}{suffix}"
    assert main(["build", str(out), "--backend", backend, "-o", str(dst)]) == 0, capsys.readouterr()
    assert dst.is_file()


def test_qat_starts_from_the_mixed_placement(trained_ckpt, tmp_path, monkeypatch, capsys):
    from edgeseg.cli import main

    monkeypatch.setenv("EDGESEG_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "qat_mixed.onnx"
    argv = ["quantize", str(trained_ckpt), "--method", "qat", "--data", "synthetic:8", "--max-steps", "2"]
    argv += ["--batch", "2", "--crop", "64x96", "--calib-num", "4", "--val-data", "synthetic:4"]
    argv += [
        "--max-drop",
        "3",
        "--class-drop",
        "10",
        "--sensitivity-frames",
        "4",
        "-o",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0, capsys.readouterr()
    q = card_from_onnx(out).extra["quantization"]
    assert q["qat"]["steps"] == 2 and q["mixed"]["float_layers"] and q["val"]["after"] == "qat"
    assert main(["check-qdq", str(out)]) == 0
    bad = argv[:-3] + ["--save-checkpoint", str(tmp_path / "q.pt"), "-o", str(tmp_path / "x.onnx")]
    assert main(bad) == 2 and "not supported yet" in capsys.readouterr().err


def test_ort_cpu_flavour_excludes_the_chosen_nodes(trained_ckpt, calib_dir, tmp_path, monkeypatch, capsys):
    import onnxruntime as ort

    from edgeseg.cli import main
    from edgeseg.quant.mixed import onnx_nodes

    monkeypatch.setenv("EDGESEG_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "cpu.onnx"
    argv = [
        "quantize",
        str(trained_ckpt),
        "--method",
        "ort-cpu",
        "--calib",
        str(calib_dir),
        "--calib-num",
        "4",
    ]
    argv += [
        "--val-data",
        "synthetic:4",
        "--max-drop",
        "3",
        "--class-drop",
        "10",
        "--sensitivity-frames",
        "4",
    ]
    assert main(argv + ["-o", str(out), "--no-progress"]) == 0, capsys.readouterr()
    q = card_from_onnx(out).extra["quantization"]
    layers = q["mixed"]["float_layers"]
    proto = onnx.load(str(out))
    assert layers and set(onnx_nodes(proto, layers)) <= set(q["float_nodes"])  # the FP32 export's names
    # the search's own layers read float tensors; layers the ONNX Runtime check added later (when the
    # quantized model missed the budget the proxy met) may read a tensor ONNX Runtime quantized for a
    # neighbour (DequantizeLinear -> float Conv), still float math
    assert q["mixed"]["program_checks"][-1]["float_layers"] == len(layers)
    nodes = onnx_nodes(proto, q["mixed"].get("proxy_float_layers", layers))
    producer = {o: n for n in proto.graph.node for o in n.output}
    for n in proto.graph.node:
        if n.name in nodes:
            assert all(producer.get(i) is None or producer[i].op_type != "DequantizeLinear" for i in n.input)
    ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert main(argv[:8] + ["-o", str(tmp_path / "y.onnx"), "--val-data", "synthetic:4"]) == 2


@pytest.mark.parametrize("method", ["ptq", "qat"])
def test_max_drop_with_target_cpu_is_refused_in_one_line_before_any_work(
    trained_ckpt, calib_dir, tmp_path, monkeypatch, capsys, method
):
    """The search scores TensorRT's placement, so --target cpu with --max-drop is refused (not silently
    mis-scored): one line naming both options, exit 2, nothing written, no calibration run."""
    import edgeseg.quant.qdq_steps as steps
    from edgeseg.cli import main

    def no_work(*a, **k):
        raise AssertionError("calibrated before refusing")

    monkeypatch.setattr(steps, "calibrate", no_work)
    out = tmp_path / "x.onnx"
    argv = ["quantize", str(trained_ckpt), "--method", method, "--calib", str(calib_dir), "-o", str(out)]
    argv += ["--val-data", "synthetic:4", "--max-drop", "3", "--target", "cpu"]
    argv += ["--data", "synthetic:4"] if method == "qat" else []
    assert main(argv) == 2 and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--max-drop with --target cpu" in err[0] and "--method ort-cpu" in err[0]


def test_library_refuses_the_same(trained_ckpt, calib_dir, tmp_path):
    from edgeseg.errors import QuantizationError
    from edgeseg.quant.mixed_ptq import MixedRequest
    from edgeseg.quant.pipeline import quantize

    kw = dict(calib=str(calib_dir), val_data="synthetic:4", output=tmp_path / "x.onnx")
    with pytest.raises(QuantizationError, match="--target cpu"):
        quantize(trained_ckpt, method="ptq", target="cpu", mixed=MixedRequest(3.0), **kw)
    with pytest.raises(QuantizationError, match="needs the .pt checkpoint"):
        quantize(tmp_path / "m.onnx", method="ort-cpu", mixed=MixedRequest(3.0), **kw)
    assert not (tmp_path / "x.onnx").exists()


BAD_COSTS = [
    ("nonsense", "expected flops, openvino or a FILE.json"),
    ("{d}/absent.json", "no such file"),
    ("{d}/dir.json", "no such file"),
    ("{d}/broken.json", "not a readable JSON file"),
    ("{d}/other.json", "expected a layer-cost record"),
    ("{d}/nan.json", "must be a finite number or null"),
]


@pytest.mark.parametrize("value,words", BAD_COSTS, ids=[v.split("/")[-1] for v, _ in BAD_COSTS])
def test_bad_layer_cost_is_refused_in_one_line_before_any_work(
    trained_ckpt, calib_dir, tmp_path, bad_cost_dir, monkeypatch, capsys, value, words
):
    import edgeseg.quant.qdq_steps as steps
    from edgeseg.cli import main

    def no_work(*a, **k):
        raise AssertionError("calibrated before refusing")

    monkeypatch.setattr(steps, "calibrate", no_work)
    out = tmp_path / "x.onnx"
    argv = ["quantize", str(trained_ckpt), "--calib", str(calib_dir), "-o", str(out)]
    argv += ["--val-data", "synthetic:4", "--max-drop", "3", "--layer-cost", value.format(d=bad_cost_dir)]
    assert main(argv) == 2 and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--layer-cost" in err[0] and words in err[0], err


def test_layer_cost_needs_max_drop(trained_ckpt, calib_dir, tmp_path, capsys):
    from edgeseg.cli import main

    out = tmp_path / "x.onnx"
    argv = ["quantize", str(trained_ckpt), "--calib", str(calib_dir), "-o", str(out)]
    assert main(argv + ["--layer-cost", "openvino"]) == 2 and not out.exists()
    assert "--layer-cost only work with --max-drop" in capsys.readouterr().err
    assert main(argv + ["--prefer-cheap"]) == 2 and "--prefer-cheap" in capsys.readouterr().err
    assert main(argv + ["--drop-reference", "labels"]) == 2
    assert "--drop-reference only work with --max-drop" in capsys.readouterr().err
    assert main(argv + ["--budget-frames", "8"]) == 2
    assert "--budget-frames only work with --max-drop" in capsys.readouterr().err


def test_layer_cost_of_another_model_is_refused_before_the_sensitivity_pass(
    trained_ckpt, calib_dir, tmp_path, monkeypatch, capsys
):
    import json

    from edgeseg.cli import main

    def no_sensitivity(*a, **k):
        raise AssertionError("scored layers before refusing the cost file")

    monkeypatch.setattr("edgeseg.quant.sensitivity.layer_sensitivity", no_sensitivity)
    # (the search imports layer_sensitivity from its module at call time)
    f = tmp_path / "cost.json"
    rec = {"kind": "edgeseg.layer_cost", "source": "openvino", "label": "ms", "costs": {"conv9": 1.0}}
    f.write_text(json.dumps(rec), encoding="utf-8")
    out = tmp_path / "x.onnx"
    argv = ["quantize", str(trained_ckpt), "--calib", str(calib_dir), "--calib-num", "4", "-o", str(out)]
    argv += ["--val-data", "synthetic:4", "--max-drop", "3", "--sensitivity-frames", "4", "--no-progress"]
    monkeypatch.setenv("EDGESEG_CACHE", str(tmp_path / "cache"))
    assert main(argv + ["--layer-cost", str(f)]) == 2 and not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert "measured another model" in err[-1] and "conv9" in err[-1]


def test_measured_openvino_cost_reaches_the_card_and_the_report(
    trained_ckpt, calib_dir, tmp_path, monkeypatch
):
    """--layer-cost openvino --prefer-cheap: the card's mixed record says the cost was measured (label with
    the OpenVINO version, the CPU and threads) and the trade-off table heads it "ms added (measured,
    OpenVINO)"."""
    pytest.importorskip("openvino")
    from edgeseg.cli import main
    from edgeseg.report.sensitivity_chart import tradeoff_table

    monkeypatch.setenv("EDGESEG_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "mixed.onnx"
    argv = ["quantize", str(trained_ckpt), "--calib", str(calib_dir), "--calib-num", "4", "-o", str(out)]
    argv += [
        "--val-data",
        "synthetic:4",
        "--max-drop",
        "3",
        "--class-drop",
        "10",
        "--sensitivity-frames",
        "4",
    ]
    argv += ["--bias-correction", "none", "--no-progress", "--layer-cost", "openvino", "--prefer-cheap"]
    assert main(argv) == 0
    mixed = card_from_onnx(out).extra["quantization"]["mixed"]
    assert mixed["cost_source"] == "openvino" and mixed["prefer_cheap"] is True
    assert mixed["cost_unit"].startswith("ms per frame added, measured on OpenVINO ")
    assert mixed["cost_facts"]["machine"]["threads"] >= 1 and mixed["cost_facts"]["missing"] == {}
    assert mixed["float_layers"] and all(w["cost"] is not None for w in mixed["why"])
    table = tradeoff_table(mixed)
    assert "| ms added (measured, OpenVINO) |" in table and "ms added of" in table
    assert f"Cost: {mixed['cost_unit']}." in table
