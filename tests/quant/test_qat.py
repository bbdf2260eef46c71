"""QAT: a tiny fine-tune runs, exports a checked Q/DQ ONNX, and its checkpoint loads both ways."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeseg.card import card_from_onnx
from edgeseg.errors import QuantizationError
from edgeseg.quant.qcheckpoint import load_quantized_checkpoint
from edgeseg.train.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def qat_run(trained_ckpt, tmp_path_factory):
    from edgeseg.cli import main

    d = tmp_path_factory.mktemp("qat")
    out, ckpt = d / "tiny_qat.onnx", d / "tiny_qat.pt"
    rc = main(
        [
            "quantize",
            str(trained_ckpt),
            "--method",
            "qat",
            "--data",
            "synthetic:4",
            "--num-calib",
            "4",
            "--epochs",
            "1",
            "--batch",
            "2",
            "--crop",
            "64x96",
            "--max-steps",
            "2",
            "--lr",
            "1e-4",
            "--save-checkpoint",
            str(ckpt),
            "-o",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    return out, ckpt


def test_qat_writes_no_checkpoint_unless_asked_and_names_no_internal_function(trained_ckpt, tmp_path, capsys):
    from edgeseg.cli import main

    out = tmp_path / "q.onnx"
    rc = main(
        [
            "quantize",
            str(trained_ckpt),
            "--method",
            "qat",
            "--data",
            "synthetic:4",
            "--calib-num",
            "2",
            "--epochs",
            "1",
            "--batch",
            "2",
            "--crop",
            "64x96",
            "--max-steps",
            "1",
            "-o",
            str(out),
            "--no-progress",
        ]
    )
    text = capsys.readouterr()
    assert rc == 0 and out.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.onnx"]  # no q.pt nobody asked for
    assert (
        "load_quantized_checkpoint" not in text.out + text.err and "edgeseg.quant." not in text.out + text.err
    )


def test_qat_exports_checked_onnx_and_checkpoint(qat_run, trained_ckpt):
    from edgeseg.quant.qdq_check import check_qdq

    out, ckpt = qat_run
    assert check_qdq(str(out)) == []
    card = card_from_onnx(out)
    assert card.precision == "int8" and card.calibration["method"] == "mse"  # QAT's default start
    qat = card.extra["quantization"]["qat"]
    assert qat["steps"] == 2 and qat["data"] == "synthetic:4" and len(qat["loss"]) == 1
    # the weights moved
    before, _, _ = load_checkpoint(trained_ckpt)
    after, card2, payload = load_checkpoint(ckpt)  # plain load works: FP32 arch with the QAT weights
    assert card2.precision == "int8" and "quant" in payload["state"]
    assert any(
        not torch.equal(a, b) for a, b in zip(before.state_dict().values(), after.state_dict().values())
    )


def test_quantized_checkpoint_reproduces_the_onnx(qat_run, val_batch, assert_same_int8_numerics):
    import onnxruntime as ort

    out, ckpt = qat_run
    qmodel, card, _ = load_quantized_checkpoint(ckpt)
    x, _ = val_batch
    with torch.no_grad():
        fq = qmodel(torch.from_numpy(x[:2])).numpy()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(out), so, providers=["CPUExecutionProvider"])
    got = np.concatenate([sess.run(None, {"input": x[i : i + 1]})[0] for i in range(2)])
    assert_same_int8_numerics(got, fq)


def test_load_quantized_refuses_plain_checkpoint(trained_ckpt):
    from edgeseg.errors import CheckpointError

    with pytest.raises(CheckpointError, match="not a quantized checkpoint"):
        load_quantized_checkpoint(trained_ckpt)


def test_qat_needs_data_and_refuses_int8_input(trained_ckpt, qat_run, tmp_path, capsys):
    from edgeseg.cli import main

    assert main(["quantize", str(trained_ckpt), "--method", "qat", "-o", str(tmp_path / "a.onnx")]) == 2
    assert "needs --data" in capsys.readouterr().err
    _, ckpt = qat_run
    assert main(["quantize", str(ckpt), "--calib", "synthetic:2", "-o", str(tmp_path / "b.onnx")]) == 2
    assert "already int8" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_qat_finetune_rejects_bad_settings(trained_ckpt):
    from edgeseg.data.datasets import open_dataset
    from edgeseg.quant.placement import prepare
    from edgeseg.quant.qat import qat_finetune

    model, card, _ = load_checkpoint(trained_ckpt)
    qmodel, _ = prepare(model)
    ds = open_dataset("synthetic:2", size=(64, 96))
    with pytest.raises(QuantizationError, match="calibrate the model before QAT"):
        qat_finetune(qmodel, card, ds, epochs=1, progress=False)
    with pytest.raises(QuantizationError, match="at least one epoch"):
        qat_finetune(qmodel, card, ds, epochs=0, progress=False)


def test_torch_runner_runs_a_qat_checkpoint_with_int8_numerics(qat_run, val_batch, assert_same_int8_numerics):
    """A QAT .pt opened by open_runner runs its fake-quant model (labelled int8), not the float weights."""
    from edgeseg.backends import open_runner

    out, ckpt = qat_run
    qmodel, _, _ = load_quantized_checkpoint(ckpt)
    x, _ = val_batch
    with torch.no_grad():
        fq = qmodel(torch.from_numpy(x[:1])).numpy()
    with open_runner(ckpt, channels_last=False) as r:
        assert r.precision == "int8"
        got = r.infer(x[:1])
    assert_same_int8_numerics(got, fq)
    float_model, _, _ = load_checkpoint(ckpt)
    with torch.no_grad():
        fp = float_model(torch.from_numpy(x[:1])).numpy()
    assert not np.allclose(got, fp, atol=1e-6)  # it is not the float model


def test_qat_with_val_data_records_both_mious_in_the_card(trained_ckpt, tmp_path, capsys):
    from edgeseg.cli import main

    out = tmp_path / "qv.onnx"
    rc = main(
        [
            "quantize",
            str(trained_ckpt),
            "--method",
            "qat",
            "--data",
            "synthetic:4",
            "--calib-num",
            "2",
            "--epochs",
            "1",
            "--batch",
            "2",
            "--crop",
            "64x96",
            "--max-steps",
            "1",
            "--val-data",
            "synthetic:3",
            "-o",
            str(out),
            "--no-progress",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0
    assert "val mIoU on synthetic:3 [val] after QAT: FP32 " in text and "INT8 " in text
    val = card_from_onnx(out).extra["quantization"]["val"]
    assert "command" in card_from_onnx(out).extra["quantization"]  # the command line that made it
    assert (
        val["after"] == "qat"
        and val["data"] == "synthetic:3"
        and 0 <= val["int8_miou"] <= 1
        and 0 <= val["fp32_miou"] <= 1
    )
