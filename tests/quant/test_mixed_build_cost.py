"""``edgeseg build --int8 --max-drop ... --layer-cost flops|openvino|FILE.json [--prefer-cheap]`` and
``Model.build(layer_cost=..., prefer_cheap=...)``: the same meaning and checks as on ``quantize``; the
request reaches the search (``MixedRequest``) of every backend that takes ``--max-drop``; a bad value is
one line before any work (the tiny CGNet of conftest)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeseg.card import card_from_onnx

BUDGET = ["--max-drop", "3", "--class-drop", "10", "--sensitivity-frames", "4", "--val-data", "synthetic:4"]
SUFFIX = {"onnxruntime": ".ort.onnx", "openvino": ".xml", "executorch": ".pte"}


def _argv(ckpt, calib_dir, out: Path, backend: str, *more: str, budget: bool = True) -> list[str]:
    argv = ["build", str(ckpt), "--backend", backend, "--int8", "--calib", str(calib_dir), "--calib-num", "4"]
    return [*argv, *(BUDGET if budget else []), *more, "-o", str(out)]


class Seen(Exception):
    """Raised by a spy in place of the search: the request got there (the CLI reports it, exit 1)."""


def _spy(monkeypatch) -> list:
    """Replace each backend's way into the search by a spy that records its ``MixedRequest`` and stops."""
    import edgeseg.quant.mixed_ptq as mixed_ptq
    import edgeseg.quant.pipeline as pipeline

    seen: list = []

    def spy(*a, **k):
        seen.append(
            k.get("mixed") if "mixed" in k else a[3]
        )  # proxy_float_layers(model, card, request, mixed)
        raise Seen

    for name in ("quantize_cpu", "quantize_ptq"):
        monkeypatch.setattr(pipeline, name, spy)
    monkeypatch.setattr(mixed_ptq, "proxy_float_layers", spy)
    return seen


def _cost_file(ckpt: Path, path: Path, *, source: str = "openvino") -> dict:
    """A layer-cost record of ``ckpt``'s units (``quantize --layer-cost FILE.json``): a distinct cost per
    unit (1, 2, 3, ... "ms"), so the card shows which numbers the search ranked with."""
    import numpy as np

    from edgeseg.quant.layer_cost import flops_table
    from edgeseg.quant.placement import prepare
    from edgeseg.train.checkpoint import load_checkpoint

    model, card, _ = load_checkpoint(ckpt)
    table = flops_table(prepare(model)[0], np.zeros((1, 3, *card.input_size), np.float32))
    costs = {u: float(i + 1) for i, u in enumerate(table["costs"])}
    rec = {**table, "source": source, "label": "ms per frame (a test file, not measured)", "costs": costs}
    path.write_text(json.dumps(rec), encoding="utf-8")
    return rec


@pytest.mark.parametrize("backend", list(SUFFIX))
def test_the_layer_cost_request_reaches_each_backends_search(
    backend, trained_ckpt, calib_dir, tmp_path, monkeypatch
):
    from edgeseg.cli import main

    pytest.importorskip(
        {"onnxruntime": "onnxruntime", "openvino": "openvino", "executorch": "executorch"}[backend]
    )
    seen = _spy(monkeypatch)
    f = tmp_path / "cost.json"
    _cost_file(trained_ckpt, f)
    out = tmp_path / "out" / f"m{SUFFIX[backend]}"
    out.parent.mkdir()
    assert main(_argv(trained_ckpt, calib_dir, out, backend, "--layer-cost", str(f), "--prefer-cheap"))
    (request,) = seen
    assert (request.layer_cost, request.prefer_cheap, request.measure) == (str(f), True, None)
    assert (request.max_drop, request.class_drop, request.frames) == (3.0, 10.0, 4)


def test_without_them_the_search_ranks_by_sensitivity_on_flops(
    trained_ckpt, calib_dir, tmp_path, monkeypatch
):
    from edgeseg.cli import main

    seen = _spy(monkeypatch)
    assert main(_argv(trained_ckpt, calib_dir, tmp_path / "m.ort.onnx", "onnxruntime"))
    assert (seen[0].layer_cost, seen[0].prefer_cheap, seen[0].measure) == ("flops", False, None)


def test_layer_cost_openvino_passes_the_measuring_function(trained_ckpt, calib_dir, tmp_path, monkeypatch):
    """As ``quantize`` does: the command passes ``edgeseg.bench.layer_cost_openvino.measure_layer_cost``."""
    pytest.importorskip("openvino")
    from edgeseg.bench.layer_cost_openvino import measure_layer_cost
    from edgeseg.cli import main

    seen = _spy(monkeypatch)
    assert main(
        _argv(trained_ckpt, calib_dir, tmp_path / "m.ort.onnx", "onnxruntime", "--layer-cost", "openvino")
    )
    assert seen[0].layer_cost == "openvino" and seen[0].measure is measure_layer_cost


BAD = [
    ("onnxruntime", ["--layer-cost", "nonsense"], "expected flops, openvino or a FILE.json"),
    ("openvino", ["--layer-cost", "{d}/absent.json"], "no such file"),
    ("executorch", ["--layer-cost", "{d}/dir.json"], "no such file"),
    ("onnxruntime", ["--layer-cost", "{d}/broken.json"], "not a readable JSON file"),
    ("openvino", ["--layer-cost", "{d}/other.json"], "expected a layer-cost record"),
    ("onnxruntime", ["--layer-cost", "{d}/nan.json"], "must be a finite number or null"),
    ("onnxruntime", ["NO-MAX-DROP", "--layer-cost", "flops"], "--layer-cost only work with --max-drop"),
    ("executorch", ["NO-MAX-DROP", "--prefer-cheap"], "--prefer-cheap only work with --max-drop"),
    (
        "tensorrt",
        ["NO-MAX-DROP", "--layer-cost", "flops"],
        "--layer-cost (accepted by onnxruntime, openvino, executorch)",
    ),
    (
        "coreml",
        ["NO-MAX-DROP", "--prefer-cheap"],
        "--prefer-cheap (accepted by onnxruntime, openvino, executorch)",
    ),
]


@pytest.mark.parametrize("backend,args,message", BAD, ids=[f"{b}:{a[-1].split('/')[-1]}" for b, a, _ in BAD])
def test_bad_layer_cost_is_one_line_before_any_work(
    backend, args, message, trained_ckpt, calib_dir, tmp_path, bad_cost_dir, monkeypatch, capsys
):
    """Each refused in one line (exit 2) with nothing written and no search, calibration or build begun."""
    from edgeseg.cli import main

    seen = _spy(monkeypatch)
    out = tmp_path / "out" / f"m{SUFFIX.get(backend, '.engine')}"
    out.parent.mkdir()
    more = [a.format(d=bad_cost_dir) for a in args if a != "NO-MAX-DROP"]
    argv = _argv(trained_ckpt, calib_dir, out, backend, *more, budget="NO-MAX-DROP" not in args)
    assert main(argv) == 2
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("edgeseg build: error:") and message in err[0], err
    assert seen == [] and list(out.parent.iterdir()) == []


def test_the_library_refuses_the_same(trained_ckpt, calib_dir, tmp_path):
    """A build function called directly: a bad value, and "openvino" without the measuring function."""
    from edgeseg.backends.onnxruntime.build import build_onnxruntime
    from edgeseg.errors import EdgesegError

    kw = dict(int8=True, calib=str(calib_dir), max_drop=1.0, val_data="synthetic:4", log=lambda s: None)
    with pytest.raises(EdgesegError, match="--layer-cost 'nonsense': expected flops, openvino"):
        build_onnxruntime(trained_ckpt, output=tmp_path / "x.ort.onnx", layer_cost="nonsense", **kw)
    with pytest.raises(EdgesegError, match="--layer-cost openvino needs the measuring function"):
        build_onnxruntime(trained_ckpt, output=tmp_path / "x.ort.onnx", layer_cost="openvino", **kw)
    assert list(tmp_path.iterdir()) == []


API_BAD = [
    ({"layer_cost": "nonsense"}, "--layer-cost 'nonsense': expected flops, openvino or a FILE.json"),
    ({"layer_cost": "ABSENT"}, "no such file"),
    ({"prefer_cheap": True, "max_drop": None}, "--prefer-cheap only work with --max-drop"),
]


@pytest.mark.parametrize("options,message", API_BAD, ids=[m[:24] for _, m in API_BAD])
def test_the_python_api_refuses_as_the_cli_does(
    options, message, trained_ckpt, calib_dir, tmp_path, monkeypatch
):
    import edgeseg
    from edgeseg.errors import EdgesegError

    seen = _spy(monkeypatch)
    base = dict(int8=True, calib=str(calib_dir), max_drop=1.0, val_data="synthetic:4")
    options = {k: str(tmp_path / "absent.json") if v == "ABSENT" else v for k, v in options.items()}
    options = {k: v for k, v in {**base, **options}.items() if v is not None}
    with edgeseg.load(trained_ckpt) as m:
        with pytest.raises(EdgesegError) as e:
            m.build(backend="onnxruntime", output=tmp_path / "out.ort.onnx", **options)
    assert message in str(e.value) and "\n" not in str(e.value), str(e.value)
    assert seen == [] and list(tmp_path.iterdir()) == []


def test_the_python_api_passes_the_measuring_function(trained_ckpt, calib_dir, tmp_path, monkeypatch):
    pytest.importorskip("openvino")
    import edgeseg
    from edgeseg.bench.layer_cost_openvino import measure_layer_cost

    seen = _spy(monkeypatch)
    with edgeseg.load(trained_ckpt) as m, pytest.raises(Seen):
        m.build(
            backend="openvino",
            output=tmp_path / "m.xml",
            int8=True,
            calib=str(calib_dir),
            max_drop=1.0,
            val_data="synthetic:4",
            layer_cost="openvino",
            prefer_cheap=True,
        )
    assert seen[0].measure is measure_layer_cost and seen[0].prefer_cheap is True


def test_a_cost_file_ranks_the_build_and_reaches_its_card(trained_ckpt, calib_dir, tmp_path, monkeypatch):
    """A real search (ONNX Runtime): the built card's mixed record ranks per unit of the file's costs and
    quotes them, the file's source and label."""
    from edgeseg.cli import main

    monkeypatch.setenv("EDGESEG_CACHE", str(tmp_path / "cache"))
    rec = _cost_file(trained_ckpt, tmp_path / "cost.json")
    out = tmp_path / "b" / "m.ort.onnx"
    out.parent.mkdir()
    argv = _argv(trained_ckpt, calib_dir, out, "onnxruntime", "--layer-cost", str(tmp_path / "cost.json"))
    assert main([*argv, "--prefer-cheap", "--threads", "1"]) == 0
    mixed = card_from_onnx(out).extra["quantization"]["mixed"]
    assert mixed["cost_source"] == "openvino" and mixed["prefer_cheap"] is True
    assert mixed["cost_facts"]["label"] == rec["label"]
    assert mixed["float_layers"] and mixed["budget_met"]
    assert all(w["cost"] == rec["costs"][w["unit"]] for w in mixed["why"]), mixed["why"]


@pytest.mark.parametrize(
    "backend,message",
    [
        ("tensorrt", "run `edgeseg quantize CHECKPOINT --max-drop"),
        ("onnxruntime", "openvino is not installed (a stand-in)"),
    ],
)
def test_openvino_missing_is_said_after_what_the_backend_does_not_take(
    backend, message, trained_ckpt, calib_dir, tmp_path, monkeypatch, capsys
):
    """``--layer-cost openvino`` needs OpenVINO here: on a backend that does not take ``--max-drop`` the
    line says what to do instead first; on one that does, the missing package (a stand-in error)."""
    import edgeseg.bench.cost_source as cost_source
    from edgeseg.cli import main
    from edgeseg.errors import EdgesegError

    def missing(layer_cost):
        if layer_cost == "openvino":
            raise EdgesegError("openvino is not installed (a stand-in)")

    monkeypatch.setattr(cost_source, "measure_for", missing)
    seen = _spy(monkeypatch)
    out = tmp_path / "out" / f"m{SUFFIX.get(backend, '.engine')}"
    out.parent.mkdir()
    assert main(_argv(trained_ckpt, calib_dir, out, backend, "--layer-cost", "openvino")) == 2
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if ln.strip()]
    assert len(err) == 1 and message in err[0], err
    assert seen == [] and list(out.parent.iterdir()) == []
