"""``edgeseg build CKPT --backend onnxruntime|openvino|executorch --int8 --max-drop``: the search of
``quantize --max-drop`` inside the build; the chosen layers are float in the built artifact and the card
records them; every bad request is one line before any work (the tiny CGNet of conftest)."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
import pytest

from edgeseg.card import card_from_onnx

BUDGET = ["--max-drop", "3", "--class-drop", "10", "--sensitivity-frames", "4", "--val-data", "synthetic:4"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One sensitivity cache for the module's builds (ONNX Runtime and ExecuTorch search the same proxy)."""
    d = tmp_path_factory.mktemp("mixed_build_cache")
    old = os.environ.get("EDGESEG_CACHE")
    os.environ["EDGESEG_CACHE"] = str(d)
    yield d
    if old is None:
        del os.environ["EDGESEG_CACHE"]
    else:
        os.environ["EDGESEG_CACHE"] = old


def _build(ckpt, calib_dir, out: Path, backend: str, *more: str) -> Path:
    from edgeseg.cli import main

    argv = ["build", str(ckpt), "--backend", backend, "--int8", "--calib", str(calib_dir), "--calib-num", "4"]
    assert main([*argv, *BUDGET, *more, "-o", str(out)]) == 0
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".edgeseg-")], "work area left"
    return out


def _check_record(mixed: dict) -> list[str]:
    assert mixed["float_layers"], "plain INT8 loses ~10 points here: some layer must stay float"
    # ExecuTorch: the program may need more float layers than the proxy chose (then both are recorded)
    assert [w["unit"] for w in mixed["why"]] == mixed.get("proxy_float_layers", mixed["float_layers"])
    assert mixed["budget"]["max_drop"] == 3.0 and mixed["budget"]["class_drop"] == 10.0
    assert mixed["budget_met"] and mixed["mixed"]["drop"] <= 3.0 < mixed["int8"]["drop"]
    assert mixed["frames"] == 4 and mixed["split"] == "val"
    return [u for u in mixed["float_layers"] if not u.endswith("residual_quantizer")]


@pytest.fixture(scope="module")
def ort_built(trained_ckpt, calib_dir, cache, tmp_path_factory):
    return _build(trained_ckpt, calib_dir, tmp_path_factory.mktemp("ort") / "m.ort.onnx", "onnxruntime")


def test_onnxruntime_build_keeps_the_chosen_layers_float(ort_built, trained_ckpt):
    from edgeseg.quant.mixed import onnx_nodes

    card = card_from_onnx(ort_built)
    q = card.extra["quantization"]
    layers = _check_record(q["mixed"])
    assert "made in" not in q["mixed"] and "build's work area" in q["mixed"]["made_in"]
    assert card.precision == "int8" and card.extra["onnx_source"].startswith(trained_ckpt.name + "@sha256:")
    proto = onnx.load(str(ort_built))
    inits = {t.name for t in proto.graph.initializer}
    ops = {n.op_type for n in proto.graph.node}
    assert "QLinearConv" in ops  # the rest is INT8
    from edgeseg.errors import QuantizationError

    nodes = []
    for u in layers:  # ONNX Runtime's optimizer renames a few it fuses (FGlo's 1x1 convs on pooled tensors)
        try:
            nodes += onnx_nodes(proto, [u])
        except QuantizationError:
            continue
    assert len(nodes) >= len(layers) // 2  # each float layer found is still a (float) Conv
    for n in proto.graph.node:
        if n.name in nodes:
            assert n.op_type == "Conv" and n.input[1] in inits
    assert card.extra["disabled_optimizers"] == ["WeightBiasQuantization"]
    # the budget was checked on ONNX Runtime's own model, and the card says with how many float layers
    checks = q["mixed"]["program_checks"]
    assert checks and checks[-1]["float_layers"] == len(layers)
    assert q["mixed"]["program_budget_met"] is checks[-1]["met"]


@pytest.mark.parametrize("mixed", [True, False], ids=["mixed-record", "no-record"])
def test_onnxruntime_optimizer_leaves_a_float_conv_between_dq_and_q_float(
    trained_ckpt, calib_dir, tmp_path, mixed
):
    """ONNX Runtime (>= 1.21) quantizes the float weights of a Conv that reads a DQ and feeds a Q
    (WeightBiasQuantization): the depthwise f_loc feeding a quantized Concat is one. With the mixed record
    the build keeps it float; without it ORT would make it INT8 (what the guard is for)."""
    from edgeseg.backends.onnxruntime.build import build_onnxruntime
    from edgeseg.data.calib_request import CalibRequest
    from edgeseg.export.onnx import export_onnx
    from edgeseg.quant.ort_cpu import quantize_onnx_for_cpu
    from edgeseg.train.checkpoint import load_checkpoint

    model, card, _ = load_checkpoint(trained_ckpt)
    fp32 = export_onnx(model, card, tmp_path / "fp32.onnx", size=card.input_size)
    node = "/stage3/stage3.1/f_loc/Conv"
    record = {"float_layers": ["stage3.1.f_loc"]} if mixed else None
    q, _ = quantize_onnx_for_cpu(
        fp32,
        tmp_path / "q.onnx",
        request=CalibRequest(source=str(calib_dir), num=4),
        card=card,
        exclude_nodes=[node],
        mixed=record,
        log=lambda s: None,
    )
    res = build_onnxruntime(q, output=tmp_path / "b.ort.onnx", int8=True, log=lambda s: None)
    (op,) = [n.op_type for n in onnx.load(str(res.path)).graph.node if n.name == node]
    assert op == ("Conv" if mixed else "QLinearConv")


def test_onnxruntime_runner_keeps_them_float_too(ort_built, monkeypatch):
    """At run time ONNX Runtime would quantize a float Conv between DQ and Q (WeightBiasQuantization):
    the runner disables it for a card with a mixed record."""
    import numpy as np
    import onnxruntime as ort

    from edgeseg.backends import open_runner

    seen = []
    real = ort.InferenceSession

    def spy(*a, **k):
        seen.append(k.get("disabled_optimizers"))
        return real(*a, **k)

    monkeypatch.setattr(ort, "InferenceSession", spy)
    with open_runner(ort_built) as r:
        assert r.infer(np.zeros((1, 3, 64, 96), np.float32)).shape == (1, 11, 64, 96)
    assert seen == [["WeightBiasQuantization"]]


def test_openvino_build_has_no_fakequantize_on_the_chosen_layers(trained_ckpt, calib_dir, cache, tmp_path):
    pytest.importorskip("openvino")
    from edgeseg.backends.openvino import card_in_xml
    from edgeseg.backends.openvino._core import shared_core

    out = _build(trained_ckpt, calib_dir, tmp_path / "m.xml", "openvino", "--threads", "1")
    card = card_in_xml(out)
    layers = _check_record(card.extra["quantization"]["mixed"])
    assert card.precision == "int8" and card.source.startswith("tiny_int8.onnx@sha256:")
    model = shared_core().read_model(str(out))
    float_convs, int8_convs = set(), set()
    for op in model.get_ordered_ops():
        if op.get_type_name() not in ("Convolution", "GroupConvolution"):
            continue
        # "/stage2_down/conv/0/Conv/WithoutBiases": the flat ONNX name of the Q/DQ export -> the module
        unit = ".".join(op.get_friendly_name().removesuffix("/WithoutBiases").strip("/").split("/")[:-1])
        data = op.input_value(0).get_node().get_type_name()
        weights = op.input_value(1).get_node().get_type_name()
        if data != "FakeQuantize" and weights == "Constant":
            float_convs.add(unit)
        else:
            assert data == "FakeQuantize" and weights != "Constant", (unit, data, weights)
            int8_convs.add(unit)
    assert float_convs == set(layers) and int8_convs


@pytest.mark.slow
def test_executorch_build_leaves_the_chosen_layers_out_of_the_annotation(
    trained_ckpt, calib_dir, cache, tmp_path, monkeypatch
):
    pytest.importorskip("executorch")
    from edgeseg.backends import read_card
    from edgeseg.backends.executorch import _lower

    seen = []
    real = _lower.lower

    def spy(*a, **k):
        seen.append(list(k["float_modules"]))
        return real(*a, **k)

    monkeypatch.setattr(_lower, "lower", spy)
    out = _build(trained_ckpt, calib_dir, tmp_path / "m.pte", "executorch", "--threads", "1")
    q = read_card(out).extra["quantization"]
    layers = _check_record(q["mixed"])
    assert seen[-1] == layers and q["float_layers"] == layers
    if len(seen) > 1:  # the tiny model's program missed the budget its proxy met: more layers went float
        assert q["mixed"]["proxy_float_layers"] == seen[0] and set(seen[0]) < set(layers)
    assert "proxy" in q["mixed"]  # searched on edgeseg's fake quant, not on XNNPACK's scheme
    # the budget was checked on the program itself, once per lowering, and the card carries every check
    checks = q["mixed"]["program_checks"]
    assert len(checks) == len(seen) and checks[-1]["float_layers"] == len(layers)
    assert q["mixed"]["program_budget_met"] is checks[-1]["met"]


def test_container_children_map_to_their_onnx_nodes():
    """The TorchScript exporter names a container's child after its parent's scope."""
    from edgeseg.quant.mixed import _module_paths

    assert "stage2_down.conv.0" in _module_paths("/stage2_down/conv/conv.0/Conv")
    assert "stage2.0.conv.0" in _module_paths("/stage2/stage2.0/conv/conv.0/Conv")
    assert "stage1.0.0" in _module_paths("/stage1/stage1.0/stage1.0.0/Conv")
    assert "stage2.0.f_loc" in _module_paths("/stage2/0/f_loc/Conv")


@pytest.fixture(scope="module")
def int8_onnx(trained_ckpt, tmp_path_factory):
    """An ONNX whose card says int8 (what --max-drop must not start from), with its checkpoint beside."""
    import shutil

    from edgeseg.card import card_to_onnx
    from edgeseg.export.onnx import export_onnx
    from edgeseg.train.checkpoint import load_checkpoint

    d = tmp_path_factory.mktemp("int8_onnx")
    shutil.copyfile(trained_ckpt, d / trained_ckpt.name)
    model, card, _ = load_checkpoint(trained_ckpt)
    path = export_onnx(model, card, d / "q.onnx", size=card.input_size)
    proto = onnx.load(str(path))
    card_to_onnx(proto, card_from_onnx(proto).replace(precision="int8"))
    onnx.save(proto, str(path))
    return path


REFUSED = [
    ("onnxruntime", ["--max-drop", "1", "--val-data", "synthetic:4", "CALIB"], "--max-drop needs --int8"),
    ("tensorrt", ["--int8", "--max-drop", "1", "CALIB"], "run `edgeseg quantize CHECKPOINT --max-drop"),
    ("coreml", ["--int8", "--max-drop", "1"], "--backend coreml does not take --max-drop: Core ML"),
    ("onnxruntime", ["--int8", "CALIB", "--class-drop", "1"], "--class-drop only work with --max-drop"),
    ("executorch", ["--int8", "--val-data", "synthetic:4", "CALIB"], "--val-data only work with --max-drop"),
    ("executorch", ["--int8", "--max-drop", "1", "CALIB"], "--max-drop needs --val-data"),
    ("openvino", ["--int8", "--max-drop", "1", "--val-data", "synthetic:4"], "--max-drop needs --calib"),
    ("openvino", ["--int8", "CALIB", "--max-drop", "1", "--sensitivity-frames", "0"], "--sensitivity-frames"),
    ("openvino", ["--int8", "CALIB"], "--calib/--calib-num for openvino are for --int8 --max-drop"),
    (
        "onnxruntime",
        ["--int8", "CALIB", "--max-drop", "1", "--val-data", "synthetic:4", "INT8"],
        "already int8",
    ),
]


@pytest.mark.parametrize("backend,args,message", REFUSED, ids=[f"{b}:{m[:24]}" for b, _, m in REFUSED])
def test_bad_requests_are_one_line_before_any_work(
    backend, args, message, trained_ckpt, calib_dir, int8_onnx, tmp_path, monkeypatch, capsys
):
    import edgeseg.quant.mixed_ptq as mixed_ptq
    import edgeseg.quant.pipeline as pipeline
    import edgeseg.quant.qdq_steps as steps
    from edgeseg.cli import main

    def no_work(*a, **k):
        raise AssertionError("worked before refusing")

    for mod, name in ((pipeline, "quantize_cpu"), (pipeline, "quantize_ptq"), (steps, "calibrate")):
        monkeypatch.setattr(mod, name, no_work)
    monkeypatch.setattr(mixed_ptq, "proxy_float_layers", no_work)
    model = str(int8_onnx if "INT8" in args or args == ["--int8", "CALIB"] else trained_ckpt)
    argv = [x for a in args if a != "INT8" for x in (["--calib", str(calib_dir)] if a == "CALIB" else [a])]
    suffix = {"openvino": ".xml", "onnxruntime": ".ort.onnx", "executorch": ".pte"}.get(backend, ".engine")
    out = tmp_path / "out" / f"m{suffix}"
    out.parent.mkdir()
    try:
        rc = main(["build", model, "--backend", backend, *argv, "-o", str(out)])
    except SystemExit as e:  # argparse's own check of a value
        rc = e.code
    assert rc == 2
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.strip()]
    assert len(err) in (1, 2) and err[-1].startswith("edgeseg build: error:") and message in err[-1], err
    assert len(err) == 1 or err[0].startswith("usage:")  # argparse prints its usage line first
    assert list(out.parent.iterdir()) == []


def test_the_library_refuses_the_same(trained_ckpt, calib_dir, tmp_path):
    from edgeseg.backends.onnxruntime.build import build_onnxruntime
    from edgeseg.errors import UnsupportedOptionError

    with pytest.raises(UnsupportedOptionError, match="--max-drop needs --int8"):
        build_onnxruntime(
            trained_ckpt, output=tmp_path / "x.ort.onnx", calib=str(calib_dir), max_drop=1.0, val_data="s:4"
        )
    assert list(tmp_path.iterdir()) == []


def test_the_python_api_runs_the_same_search(ort_built, trained_ckpt, calib_dir, cache, tmp_path):
    """``edgeseg.load(CKPT).build(backend="onnxruntime", int8=True, max_drop=...)``: the CLI's search (the
    same layers kept float, the same record) from the .pt, which the onnxruntime build takes only then."""
    import edgeseg

    with edgeseg.load(trained_ckpt) as m:
        res = m.build(
            backend="onnxruntime",
            output=tmp_path / "api.ort.onnx",
            int8=True,
            calib=str(calib_dir),
            calib_num=4,
            max_drop=3,
            class_drop=10,
            sensitivity_frames=4,
            val_data="synthetic:4",
        )
    api = card_from_onnx(res.path).extra["quantization"]["mixed"]
    cli = card_from_onnx(ort_built).extra["quantization"]["mixed"]
    assert _check_record(api) == _check_record(cli)
    assert api["float_layers"] == cli["float_layers"] and api["why"] == cli["why"]
    assert [p.name for p in tmp_path.iterdir()] == ["api.ort.onnx"]  # no work area left


API_REFUSED = [
    ("tensorrt", {"int8": True, "max_drop": 1.0}, "run `edgeseg quantize CHECKPOINT --max-drop"),
    ("coreml", {"int8": True, "max_drop": 1.0}, "Core ML's --int8 quantizes the weights only"),
    ("torch", {"int8": True, "max_drop": 1.0}, "build it with --backend onnxruntime, openvino or executorch"),
    ("onnxruntime", {"max_drop": 1.0, "val_data": "synthetic:4"}, "--max-drop needs --int8"),
    ("openvino", {"int8": True, "class_drop": 1.0}, "--class-drop only work with --max-drop"),
    ("onnxruntime", {"int8": True, "max_drop": 1.0, "val_data": "synthetic:4"}, "--max-drop needs --calib"),
    ("executorch", {"int8": True, "max_drop": 1.0, "calib": "CALIB"}, "--max-drop needs --val-data"),
    ("onnxruntime", {"int8": True, "calib": "CALIB", "threads": 1}, "the onnxruntime build takes a .onnx"),
    ("onnxruntime", {"int8": True, "max_drops": 1.0}, "max_drops is not a build option of any backend"),
]


@pytest.mark.parametrize(
    "backend,options,message", API_REFUSED, ids=[f"{b}:{m[:24]}" for b, _, m in API_REFUSED]
)
def test_the_python_api_refuses_as_the_cli_does(
    backend, options, message, trained_ckpt, calib_dir, tmp_path, monkeypatch
):
    """One-line ``EdgesegError`` before any work: what to do instead for tensorrt / coreml / torch,
    ``max_drop`` without ``int8`` / ``calib`` / ``val_data``, a .pt without ``max_drop``."""
    import edgeseg
    import edgeseg.quant.mixed_ptq as mixed_ptq
    import edgeseg.quant.pipeline as pipeline
    from edgeseg.errors import EdgesegError, UnsupportedOptionError

    def no_work(*a, **k):
        raise AssertionError("worked before refusing")

    for name in ("quantize_cpu", "quantize_ptq"):
        monkeypatch.setattr(pipeline, name, no_work)
    monkeypatch.setattr(mixed_ptq, "proxy_float_layers", no_work)
    options = {k: str(calib_dir) if v == "CALIB" else v for k, v in options.items()}
    with edgeseg.load(trained_ckpt) as m:
        with pytest.raises(EdgesegError) as e:
            m.build(backend=backend, output=tmp_path / "out.onnx", **options)
    assert message in str(e.value) and "\n" not in str(e.value), str(e.value)
    if backend in ("tensorrt", "coreml", "torch"):
        assert isinstance(e.value, UnsupportedOptionError)
    assert list(tmp_path.iterdir()) == []
