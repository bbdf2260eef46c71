"""The float-graph rewrites of the ONNX Runtime build (edgeseg.onnxgraph.concat / prelu / rewrite):
each must compute the same function and leave graphs it cannot rewrite exactly as they were."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgeseg.onnxgraph.concat import split_conv_over_concat, split_through_concat  # noqa: E402
from edgeseg.onnxgraph.prelu import prelu_to_fast_form  # noqa: E402
from edgeseg.onnxgraph.rewrite import check_same, rewrite_for_cpu  # noqa: E402
from edgeseg.errors import BuildError  # noqa: E402


def _model(nodes, inits, *, cin=3, h=8, w=10):
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, cin, h, w])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", "c", "h", "w"])],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _run(m, x):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(
        None, {"input": x}
    )[0]


def _cat_bn_prelu(rng, slope, *, ca=4, cb=3):
    """Conv(ca) and Conv(cb) concatenated, then BN and PRelu over the concat: CGNet's block ending."""
    c = ca + cb
    inits = {
        "wa": rng.normal(size=(ca, 3, 3, 3)),
        "wb": rng.normal(size=(cb, 3, 1, 1)),
        "s": rng.uniform(0.5, 2, c),
        "b": rng.normal(size=c),
        "m": rng.normal(size=c),
        "v": rng.uniform(0.5, 2, c),
        "slope": slope,
    }
    nodes = [
        helper.make_node("Conv", ["input", "wa"], ["a"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["input", "wb"], ["b_"]),
        helper.make_node("Concat", ["a", "b_"], ["cat"], axis=1),
        helper.make_node("BatchNormalization", ["cat", "s", "b", "m", "v"], ["bn"]),
        helper.make_node("PRelu", ["bn", "slope"], ["out"]),
    ]
    return _model(nodes, inits)


@pytest.mark.parametrize("slope_kind", ["per_channel", "above_one", "scalar"])
def test_rewrites_keep_the_function(slope_kind):
    rng = np.random.default_rng(0)
    slope = {
        "per_channel": rng.uniform(0, 1, (7, 1, 1)),
        "above_one": np.array([0.1, 1.5, 0.2, 0.3, 0.4, 0.5, 0.6]).reshape(7, 1, 1),
        "scalar": np.array([0.2]),
    }[slope_kind]
    m = _cat_bn_prelu(rng, slope)
    x = rng.normal(size=(1, 3, 8, 10)).astype(np.float32) * 3
    ref = _run(m, x)
    done = rewrite_for_cpu(m)
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    assert "PRelu" not in ops and done[0].startswith(
        "BatchNormalization/PRelu moved before Concat (1 concats)"
    )
    assert ops[-1] == "Concat"  # the per-channel ops now run on each input
    expected = {
        "per_channel": "PRelu -> slope*x + Relu((1-slope)*x) (2 nodes)",
        "above_one": "PRelu -> Relu(x) - slope*Relu(-x) (1 nodes)",  # the 3-channel part has slopes <= 1
        "scalar": "PRelu with one slope -> LeakyRelu (2 nodes)",
    }[slope_kind]
    assert expected in done
    np.testing.assert_allclose(_run(m, x), ref, rtol=1e-5, atol=1e-5)


def test_concat_feeding_two_consumers_is_left_alone():
    rng = np.random.default_rng(1)
    m = _cat_bn_prelu(rng, rng.uniform(0, 1, (7, 1, 1)))
    m.graph.node.append(helper.make_node("Relu", ["cat"], ["other"]))
    m.graph.output.append(helper.make_tensor_value_info("other", TensorProto.FLOAT, ["n", "c", "h", "w"]))
    before = m.SerializeToString()
    assert split_through_concat(m) == 0
    assert m.SerializeToString() == before


def test_prelu_with_computed_slope_is_left_alone():
    m = _model(
        [helper.make_node("Relu", ["input"], ["s"]), helper.make_node("PRelu", ["input", "s"], ["out"])], {}
    )
    assert prelu_to_fast_form(m) == {"leakyrelu": 0, "scale_relu_add": 0, "relu_sub": 0}
    assert [n.op_type for n in m.graph.node] == ["Relu", "PRelu"]


@pytest.mark.parametrize("sizes,split", [((16, 3), True), ((16, 16), False), ((5, 3), False)])
def test_conv_over_unaligned_concat_is_split_only_when_a_part_is_aligned(sizes, split):
    rng = np.random.default_rng(2)
    ca, cb = sizes
    inits = {
        "wa": rng.normal(size=(ca, 3, 1, 1)),
        "wb": rng.normal(size=(cb, 3, 1, 1)),
        "w": rng.normal(size=(8, ca + cb, 3, 3)),
        "bias": rng.normal(size=8),
    }
    nodes = [
        helper.make_node("Conv", ["input", "wa"], ["a"]),
        helper.make_node("Conv", ["input", "wb"], ["b_"]),
        helper.make_node("Concat", ["a", "b_"], ["cat"], axis=1),
        helper.make_node("Conv", ["cat", "w", "bias"], ["out"], pads=[1, 1, 1, 1], strides=[2, 2]),
    ]
    m = _model(nodes, inits)
    x = rng.normal(size=(1, 3, 8, 10)).astype(np.float32)
    ref = _run(m, x)
    assert split_conv_over_concat(m) == int(split)
    ops = [n.op_type for n in m.graph.node]
    assert ("Concat" in ops) != split
    if split:
        assert ops.count("Conv") == 4 and ops.count("Add") == 1
        assert (
            sum(
                len(n.input) == 3
                for n in m.graph.node
                if n.op_type == "Conv" and n.output[0].startswith("out")
            )
            == 1
        )  # bias once
    np.testing.assert_allclose(_run(m, x), ref, rtol=1e-4, atol=1e-4)


def test_check_same_refuses_a_changed_function():
    rng = np.random.default_rng(4)
    m = _cat_bn_prelu(rng, rng.uniform(0, 1, (7, 1, 1)))
    bad = _cat_bn_prelu(rng, rng.uniform(0, 1, (7, 1, 1)))  # other weights: a rewrite that went wrong
    assert check_same(m, m, input_name="input", shape=(1, 3, 8, 10)) == 0.0
    with pytest.raises(BuildError, match="changed the outputs.*--no-rewrite"):
        check_same(m, bad, input_name="input", shape=(1, 3, 8, 10))


def test_inline_constants_makes_shared_and_constant_parameters_visible():
    from edgeseg.onnxgraph.rewrite import inline_constants

    rng = np.random.default_rng(5)
    slope = rng.uniform(0, 1, (3, 1, 1))
    nodes = [
        helper.make_node("Identity", ["slope"], ["slope2"]),
        helper.make_node(
            "Constant", [], ["k"], value=numpy_helper.from_array(np.float32(2.0).reshape(1), "k")
        ),
        helper.make_node("PRelu", ["input", "slope"], ["p1"]),
        helper.make_node("PRelu", ["p1", "slope2"], ["p2"]),
        helper.make_node("Mul", ["p2", "k"], ["out"]),
    ]
    m = _model(nodes, {"slope": slope})
    x = rng.normal(size=(1, 3, 8, 10)).astype(np.float32)
    ref = _run(m, x)
    done = rewrite_for_cpu(m)
    assert done == ["PRelu -> slope*x + Relu((1-slope)*x) (2 nodes)"]
    assert {n.op_type for n in m.graph.node} == {"BatchNormalization", "Relu", "Add", "Mul"}
    np.testing.assert_allclose(_run(m, x), ref, rtol=1e-5, atol=1e-5)
    assert inline_constants(m) == 0


def test_a_last_axis_slope_is_not_taken_for_a_channel_slope():
    """PRelu's (C,) slope broadcasts over the last axis (W here), not the channels: it must neither be
    split with a channel concat nor become a per-channel scaling."""
    rng = np.random.default_rng(6)
    m = _cat_bn_prelu(rng, rng.uniform(0, 1, 10), ca=4, cb=3)  # W = 10 = slope length
    x = rng.normal(size=(1, 3, 8, 10)).astype(np.float32) * 3
    ref = _run(m, x)
    done = rewrite_for_cpu(m)
    assert "PRelu -> Relu(x) - slope*Relu(-x) (1 nodes)" in done
    assert not any(d.startswith("PRelu -> slope*x") for d in done)
    np.testing.assert_allclose(_run(m, x), ref, rtol=1e-5, atol=1e-5)


def test_subnormal_weights_are_zeroed_and_reported_and_the_function_is_unchanged():
    """Folded BatchNorms left 5,554 subnormal values in the shipped CGNet's export; ONNX Runtime ran it
    ~5x slower on a Xeon. The CPU rewrites zero them (reported), and only them."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    w.reshape(-1)[:5] = [1e-40, -2e-39, 1e-45, 1.2e-38, -5e-30]  # 3 subnormal, 2 tiny normal
    m = _model([helper.make_node("Conv", ["input", "w"], ["out"], pads=[1, 1, 1, 1])], {"w": w})
    x = rng.random((1, 3, 8, 10), dtype=np.float32)
    before = _run(m, x)
    done = rewrite_for_cpu(m)
    assert done == ["3 subnormal weight values (|w| < 1.2e-38) set to 0"]
    after = numpy_helper.to_array(m.graph.initializer[0]).reshape(-1)
    assert list(after[:5]) == [0.0, 0.0, 0.0, np.float32(1.2e-38), np.float32(-5e-30)]
    assert np.array_equal(after[5:], w.reshape(-1)[5:])
    assert np.array_equal(_run(m, x), before)
    assert rewrite_for_cpu(m) == []  # nothing left to do: nothing reported


def test_export_writes_no_subnormal_weights_even_where_folding_makes_them(tmp_path, camvid_card):
    import torch

    from edgeseg.export.onnx import export_onnx
    from edgeseg.models import build_model

    model = build_model("cgnet", num_classes=11, m=2, n=3).eval()
    with torch.no_grad():
        conv = next(mod for mod in model.modules() if isinstance(mod, torch.nn.Conv2d))
        conv.weight.view(-1)[:4] = 1e-36  # normal, but the folded BN's scale takes it below 1.2e-38
        bn = next(mod for mod in model.modules() if isinstance(mod, torch.nn.BatchNorm2d))
        bn.weight.fill_(1e-3)
    out = export_onnx(model, camvid_card, tmp_path / "m.onnx", size=(64, 96))
    vals = np.concatenate(
        [
            numpy_helper.to_array(t).reshape(-1)
            for t in onnx.load(str(out)).graph.initializer
            if t.data_type == TensorProto.FLOAT
        ]
    )
    assert not ((vals != 0) & (np.abs(vals) < np.finfo(np.float32).tiny)).any()
