"""What ships in edgeseg/weights: each checkpoint under 12 MB with a card that says how it was trained,
and each QAT INT8 ONNX passing the TensorRT Q/DQ rules with a val figure within 0.5 point of its FP32."""

from pathlib import Path

import pytest

WEIGHTS = Path(__file__).resolve().parents[1] / "edgeseg" / "weights"
CHECKPOINTS = sorted(WEIGHTS.glob("*_camvid.pt"))
QAT = sorted(WEIGHTS.glob("*_camvid_qat_int8.onnx"))


@pytest.mark.parametrize("ckpt", CHECKPOINTS, ids=lambda p: p.name)
def test_checkpoint_is_small_and_its_card_says_how_it_was_trained(ckpt):
    from edgeseg.card import read_sidecar, training_label

    assert ckpt.stat().st_size < 12 * 1024 * 1024
    card = read_sidecar(ckpt)
    assert card.training.get("command", "").startswith("edgeseg train") and training_label(card.training)
    assert 0 < card.metrics["val_miou"] <= 1


@pytest.mark.parametrize("onnx_path", QAT, ids=lambda p: p.name)
def test_qat_onnx_is_tensorrt_ready_and_keeps_its_fp32_accuracy(onnx_path):
    from edgeseg.card import card_from_onnx
    from edgeseg.quant.qdq_check import check_qdq

    card = card_from_onnx(onnx_path)
    q = card.extra["quantization"]
    # op types the quantize command was told to leave in float (PSPNet's pooling MatMuls), as recorded
    assert check_qdq(str(onnx_path), allow_float=q.get("float_ops", ())) == []
    assert card.precision == "int8" and "qat" in q and q["command"]
    assert q["val"]["split"] == "val" and q["val"]["int8_miou"] >= q["val"]["fp32_miou"] - 0.005
    assert (WEIGHTS / onnx_path.name.replace("_qat_int8.onnx", ".pt")).is_file()


def test_something_ships():
    assert CHECKPOINTS and QAT


def test_check_qdq_cli_points_at_the_float_ops_a_shipped_file_records(capsys):
    from edgeseg.cli import main

    psp = WEIGHTS / "pspnet_camvid_qat_int8.onnx"
    assert main(["check-qdq", str(psp)]) == 1  # its pooling MatMuls stay in float on purpose
    assert "check with --allow-float MatMul" in capsys.readouterr().out
    assert main(["check-qdq", str(psp), "--allow-float", "MatMul"]) == 0
    assert main(["check-qdq", str(WEIGHTS / "cgnet_camvid_qat_int8.onnx")]) == 0
    assert "note:" not in capsys.readouterr().out
