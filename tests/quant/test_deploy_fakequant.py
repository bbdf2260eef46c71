"""CGNet's deploy form on the fake-quant graph (edgeseg.quant.deploy_fakequant) and on the CPU Q/DQ path:
the converted fake-quant model computes what the trained one does (before the CPU output quantizers),
the int8 weight codes survive a joint-BN fold (a negative BN scale included), the cpu-target file runs in
ONNX Runtime and OpenVINO and predicts what the file without the deploy form predicts, and the tensorrt
target does not change."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn

from edgeseg.card import card_from_onnx
from edgeseg.cli import main
from edgeseg.errors import QuantizationError
from edgeseg.quant.deploy_fakequant import deploy_fakequant

ARGS = ["--calib", "synthetic:4", "--calib-num", "4", "--bias-correction", "none", "--no-progress"]
#: CGNet M=2, N=3: the blocks rewritten (1 in stage 2, 2 in stage 3); the two down blocks are left
BLOCKS = 3


def _trained_like(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN statistics and affine terms (about half the scales negative) and PReLU slopes."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data = torch.randn(n, generator=g)
            m.bias.data = torch.randn(n, generator=g) * 0.1
        elif isinstance(m, nn.PReLU):
            m.weight.data = torch.randn(m.weight.numel(), generator=g) * 0.5
    return model.eval()


def _qmodel(model: nn.Module, batches, *, fold_bn: bool = True):
    from edgeseg.quant.calibrate import calibrate
    from edgeseg.quant.placement import prepare

    gm, _ = prepare(model, fold_bn=fold_bn)
    calibrate(gm, batches, method="max", progress=False)
    return gm


def _trained_qmodel(trained_ckpt, x, **kw):
    from edgeseg.train.checkpoint import load_checkpoint

    model, card, _ = load_checkpoint(trained_ckpt)
    return model, card, _qmodel(model, [x[:3], x[3:]], **kw)


def test_same_outputs_and_what_changed(trained_ckpt, val_batch):
    x = val_batch[0]
    _, _, gm = _trained_qmodel(trained_ckpt, x)
    before = {k: v.clone() for k, v in gm.state_dict().items()}
    code = gm.code
    out, notes = deploy_fakequant(gm, arch="cgnet")
    with torch.no_grad():
        ref, got = gm(torch.from_numpy(x)), out(torch.from_numpy(x))
    # no quantizer lies between a branch conv and the PReLU: the same float ops in another order
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)  # Polygraphy's FP32 tolerance
    assert len(notes) == 1 and notes[0].startswith(f"{BLOCKS} CG blocks")
    prelus = [n for n, m in out.named_modules() if isinstance(m, nn.PReLU) and n.endswith("_prelu")]
    assert len(prelus) == 2 * BLOCKS and "stage2.0.f_loc_prelu" in prelus
    assert not any(p.startswith(("stage2_down", "stage3_down")) for p in prelus)
    cats = [n for n in out.graph.nodes if n.op == "call_function" and n.target is torch.cat]
    fed_by_prelu = [c for c in cats if all(str(a.target).endswith("_prelu") for a in c.args[0])]
    assert len(fed_by_prelu) == BLOCKS
    for c in fed_by_prelu:  # the joint PReLU is gone: the concat feeds what the PReLU fed
        assert not any(
            isinstance(out.get_submodule(u.target), nn.PReLU) for u in c.users if u.op == "call_module"
        )
    # input quantizers and weights as trained; the model given is not changed
    after = out.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items() if "bn_prelu" not in k)
    assert gm.code == code and all(torch.equal(gm.state_dict()[k], v) for k, v in before.items())


def test_a_joint_bn_fold_keeps_the_int8_weight_codes_and_the_outputs(val_batch):
    """prepare(fold_bn=False) leaves the joint BN: the fold scales each weight quantizer's amax by |scale|,
    so the codes equal the unfolded ones up to each channel's sign (negative BN scales included)."""
    from edgeseg.models import build_model

    model = _trained_like(build_model("cgnet", num_classes=11, m=2, n=3), seed=3)
    scale = model.stage2[0].bn_prelu[0].weight.detach()
    assert (scale < 0).any() and (scale > 0).any()
    x = torch.from_numpy(val_batch[0])
    gm = _qmodel(model, [x.numpy()], fold_bn=False)
    out, notes = deploy_fakequant(gm, arch="cgnet")
    assert "weight ranges scaled" in notes[0]

    def codes(conv) -> torch.Tensor:
        q = conv.weight_quantizer
        return torch.round(conv.weight.detach() / (q.amax.view(-1, 1, 1, 1) / 127))

    sign = torch.sign(scale).view(-1, 1, 1, 1)
    k = model.stage2[0].f_loc.out_channels
    for name, part in (("f_loc", slice(0, k)), ("f_sur", slice(k, 2 * k))):
        src, dst = gm.get_submodule(f"stage2.0.{name}"), out.get_submodule(f"stage2.0.{name}")
        assert torch.equal(codes(dst), sign[part] * codes(src))
        stored = dst.weight_quantizer.amax.clone()
        dst.weight_quantizer.refresh(dst.weight)  # what a forward recomputes: the scaled range
        torch.testing.assert_close(dst.weight_quantizer.amax, stored, atol=0, rtol=1e-6)
    with torch.no_grad():
        ref, got = gm(x), out(x)
    # the fold rounds the weights once more (w x s): a few int8 activations may land on the other side of
    # a rounding boundary; tests/quant's tolerance for one int8 model on two paths
    agree = float((got.argmax(1) == ref.argmax(1)).float().mean())
    rel = float((got - ref).norm() / ref.norm())
    assert agree >= 0.99 and rel <= 0.02, (agree, rel)


def test_other_archs_and_wrong_inputs(trained_ckpt, val_batch):
    _, _, gm = _trained_qmodel(trained_ckpt, val_batch[0])
    out, notes = deploy_fakequant(gm, arch="fcn")  # no DEPLOY_FORMS entry: as trained
    assert notes == [] and out is not gm and out.code == gm.code
    with pytest.raises(QuantizationError, match="placement.prepare"):
        deploy_fakequant(nn.Conv2d(3, 3, 1), arch="cgnet")
    from edgeseg.quant.placement_cpu import add_output_quantizers

    add_output_quantizers(gm)
    with pytest.raises(QuantizationError, match="before the CPU placement"):
        deploy_fakequant(gm, arch="cgnet")


@pytest.fixture(scope="module")
def files(tmp_path_factory, trained_ckpt):
    """cpu-target files with and without the deploy form, and tensorrt-target files, from one PTQ
    checkpoint (export_for_target) and from `edgeseg quantize`."""
    from edgeseg.data.calib import CalibrationSet
    from edgeseg.quant.ptq import calib_facts, ptq, quantized_card
    from edgeseg.quant.qcheckpoint import save_quantized_checkpoint
    from edgeseg.quant.qdq_export import export_qdq_onnx
    from edgeseg.quant.retarget import export_for_target
    from edgeseg.train.checkpoint import load_checkpoint

    d = tmp_path_factory.mktemp("deploy")
    model, card, _ = load_checkpoint(trained_ckpt)
    calib = CalibrationSet("synthetic:4", card, num=4, batch=8, size=tuple(card.input_size))
    qmodel, placement, _, _ = ptq(model, calib, method="max", bias_correction="none", progress=False)
    qcard = quantized_card(card, method="max", calib_facts=calib_facts(calib), placement=placement)
    export_qdq_onnx(qmodel, qcard, d / "live_trt.onnx")
    ckpt = save_quantized_checkpoint(d / "q.pt", qmodel=qmodel, placement=placement, card=qcard)
    kw = dict(target="cpu", calib=calib, log=lambda s: None)
    export_for_target(ckpt, d / "cpu_deploy.onnx", deploy_form=True, **kw)
    export_for_target(ckpt, d / "cpu_plain.onnx", deploy_form=False, **kw)
    export_for_target(ckpt, d / "trt.onnx", log=lambda s: None)
    for target in ("tensorrt", "cpu"):
        argv = ["quantize", str(trained_ckpt), *ARGS, "-o", str(d / f"cli_{target}.onnx"), "--target", target]
        assert main(argv) == 0
    return d


def _ort(path, batch):
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([s.run(None, {"input": batch[i : i + 1]})[0] for i in range(len(batch))])


def _graph_bytes(path) -> bytes:
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    return proto.SerializeToString()


def test_cards_say_which_form(files):
    for name, rewrites in (("cpu_deploy", 1), ("cli_cpu", 0), ("cpu_plain", 0)):
        quant = card_from_onnx(files / f"{name}.onnx").extra["quantization"]
        assert quant["target"] == "cpu" and len(quant["rewrites"]) == rewrites, name
    for name in ("trt", "cli_tensorrt"):
        assert "rewrites" not in card_from_onnx(files / f"{name}.onnx").extra["quantization"]


def test_tensorrt_target_unchanged(files):
    assert _graph_bytes(files / "trt.onnx") == _graph_bytes(files / "live_trt.onnx")
    prelus = [
        sum(n.op_type == "PRelu" for n in onnx.load(str(files / f"{name}.onnx")).graph.node)
        for name in ("cli_tensorrt", "cpu_plain", "cpu_deploy")
    ]
    assert prelus[0] == prelus[1] == prelus[2] - BLOCKS, prelus  # no branch PReLUs under tensorrt


def test_branch_prelus_are_quantized_before_the_concat(files):
    m = onnx.load(str(files / "cpu_deploy.onnx"))
    producer = {o: n for n in m.graph.node for o in n.output}
    prelu_cats = 0
    for n in (n for n in m.graph.node if n.op_type == "Concat"):
        srcs = [producer.get(i) for i in n.input]  # DQ <- Q <- PRelu, per branch
        chain = [
            producer.get(s.input[0]) if s is not None and s.op_type == "DequantizeLinear" else None
            for s in srcs
        ]
        if all(q is not None and q.op_type == "QuantizeLinear" for q in chain):
            prelu_cats += all(producer[q.input[0]].op_type == "PRelu" for q in chain)
    assert prelu_cats == BLOCKS
    plain = onnx.load(str(files / "cpu_plain.onnx"))
    count = [sum(n.op_type == "PRelu" for n in g.graph.node) for g in (plain, m)]
    assert count[1] - count[0] == BLOCKS  # one joint PReLU -> two branch PReLUs per block


def test_runs_in_ort_and_openvino_and_predicts_what_the_plain_file_predicts(files):
    pytest.importorskip("openvino")
    from edgeseg.backends.openvino._core import shared_core

    x = np.random.default_rng(0).normal(0, 1, (4, 3, 64, 96)).astype(np.float32)
    deploy, plain = _ort(files / "cpu_deploy.onnx", x).argmax(1), _ort(files / "cpu_plain.onnx", x).argmax(1)
    assert (deploy == plain).mean() >= 0.97, (deploy == plain).mean()
    compiled = shared_core().compile_model(str(files / "cpu_deploy.onnx"), "CPU")
    ov = np.concatenate([compiled(x[i : i + 1])[0] for i in range(len(x))]).argmax(1)
    assert (ov == deploy).mean() >= 0.97, (ov == deploy).mean()


def test_openvino_builds_the_deploy_form_as_exported_and_the_plain_file_rewritten(files, tmp_path):
    """The build's PRelu rewrite would split the branch PReLUs OpenVINO fuses into their int8 convs: a file
    in its deploy form is converted as exported; the same file as trained keeps the rewrite."""
    pytest.importorskip("openvino")
    from edgeseg.backends.openvino.build import build_openvino

    rw = {}
    for name in ("cpu_deploy", "cpu_plain"):
        res = build_openvino(files / f"{name}.onnx", output=tmp_path / f"{name}.xml", log=lambda s: None)
        rw[name] = res.card.extra["rewrites"]
        assert res.precision == "int8" and res.card.extra["quantization"]["target"] == "cpu"
    assert rw["cpu_deploy"] == [] and any(x.startswith("PRelu") for x in rw["cpu_plain"]), rw
