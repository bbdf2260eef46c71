"""The ONNX Runtime CPU flavour: runs, is labelled CPU-only/asymmetric, and is not TensorRT-clean."""

from __future__ import annotations

import numpy as np
import pytest

from edgeseg.card import card_from_onnx
from edgeseg.data.calib import CalibrationSet
from edgeseg.errors import QuantizationError
from edgeseg.quant.ort_cpu import FLAVOUR, quantize_ort_cpu
from edgeseg.quant.qdq_check import check_qdq


@pytest.fixture(scope="module")
def fp32_onnx(trained_ckpt, tmp_path_factory):
    from edgeseg.export.onnx import export_onnx
    from edgeseg.train.checkpoint import load_checkpoint

    model, card, _ = load_checkpoint(trained_ckpt)
    return export_onnx(model, card, tmp_path_factory.mktemp("ortcpu") / "fp32.onnx"), card


def test_quantize_ort_cpu_runs_and_is_labelled(fp32_onnx, calib_dir, val_batch, tmp_path):
    import onnxruntime as ort

    src, card = fp32_onnx
    calib = CalibrationSet(calib_dir, card, batch=4)  # batches are split to the model's batch of 1
    out = quantize_ort_cpu(src, tmp_path / "cpu.onnx", calib=calib)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cpu.onnx"]
    qcard = card_from_onnx(out)
    assert (
        qcard.precision == "int8" and qcard.extra["flavour"] == FLAVOUR and qcard.extra["asymmetric"] is True
    )
    assert (
        "not for TensorRT" in qcard.extra["note"] and qcard.calibration["fingerprint"] == calib.fingerprint()
    )
    assert "asymmetric" in {v.rule for v in check_qdq(out)}  # rightly rejected for TensorRT
    x, _ = val_batch
    f = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    q = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    ref = np.concatenate([f.run(None, {"input": x[i : i + 1]})[0] for i in range(len(x))])
    got = np.concatenate([q.run(None, {"input": x[i : i + 1]})[0] for i in range(len(x))])
    assert float((got.argmax(1) == ref.argmax(1)).mean()) >= 0.97
    assert float(np.linalg.norm(got - ref) / np.linalg.norm(ref)) <= 0.10


def test_refuses_wrong_size_and_quantized_input(fp32_onnx, calib_dir, tmp_path):
    src, card = fp32_onnx
    with pytest.raises(QuantizationError, match="use --size"):
        quantize_ort_cpu(src, tmp_path / "a.onnx", calib=CalibrationSet(calib_dir, card, size=(32, 32)))
    assert not (tmp_path / "a.onnx").exists()


def test_cli_ort_cpu(trained_ckpt, calib_dir, tmp_path, capsys):
    from edgeseg.cli import main

    out = tmp_path / "m_cpu.onnx"
    rc = main(
        [
            "quantize",
            str(trained_ckpt),
            "--method",
            "ort-cpu",
            "--calib",
            str(calib_dir),
            "--num-calib",
            "4",
            "-o",
            str(out),
            "--no-progress",
            "--reduce-range",
            "off",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0 and out.is_file() and "CPU only, not for TensorRT" in text
    assert card_from_onnx(out).extra["quantization"]["reduce_range"] is False
    request = card_from_onnx(out).calibration["request"]  # the same record as build --int8 writes
    assert request == {"source": str(calib_dir), "num": 4, "method": "minmax", "batch": 8, "seed": 0}


def test_one_owner_of_ort_cpu_int8(monkeypatch, trained_ckpt, fp32_onnx, calib_dir, tmp_path):
    """quantize --method ort-cpu and build --backend onnxruntime --int8 both go through
    quantize_onnx_for_cpu (planting a second path makes this fail)."""
    import edgeseg.quant.ort_cpu as ort_cpu
    from edgeseg.quant.pipeline import quantize

    calls = []
    real = ort_cpu.quantize_onnx_for_cpu
    monkeypatch.setattr(ort_cpu, "quantize_onnx_for_cpu", lambda *a, **k: calls.append(k) or real(*a, **k))
    out = quantize(
        trained_ckpt,
        method="ort-cpu",
        calib=str(calib_dir),
        calib_num=2,
        output=tmp_path / "c.onnx",
        log=lambda s: None,
    )
    assert len(calls) == 1 and calls[0]["request"].num == 2 and out.is_file()
    from edgeseg.backends.onnxruntime.build import build_onnxruntime

    res = build_onnxruntime(
        fp32_onnx[0],
        output=tmp_path / "b.ort.onnx",
        int8=True,
        calib=str(calib_dir),
        calib_num=2,
        log=lambda s: None,
    )
    assert len(calls) == 2 and calls[1]["request"].num == 2 and res.path.is_file()


def test_first_and_last_conv_stay_float_unless_told(fp32_onnx, calib_dir, tmp_path):
    import onnx

    from edgeseg.quant.ort_cpu import first_last_convs

    src, card = fp32_onnx
    convs = [n.name for n in onnx.load(str(src)).graph.node if n.op_type == "Conv"]
    assert first_last_convs(onnx.load(str(src))) == [convs[0], convs[-1]]

    def quantized_weights(path):
        """Conv names whose weight input comes from a DequantizeLinear (i.e. was quantized)."""
        g = onnx.load(str(path)).graph
        dq = {n.output[0] for n in g.node if n.op_type == "DequantizeLinear"}
        return {n.name for n in g.node if n.op_type == "Conv" and n.input[1] in dq}

    calib = CalibrationSet(calib_dir, card, batch=1)
    kept = quantize_ort_cpu(src, tmp_path / "kept.onnx", calib=calib)
    full = quantize_ort_cpu(src, tmp_path / "full.onnx", calib=calib, float_first_last=False)
    q_kept, q_full = quantized_weights(kept), quantized_weights(full)
    assert {convs[0], convs[-1]} <= q_full and not ({convs[0], convs[-1]} & q_kept)
    assert q_full - q_kept == {convs[0], convs[-1]}
    assert card_from_onnx(kept).extra["quantization"]["float_nodes"] == [convs[0], convs[-1]]
    assert card_from_onnx(full).extra["quantization"]["float_nodes"] == []
