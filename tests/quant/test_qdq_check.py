"""The Q/DQ checker: a small valid graph passes; each planted fault is reported as exactly its rule."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeseg.quant.qdq_check import RULES, check_qdq, count_quantized_ops


def _init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def valid_graph(op: str = "Conv") -> onnx.ModelProto:
    """x -> Q -> DQ -> Conv(DQ(int8 weight, per-channel axis 0), bias) -> y."""
    w = np.random.default_rng(0).integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    inits = [
        _init("x_scale", np.float32(0.02)),
        _init("x_zp", np.int8(0)),
        _init("w_q", w),
        _init("w_scale", np.full(4, 0.01, np.float32)),
        _init("w_zp", np.zeros(4, np.int8)),
        _init("b", np.zeros(4, np.float32)),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"], name="x_Q"),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xd"], name="x_DQ"),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["wd"], name="w_DQ", axis=0),
        helper.make_node(op, ["xd", "wd", "b"], ["y"], name="conv", pads=[1, 1, 1, 1]),
    ]
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _set_init(m, name, arr):
    for i, t in enumerate(m.graph.initializer):
        if t.name == name:
            m.graph.initializer[i].CopyFrom(_init(name, arr))
            return
    m.graph.initializer.append(_init(name, arr))


def _node(m, name):
    return next(n for n in m.graph.node if n.name == name)


def _rules(m):
    return sorted({v.rule for v in check_qdq(m)})


def test_valid_graph_passes_and_runs():
    m = valid_graph()
    onnx.checker.check_model(m, full_check=True)
    assert check_qdq(m) == []
    assert count_quantized_ops(m) == 1
    import onnxruntime as ort

    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    assert sess.run(None, {"x": np.zeros((1, 3, 8, 8), np.float32)})[0].shape == (1, 4, 8, 8)


def test_weights_as_q_of_float_initializer_pass():
    m = valid_graph()
    _set_init(m, "w_f", np.ones((4, 3, 3, 3), np.float32))
    q = helper.make_node("QuantizeLinear", ["w_f", "w_scale", "w_zp"], ["w_q2"], name="w_Q", axis=0)
    m.graph.node.insert(0, q)
    _node(m, "w_DQ").input[0] = "w_q2"
    assert check_qdq(m) == []


def _nonzero_zp(m):
    _set_init(m, "x_zp", np.int8(3))


def _uint8(m):
    _set_init(m, "x_zp", np.uint8(0))


def _int16(m):
    _set_init(m, "x_zp", np.int16(0))


def _zero_scale(m):
    _set_init(m, "x_scale", np.float32(0.0))


def _nan_scale(m):
    _set_init(m, "w_scale", np.array([0.01, np.nan, 0.01, 0.01], np.float32))


def _float_weight(m):
    _set_init(m, "w_f", np.ones((4, 3, 3, 3), np.float32))
    _node(m, "conv").input[1] = "w_f"


def _float_input(m):
    _node(m, "conv").input[0] = "x"


def _dangling_q(m):
    m.graph.node.append(
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["unused"], name="lonely_Q")
    )


def _dq_without_q(m):
    m.graph.input.append(helper.make_tensor_value_info("xi8", TensorProto.INT8, [1, 3, 8, 8]))
    _node(m, "x_DQ").input[0] = "xi8"
    m.graph.node.remove(_node(m, "x_Q"))


def _per_tensor_weight(m):
    _set_init(m, "w_scale", np.float32(0.01))
    _set_init(m, "w_zp", np.int8(0))


def _wrong_axis(m):
    _set_init(m, "w_scale", np.full(3, 0.01, np.float32))
    _set_init(m, "w_zp", np.zeros(3, np.int8))
    _node(m, "w_DQ").attribute[0].i = 1


def _missing_zp_q(m):
    del _node(m, "x_Q").input[2]


FAULTS = {
    "nonzero zero point": (_nonzero_zp, "asymmetric"),
    "uint8 quantization": (_uint8, "asymmetric"),
    "Q without zero point (uint8)": (_missing_zp_q, "asymmetric"),
    "int16 quantization": (_int16, "int8-range"),
    "scale 0": (_zero_scale, "scale"),
    "NaN weight scale": (_nan_scale, "scale"),
    "float weight": (_float_weight, "missing-weight-quantizer"),
    "float activation": (_float_input, "unquantized-input"),
    "Q without DQ": (_dangling_q, "dangling-q"),
    "DQ without Q": (_dq_without_q, "dq-without-q"),
    "per-tensor weight": (_per_tensor_weight, "per-tensor-weight"),
    "weight scales on the input-channel axis": (_wrong_axis, "weight-axis"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_planted_fault_reports_exactly_its_rule(fault):
    plant, rule = FAULTS[fault]
    m = valid_graph()
    plant(m)
    vs = check_qdq(m)
    assert {v.rule for v in vs} == {rule}, [v.to_dict() for v in vs]
    assert all(v.node and v.message for v in vs)


def test_every_rule_is_planted():
    assert {rule for _, rule in FAULTS.values()} == set(RULES)


def test_conv_transpose_axis_1_and_gemm_trans_b():
    m = valid_graph("ConvTranspose")  # weight (C_in=4?, ...): reinterpret w_q as (in=4, out=3, 3, 3)
    _node(m, "conv").input[0] = "xd"
    assert _rules(m) == ["weight-axis"]  # axis 0 is the input channels of a ConvTranspose
    _set_init(m, "w_scale", np.full(3, 0.01, np.float32))
    _set_init(m, "w_zp", np.zeros(3, np.int8))
    _node(m, "w_DQ").attribute[0].i = 1
    assert check_qdq(m) == []

    w = np.ones((5, 7), np.int8)  # Gemm B (N=5, K=7) with transB=1: output channels on axis 0
    inits = [
        _init("s", np.float32(0.1)),
        _init("z", np.int8(0)),
        _init("w", w),
        _init("ws", np.full(5, 0.1, np.float32)),
        _init("wz", np.zeros(5, np.int8)),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d"]),
        helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=0),
        helper.make_node("Gemm", ["d", "wd"], ["y"], name="fc", transB=1),
    ]
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])],
        inits,
    )
    gemm = helper.make_model(g)
    assert check_qdq(gemm) == []
    gemm.graph.node[3].attribute[0].i = 0  # transB=0: B is (K, N) and per-channel must be axis 1
    assert _rules(gemm) == ["weight-axis"]


def test_matmul_with_float_constant_needs_a_weight_quantizer():
    inits = [
        _init("s", np.float32(0.1)),
        _init("z", np.int8(0)),
        _init("pool", np.full((4, 8), 0.125, np.float32)),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d"]),
        helper.make_node("MatMul", ["pool", "d"], ["y"], name="mm"),
    ]
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 3])],
        inits,
    )
    m = helper.make_model(g)
    assert _rules(m) == ["missing-weight-quantizer"]
    assert _rules(m) == sorted(
        {v.rule for v in check_qdq(m, allow_float=["MatMul"])}
    )  # partly quantized: checked
    m.graph.node[2].input[1] = "x"  # wholly float MatMul (PSPNet's exact adaptive pooling)
    assert _rules(m) == ["missing-weight-quantizer", "unquantized-input"]
    assert check_qdq(m, allow_float=["MatMul"]) == []  # left in float on purpose
    with pytest.raises(Exception, match="not checked ops"):
        check_qdq(m, allow_float=["Relu"])


def test_cli_exit_codes_and_json(tmp_path, capsys):
    from edgeseg.cli import main

    good, bad = tmp_path / "good.onnx", tmp_path / "bad.onnx"
    onnx.save(valid_graph(), good)
    m = valid_graph()
    _float_input(m)
    onnx.save(m, bad)
    assert main(["check-qdq", str(good)]) == 0
    assert "OK: 1 quantized ops" in capsys.readouterr().out
    assert main(["check-qdq", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "unquantized-input" in out and "conv" in out
    assert main(["check-qdq", str(bad), "--json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["ok"] is False and d["violations"][0]["rule"] == "unquantized-input"
    assert main(["check-qdq", str(tmp_path / "missing.onnx")]) == 2
    assert "not found" in capsys.readouterr().err


def test_cli_on_a_float_model_says_so_in_one_line(tmp_path, capsys):
    """A float ONNX printed one violation per weighted layer (252 for the shipped CGNet's export)."""
    from edgeseg.cli import main

    fp = onnx.helper.make_graph(
        [onnx.helper.make_node("Conv", ["x", "w_f", "b"], ["y"], pads=[1, 1, 1, 1])],
        "float",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4, 8, 8])],
        [_init("w_f", np.ones((4, 3, 3, 3), np.float32)), _init("b", np.zeros(4, np.float32))],
    )
    path = tmp_path / "float.onnx"
    onnx.save(onnx.helper.make_model(fp), path)
    assert main(["check-qdq", str(path)]) == 1
    out = capsys.readouterr().out
    assert out == f"{path}: no Q/DQ nodes (a float model): run edgeseg quantize first\n"
    assert main(["check-qdq", str(path), "--json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["ok"] is False and "run edgeseg quantize first" in d["error"]


def test_weight_quantizers_behind_identity_nodes_are_folded_to_int8():
    """The exporter writes equal tensors once and the rest as Identity of it: a weight quantizer whose
    scale (or weight) came through such an Identity was not folded, and 41 of the shipped CGNet's 126
    weights stayed float + QuantizeLinear in its PTQ ONNX."""
    import onnxruntime as ort

    from edgeseg.quant.qdq_export import fold_weight_quantizers

    m = valid_graph()
    w = np.random.default_rng(1).normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32)
    _set_init(m, "w_f", w)
    m.graph.node.insert(0, helper.make_node("Identity", ["w_f"], ["w_f_dup"], name="dup_w"))
    m.graph.node.insert(1, helper.make_node("Identity", ["w_scale"], ["w_scale_dup"], name="dup_s"))
    m.graph.node.insert(
        2,
        helper.make_node("QuantizeLinear", ["w_f_dup", "w_scale_dup", "w_zp"], ["w_q2"], name="w_Q", axis=0),
    )
    _node(m, "w_DQ").input[0] = "w_q2"
    x = np.random.default_rng(2).normal(0, 1, (1, 3, 8, 8)).astype(np.float32)

    def run(model):
        return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, {"x": x}
        )[0]

    before = run(m)
    assert fold_weight_quantizers(m) == 1
    assert not [n for n in m.graph.node if n.op_type == "QuantizeLinear" and n.name == "w_Q"]
    assert not [t for t in m.graph.initializer if t.name == "w_f" and t.data_type == TensorProto.FLOAT]
    assert check_qdq(m) == [] and np.array_equal(run(m), before)


def test_all_zero_weights_shared_by_layers_fold_once_and_compact_to_a_valid_graph():
    """Weight decay zeroes whole 1x1 convs of the shipped CGNet; the exporter shares such equal weights, so
    two quantizers read one float tensor (it must become one int8 tensor), and two all-zero int8 weights of
    one shape looked like zero points to the compaction, which gave the second the first's name."""
    from edgeseg.quant.qdq_export import compact_graph, fold_weight_quantizers

    m = valid_graph()
    _set_init(m, "w_f", np.zeros((4, 3, 3, 3), np.float32))
    _set_init(m, "w_g", np.zeros((4, 3, 3, 3), np.float32))
    srcs = {1: "w_dup1", 2: "w_g", 3: "w_dup3"}
    nodes = [helper.make_node("Identity", ["w_f"], [f"w_dup{i}"], name=f"dup{i}") for i in (1, 3)]
    nodes += [
        helper.make_node("QuantizeLinear", [srcs[i], "w_scale", "w_zp"], [f"wq{i}"], name=f"w_Q{i}", axis=0)
        for i in srcs
    ]
    nodes += [
        helper.make_node(
            "DequantizeLinear", [f"wq{i}", "w_scale", "w_zp"], [f"wd{i}"], name=f"w_DQ{i}", axis=0
        )
        for i in srcs
    ]
    for i, n in enumerate(nodes):
        m.graph.node.insert(i, n)
    _node(m, "conv").input[1] = "wd1"
    for i in (2, 3):
        m.graph.node.append(
            helper.make_node("Conv", ["xd", f"wd{i}", "b"], [f"y{i}"], name=f"conv{i}", pads=[1, 1, 1, 1])
        )
        m.graph.output.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, [1, 4, 8, 8]))
    assert fold_weight_quantizers(m) == 3
    compact_graph(m)
    onnx.checker.check_model(m, full_check=True)
    assert check_qdq(m) == [] and count_quantized_ops(m) == 3
    int8_weights = [
        t
        for t in m.graph.initializer
        if t.data_type == TensorProto.INT8 and t.dims == [4, 3, 3, 3] and t.name != "w_q"
    ]  # valid_graph's own (now unused) weight aside
    assert len(int8_weights) == 2  # w_f once (two layers), w_g once
    assert not [t for t in m.graph.initializer if t.data_type == TensorProto.FLOAT and t.dims == [4, 3, 3, 3]]
