"""Bias correction: the corrected INT8 output mean moves to the float one, the exported graph keeps
the bias as the Conv's float32 input and passes the Q/DQ rules, ONNX Runtime runs it."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn

from edgeseg.errors import QuantizationError
from edgeseg.quant.bias_correction import bias_state, correct_bias, load_bias_state, spread_frames
from edgeseg.quant.calibrate import calibrate
from edgeseg.quant.placement import prepare


def _toy(seed: int = 0) -> nn.Module:
    """Two convs without bias, a ReLU between: the correction must create the biases."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(), nn.Conv2d(8, 6, 1, bias=False)
    ).eval()


def _batches(n: int = 4, seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [
        torch.rand(2, 3, 16, 16, generator=g) ** 3 * 4 for _ in range(n)
    ]  # skewed: clipping shifts the mean


def _quantized(model: nn.Module, batches) -> nn.Module:
    qmodel, _ = prepare(model)
    calibrate(qmodel, batches, method="percentile", percentile=90.0, progress=False)  # heavy clipping
    return qmodel


def _channel_means(m: nn.Module, batches, upto: int | None = None) -> torch.Tensor:
    with torch.no_grad():
        ys = [m(b) for b in batches]
    return torch.cat(ys).mean(dim=(0, 2, 3))


def test_fast_correction_moves_the_first_layer_mean_to_float():
    model, batches = _toy(), _batches()
    first = nn.Sequential(model[0])  # one quantized conv: fast and sequential are the same thing here
    qmodel = _quantized(first, batches)
    ref = _channel_means(first, batches)
    before = (_channel_means(qmodel, batches) - ref).abs()
    shifts = correct_bias(qmodel, batches, mode="fast", progress=False)
    after = (_channel_means(qmodel, batches) - ref).abs()
    assert set(shifts) == {"0"} and qmodel.get_submodule("0").bias is not None
    assert before.max() > 1e-2  # the clipping really shifted the mean
    assert after.max() < 1e-4 * max(1.0, float(ref.abs().max())) and after.max() < before.max() / 100


def test_sequential_correction_matches_the_float_mean_at_every_layer():
    model, batches = _toy(), _batches()
    fast, seq = _quantized(model, batches), _quantized(model, batches)
    correct_bias(fast, batches, mode="fast", progress=False)
    correct_bias(seq, batches, mode="sequential", frames=None, progress=False)
    ref = _channel_means(model, batches)
    err_seq = (_channel_means(seq, batches) - ref).abs()
    err_fast = (_channel_means(fast, batches) - ref).abs()
    # the last layer absorbs the mean error the first one passes on: exact on the calibration frames
    assert err_seq.max() < 1e-4 * max(1.0, float(ref.abs().max()))
    assert err_seq.max() < err_fast.max()


def test_none_mode_and_state_round_trip():
    model, batches = _toy(), _batches()
    qmodel = _quantized(model, batches)
    out = qmodel(batches[0])
    start = bias_state(qmodel)
    assert correct_bias(qmodel, batches, mode="none") == {} and bias_state(qmodel) == start
    correct_bias(qmodel, batches, mode="sequential", progress=False)
    assert not torch.equal(qmodel(batches[0]), out)
    load_bias_state(qmodel, start)
    assert qmodel.get_submodule("0").bias is None and torch.equal(qmodel(batches[0]), out)


def test_refuses_bad_input():
    model, batches = _toy(), _batches()
    qmodel, _ = prepare(model)
    with pytest.raises(QuantizationError, match="calibrate first"):
        correct_bias(qmodel, batches, progress=False)
    qmodel = _quantized(model, batches)
    with pytest.raises(QuantizationError, match="unknown bias correction 'slow'"):
        correct_bias(qmodel, batches, mode="slow")
    with pytest.raises(QuantizationError, match="frames must be >= 1"):
        correct_bias(qmodel, batches, frames=0)
    with pytest.raises(QuantizationError, match="no batches"):
        correct_bias(qmodel, [], mode="sequential", progress=False)


def test_spread_frames_keeps_evenly_spaced_frames():
    batches = [torch.arange(i, i + 4, dtype=torch.float32).reshape(4, 1) for i in range(0, 12, 4)] + [
        torch.tensor([[12.0]])
    ]
    assert spread_frames(batches, None) is batches and spread_frames(batches, 13) is batches
    got = spread_frames(batches, 5)
    assert [len(b) for b in got] == [4, 1]
    assert torch.cat(got).flatten().tolist() == [0.0, 3.0, 6.0, 9.0, 12.0]


@pytest.fixture(scope="module")
def corrected(trained_ckpt, calib_dir, tmp_path_factory):
    """The library's default PTQ (mse + sequential bias correction) of the tiny CGNet, exported."""
    from edgeseg.data.calib import CalibrationSet
    from edgeseg.quant.ptq import calib_facts, ptq, quantized_card
    from edgeseg.quant.qdq_export import export_qdq_onnx
    from edgeseg.train.checkpoint import load_checkpoint

    model, card, _ = load_checkpoint(trained_ckpt)
    calib = CalibrationSet(calib_dir, card, batch=4)
    plain, _, _, _ = ptq(model, calib, bias_correction="none", progress=False)
    qmodel, placement, _, _ = ptq(model, calib, progress=False)
    qcard = quantized_card(
        card, method="mse", calib_facts=calib_facts(calib), placement=placement, bias_correction="sequential"
    )
    out = export_qdq_onnx(qmodel, qcard, tmp_path_factory.mktemp("bc") / "bc_int8.onnx")
    return model, plain, qmodel, out


def test_corrected_export_keeps_float_biases_and_passes_the_rules(corrected):
    from onnx import TensorProto

    from edgeseg.card import card_from_onnx
    from edgeseg.quant.qdq_check import check_qdq

    model, plain, qmodel, out = corrected
    proto = onnx.load(str(out))
    assert check_qdq(proto) == []
    inits = {t.name: t for t in proto.graph.initializer}
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    assert len(convs) == 31
    for n in convs:  # every conv has a bias now (CGNet's bias-free ones got one), stored as float32
        assert len(n.input) == 3 and inits[n.input[2]].data_type == TensorProto.FLOAT, n.name
    before = {k: v for k, v in bias_state(plain).items()}
    assert any(v is None for v in before.values())  # the tiny CGNet has convs without a bias
    card = card_from_onnx(out)
    assert (
        card.calibration["bias_correction"] == "sequential"
        and card.extra["quantization"]["bias_correction"] == "sequential"
    )


def test_corrected_export_runs_in_onnxruntime_like_the_fake_quant_model(
    corrected, val_batch, assert_same_int8_numerics
):
    import onnxruntime as ort

    _, _, qmodel, out = corrected
    x, _ = val_batch
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = np.concatenate([sess.run(None, {"input": x[i : i + 1]})[0] for i in range(len(x))])
    with torch.no_grad():
        ref = qmodel(torch.from_numpy(x)).numpy()
    assert_same_int8_numerics(got, ref)
