"""quantize --target cpu: int8 outputs of PReLU / Concat / Add / Mul / pooling / reduce on top of
TensorRT's placement. The exported graph must reproduce the fake-quant model (the tolerance of
test_ptq_export.py: argmax >= 99 %, relative L2 <= 2 %), run in ONNX Runtime and OpenVINO, and lose
little against the tensorrt-target file; the tensorrt target stays exactly as before."""

from __future__ import annotations

import operator

import numpy as np
import onnx
import pytest
import torch

from edgeseg.card import card_from_onnx
from edgeseg.cli import main
from edgeseg.errors import QuantizationError
from edgeseg.quant.fakequant import TensorQuantizer

ARGS = ["--calib", "synthetic:4", "--calib-num", "4", "--bias-correction", "none", "--no-progress"]


@pytest.fixture(scope="module")
def files(tmp_path_factory, trained_ckpt):
    d = tmp_path_factory.mktemp("targets")
    assert main(["quantize", str(trained_ckpt), *ARGS, "-o", str(d / "default.onnx")]) == 0
    for target in ("tensorrt", "cpu"):
        argv = ["quantize", str(trained_ckpt), *ARGS, "-o", str(d / f"{target}.onnx"), "--target", target]
        assert main(argv) == 0
    return d


def _graph_bytes(path) -> bytes:
    proto = onnx.load(str(path))
    del proto.metadata_props[:]  # the card: its command line differs
    return proto.SerializeToString()


def _ort(path, batch, optimize=True):
    import onnxruntime as ort

    so = ort.SessionOptions()
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return np.concatenate([s.run(None, {"input": batch[i : i + 1]})[0] for i in range(len(batch))])


def _cpu_qmodel(trained_ckpt, calib_batches):
    from edgeseg.quant.calibrate import calibrate
    from edgeseg.quant.placement import prepare
    from edgeseg.quant.placement_cpu import add_output_quantizers, calibrate_outputs
    from edgeseg.train.checkpoint import load_checkpoint

    model, card, _ = load_checkpoint(trained_ckpt)
    qmodel, _ = prepare(model)
    calibrate(qmodel, calib_batches, method="max", progress=False)
    names = add_output_quantizers(qmodel)
    calibrate_outputs(qmodel, names, calib_batches, method="max", progress=False)
    return model, card, qmodel, names


def test_tensorrt_target_is_todays_placement(files):
    assert _graph_bytes(files / "tensorrt.onnx") == _graph_bytes(files / "default.onnx")
    card = card_from_onnx(files / "tensorrt.onnx")
    assert card.extra["flavour"] == "tensorrt-qdq" and "target" not in card.extra["quantization"]


def test_every_listed_output_is_quantized_once(trained_ckpt, val_batch):
    _, _, gm, names = _cpu_qmodel(trained_ckpt, [val_batch[0][:2]])
    assert names and all(n.endswith("output_quantizer") for n in names)
    kinds = {torch.cat, operator.add, operator.mul, "mean"}
    checked = 0
    for node in gm.graph.nodes:
        m = gm.get_submodule(node.target) if node.op == "call_module" else None
        listed = node.op == "placeholder" or isinstance(m, (torch.nn.PReLU, torch.nn.AvgPool2d))
        listed |= node.target in kinds
        if not listed:
            continue
        users = list(node.users)
        assert len(users) == 1, (node.name, users)  # every consumer reads the one quantized value
        q = users[0]
        assert q.op == "call_module" and isinstance(gm.get_submodule(q.target), TensorQuantizer), node.name
        checked += 1
    assert checked >= len(names)


def test_concat_inputs_and_output_share_one_range(trained_ckpt, val_batch):
    from edgeseg.quant.placement_cpu import concat_groups

    _, _, gm, _ = _cpu_qmodel(trained_ckpt, [val_batch[0][:2]])
    groups = concat_groups(gm)
    assert groups  # CGNet's stage joins: the image pooling, the stage output and the block input
    for g in groups:
        assert len({float(gm.get_submodule(n).amax) for n in g}) == 1, g


def test_cpu_file_matches_its_fake_quant_model(trained_ckpt, val_batch, tmp_path, assert_same_int8_numerics):
    from edgeseg.quant.placement_cpu import cpu_card
    from edgeseg.quant.ptq import quantized_card
    from edgeseg.quant.qdq_check import check_qdq
    from edgeseg.quant.qdq_export import export_qdq_onnx

    x = val_batch[0]
    _, card, gm, names = _cpu_qmodel(trained_ckpt, [x[:3], x[3:]])
    from edgeseg.quant.placement import Placement

    qcard = cpu_card(quantized_card(card, method="max", calib_facts={}, placement=Placement()), names)
    out = export_qdq_onnx(gm, qcard, tmp_path / "cpu.onnx")
    assert check_qdq(out) == []
    with torch.no_grad():
        fq = gm(torch.from_numpy(x)).numpy()
    assert_same_int8_numerics(_ort(out, x, optimize=False), fq)


def test_cpu_file_has_more_int8_tensors_and_says_its_target(files):
    trt, cpu = onnx.load(str(files / "tensorrt.onnx")), onnx.load(str(files / "cpu.onnx"))
    q = [sum(n.op_type == "QuantizeLinear" for n in m.graph.node) for m in (trt, cpu)]
    card = card_from_onnx(cpu)
    assert q[1] - q[0] == card.extra["quantization"]["output_quantizers"] > 0
    assert card.extra["flavour"] == "cpu-qdq" and card.extra["quantization"]["target"] == "cpu"
    # a PReLU's output is quantized under the cpu target, not under tensorrt's
    for m, want in ((trt, False), (cpu, True)):
        cons: dict[str, list[str]] = {}
        for n in m.graph.node:
            for i in n.input:
                cons.setdefault(i, []).append(n.op_type)
        prelu_out = [n.output[0] for n in m.graph.node if n.op_type == "PRelu"]
        quantized = [all(c == "QuantizeLinear" for c in cons.get(o, [])) for o in prelu_out]
        assert all(quantized) == want, quantized


def _pixel_acc(pred, labels):
    return float((pred == labels).mean())


def test_cpu_file_runs_in_ort_and_openvino_close_to_the_tensorrt_file(files, val_batch):
    pytest.importorskip("openvino")
    from edgeseg.backends.openvino._core import shared_core

    x, labels = val_batch
    trt = _ort(files / "tensorrt.onnx", x).argmax(1)
    cpu = _ort(files / "cpu.onnx", x).argmax(1)
    compiled = shared_core().compile_model(str(files / "cpu.onnx"), "CPU")
    ovp = np.concatenate([compiled(x[i : i + 1])[0] for i in range(len(x))]).argmax(1)
    assert (ovp == cpu).mean() >= 0.97  # real int8 kernels against ORT
    acc_trt, acc_cpu = _pixel_acc(trt, labels), _pixel_acc(cpu, labels)
    assert acc_cpu >= acc_trt - 0.02, (acc_cpu, acc_trt)


def test_check_qdq_names_the_target(files, capsys):
    assert main(["check-qdq", str(files / "cpu.onnx")]) == 0
    assert "placed for: cpu" in capsys.readouterr().out
    assert main(["check-qdq", str(files / "tensorrt.onnx")]) == 0
    assert "placed for: tensorrt" in capsys.readouterr().out


def test_target_refused_for_ort_cpu_and_unknown(trained_ckpt, tmp_path):
    from edgeseg.quant.pipeline import quantize

    from edgeseg.errors import UnsupportedOptionError

    for method, target, err, msg in (
        ("ort-cpu", "cpu", UnsupportedOptionError, "does not take target"),
        ("ptq", "gpu", QuantizationError, "expected one of"),
    ):
        with pytest.raises(err, match=msg):
            quantize(
                trained_ckpt, method=method, target=target, calib="synthetic:2", output=tmp_path / "x.onnx"
            )
    assert list(tmp_path.iterdir()) == []


def test_one_quantized_checkpoint_exports_for_each_target(trained_ckpt, calib_dir, val_batch, tmp_path):
    from edgeseg.data.calib import CalibrationSet
    from edgeseg.quant.ptq import calib_facts, ptq, quantized_card
    from edgeseg.quant.qcheckpoint import save_quantized_checkpoint
    from edgeseg.quant.qdq_export import export_qdq_onnx
    from edgeseg.quant.retarget import export_for_target
    from edgeseg.train.checkpoint import load_checkpoint

    model, card, _ = load_checkpoint(trained_ckpt)
    calib = CalibrationSet(calib_dir, card, batch=4)
    qmodel, placement, _, _ = ptq(model, calib, method="max", bias_correction="none", progress=False)
    qcard = quantized_card(card, method="max", calib_facts=calib_facts(calib), placement=placement)
    live = export_qdq_onnx(qmodel, qcard, tmp_path / "live.onnx")
    ckpt = save_quantized_checkpoint(tmp_path / "q.pt", qmodel=qmodel, placement=placement, card=qcard)
    with pytest.raises(QuantizationError, match="needs calibration frames"):
        export_for_target(ckpt, tmp_path / "none.onnx", target="cpu", log=lambda s: None)
    trt = export_for_target(ckpt, tmp_path / "trt.onnx", log=lambda s: None)
    assert _graph_bytes(trt) == _graph_bytes(live)  # the stored ranges and weights, placed as before
    cpu = export_for_target(
        ckpt, tmp_path / "cpu.onnx", target="cpu", head="labels", calib=calib, log=lambda s: None
    )
    c = card_from_onnx(cpu)
    assert c.extra["quantization"]["target"] == "cpu" and c.extra["head"] == "labels"
    x, _ = val_batch
    labels = _ort(cpu, x)
    assert labels.dtype == np.uint8 and (labels[:, 0] == _ort(trt, x).argmax(1)).mean() >= 0.9


def test_qat_with_the_cpu_target_saves_a_checkpoint_that_re_exports_the_same_file(trained_ckpt, tmp_path):
    from edgeseg.data.calib import CalibrationSet
    from edgeseg.quant.qcheckpoint import load_quantized_checkpoint
    from edgeseg.quant.retarget import export_for_target

    out, ckpt = tmp_path / "qat_cpu.onnx", tmp_path / "qat.pt"
    qat = ["--method", "qat", "--data", "synthetic:4", "--calib-num", "4", "--batch", "2", "--crop", "64x96"]
    argv = ["quantize", str(trained_ckpt), *qat, "--max-steps", "2", "--target", "cpu", "--no-progress"]
    assert main([*argv, "--save-checkpoint", str(ckpt), "-o", str(out)]) == 0
    _, card, _ = load_quantized_checkpoint(ckpt)  # TensorRT's quantizers only: it loads
    assert card.extra["flavour"] == "tensorrt-qdq" and card_from_onnx(out).extra["flavour"] == "cpu-qdq"
    calib = CalibrationSet("synthetic:4", card, num=4, batch=8, size=tuple(card.input_size))
    again = export_for_target(ckpt, tmp_path / "again.onnx", target="cpu", calib=calib, log=lambda s: None)
    assert _graph_bytes(again) == _graph_bytes(out)
