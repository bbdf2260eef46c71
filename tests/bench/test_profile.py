"""edgeseg profile: per-op-type and per-node ONNX Runtime time, of the graph ORT really runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgeseg.bench.profile import profile_onnx  # noqa: E402
from edgeseg.errors import EdgesegError  # noqa: E402


def _conv_relu_add(path, *, h=16, w=16):
    rng = np.random.default_rng(0)
    g = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("Add", ["r", "r"], ["out"]),
        ],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 8, h, w])],
        [numpy_helper.from_array(rng.normal(size=(8, 3, 3, 3)).astype(np.float32), "w")],
    )
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_profile_counts_every_kernel_of_the_graph_as_run(tmp_path):
    m = _conv_relu_add(tmp_path / "m.onnx")
    plain = profile_onnx(m, threads=1, runs=4, warmup=2, optimization="disable")
    assert {r.name for r in plain.by_op} == {"Conv", "Relu", "Add"}
    assert all(r.calls == 1 for r in plain.by_op) and plain.nodes_per_run == 3
    assert sum(r.share for r in plain.by_op) == pytest.approx(1.0)
    assert plain.kernel_ms == pytest.approx(sum(r.ms for r in plain.by_op))
    assert plain.run_ms > 0 and plain.input_shape == [1, 3, 16, 16] and len(plain.top_nodes) == 3
    fused = profile_onnx(m, threads=1, runs=4, warmup=2, optimization="extended")
    assert "Relu" not in {r.name for r in fused.by_op}  # Conv+Relu fused: the profile shows what ORT runs
    assert fused.nodes_per_run < plain.nodes_per_run


def test_dynamic_size_needs_a_size_or_a_card(tmp_path):
    m = _conv_relu_add(tmp_path / "dyn.onnx", h="H", w="W")
    with pytest.raises(EdgesegError, match="--size"):
        profile_onnx(m, runs=1, warmup=0)
    assert profile_onnx(m, runs=1, warmup=0, size=(8, 12)).input_shape == [1, 3, 8, 12]


def test_cli_prints_tables_and_writes_json(tmp_path, capsys):
    from edgeseg.cli import main

    m = _conv_relu_add(tmp_path / "m.onnx")
    out = tmp_path / "prof.json"
    assert (
        main(
            [
                "profile",
                str(m),
                "--runs",
                "3",
                "--warmup",
                "1",
                "--threads",
                "1",
                "--opt-level",
                "disable",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "op type" in text and "Conv" in text and "slowest nodes" in text
    doc = json.loads(out.read_text())
    assert doc["runs"] == 3 and {r["name"] for r in doc["by_op"]} == {"Conv", "Relu", "Add"}


@pytest.mark.parametrize("name,words", [("m.pt", "expected an .onnx file"), ("missing.onnx", "not found")])
def test_cli_refuses_what_it_cannot_profile(tmp_path, capsys, name, words):
    from edgeseg.cli import main

    if name.endswith(".pt"):
        (tmp_path / name).write_bytes(b"x")
    assert main(["profile", str(tmp_path / name)]) == 2
    assert words in capsys.readouterr().err
