"""The option -> backends table (derived from the specs): every row accepted where listed and
rejected elsewhere, by the function and through the CLI (before any model is read)."""

from __future__ import annotations

import argparse
import pytest

from edgeseg.backends import BACKENDS, builders
from edgeseg.backends import _options
from edgeseg.errors import UnsupportedOptionError

BACKEND_NAMES = tuple(builders())
OPTIONS = {param: (opt.flag, names) for param, (opt, names) in _options.options_table(BACKENDS).items()}


def check_options(backend, values):
    return _options.check_options(backend, values, BACKENDS)


def given_options(values):
    return _options.given_options(values, BACKENDS)


#: The table as documented in docs/build.md: build keyword -> (flag, backends that take it).
EXPECTED = {
    "fp16": ("--fp16", ("onnxruntime", "tensorrt", "coreml")),
    "int8": ("--int8", ("onnxruntime", "openvino", "tensorrt", "coreml", "executorch")),
    "calib": ("--calib", ("onnxruntime", "openvino", "tensorrt", "executorch")),
    "calib_num": ("--calib-num", ("onnxruntime", "openvino", "tensorrt", "executorch")),
    "calib_cache": ("--calib-cache", ("tensorrt",)),
    "calib_algo": ("--calib-method", ("tensorrt",)),
    "recalibrate": ("--recalibrate", ("tensorrt",)),
    "workspace": ("--workspace", ("tensorrt",)),
    "timing_cache": ("--timing-cache", ("tensorrt",)),
    "dla_core": ("--dla-core", ("tensorrt",)),
    "gpu_fallback": ("--gpu-fallback", ("tensorrt",)),
    "shapes": ("--shapes", ("tensorrt",)),
    "device": ("--device", ("tensorrt",)),
    "tf32": ("--tf32", ("tensorrt",)),
    "threads": ("--threads", ("onnxruntime", "openvino", "executorch")),
    "opt_level": ("--opt-level", ("onnxruntime",)),
    "per_channel": ("--per-tensor", ("onnxruntime",)),
    "rewrite": ("--no-rewrite", ("onnxruntime", "openvino")),
    "min_target": ("--min-target", ("coreml",)),
    "bf16_float": ("--bf16-float", ("openvino",)),
    "max_drop": ("--max-drop", ("onnxruntime", "openvino", "executorch")),
    "class_drop": ("--class-drop", ("onnxruntime", "openvino", "executorch")),
    "sensitivity_frames": ("--sensitivity-frames", ("onnxruntime", "openvino", "executorch")),
    "val_data": ("--val-data", ("onnxruntime", "openvino", "executorch")),
    "layer_cost": ("--layer-cost", ("onnxruntime", "openvino", "executorch")),
    "prefer_cheap": ("--prefer-cheap", ("onnxruntime", "openvino", "executorch")),
    "drop_reference": ("--drop-reference", ("onnxruntime", "openvino", "executorch")),
    "budget_frames": ("--budget-frames", ("onnxruntime", "openvino", "executorch")),
}

#: A command-line value for each option (flags without a value take none).
CLI_ARGS = {
    "fp16": ["--fp16"],
    "int8": ["--int8"],
    "calib": ["--calib", "calib/list.txt"],
    "calib_num": ["--calib-num", "8"],
    "calib_cache": ["--calib-cache", "calib/x.cache"],
    "calib_algo": ["--calib-method", "minmax"],
    "recalibrate": ["--recalibrate"],
    "workspace": ["--workspace", "512"],
    "timing_cache": ["--timing-cache", "t.cache"],
    "dla_core": ["--dla-core", "0"],
    "gpu_fallback": ["--gpu-fallback"],
    "shapes": ["--shapes", "1x3x8x8/1x3x8x8/2x3x8x8"],
    "device": ["--device", "0"],
    "tf32": ["--tf32"],
    "threads": ["--threads", "2"],
    "opt_level": ["--opt-level", "basic"],
    "per_channel": ["--per-tensor"],
    "rewrite": ["--no-rewrite"],
    "min_target": ["--min-target", "iOS17"],
    "bf16_float": ["--bf16-float"],
    "max_drop": ["--max-drop", "0.3"],
    "class_drop": ["--class-drop", "1"],
    "sensitivity_frames": ["--sensitivity-frames", "4"],
    "val_data": ["--val-data", "synthetic:4"],
    "layer_cost": ["--layer-cost", "flops"],
    "prefer_cheap": ["--prefer-cheap"],
    "drop_reference": ["--drop-reference", "labels"],
    "budget_frames": ["--budget-frames", "8"],
}

ROWS = [(dest, backend) for dest in OPTIONS for backend in BACKEND_NAMES]


def test_the_specs_give_the_documented_table():
    assert OPTIONS == EXPECTED


def _parser() -> argparse.ArgumentParser:
    from edgeseg.commands import build

    p = argparse.ArgumentParser()
    build.add_arguments(p)
    return p


def test_table_covers_every_cli_option():
    dests = {a.dest for a in _parser()._actions} - {"help", "model", "backend", "output", "force"}
    assert dests == set(OPTIONS) == set(CLI_ARGS)
    for dest, (flag, backends) in OPTIONS.items():
        assert flag in CLI_ARGS[dest]
        assert backends and set(backends) <= set(BACKEND_NAMES)


@pytest.mark.parametrize("dest,backend", ROWS)
def test_each_row(dest, backend):
    ns = _parser().parse_args(["m.onnx", *CLI_ARGS[dest]])
    given = given_options(vars(ns))
    assert list(given) == [dest]
    flag, backends = OPTIONS[dest]
    if backend in backends:
        check_options(backend, vars(ns))
    else:
        with pytest.raises(UnsupportedOptionError) as e:
            check_options(backend, vars(ns))
        assert flag in str(e.value) and f"accepted by {', '.join(backends)}" in str(e.value)


@pytest.mark.parametrize("dest,backend", [(d, b) for d, b in ROWS if b not in OPTIONS[d][1]])
def test_cli_rejects_before_reading_the_model(dest, backend, capsys, tmp_path):
    from edgeseg.cli import main

    missing = tmp_path / "does_not_exist.onnx"  # never opened: the option check comes first
    rc = main(["build", str(missing), "--backend", backend, *CLI_ARGS[dest]])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"--backend {backend} does not take {OPTIONS[dest][0]}" in err
    assert "not found" not in err


def test_several_bad_options_are_all_named():
    with pytest.raises(UnsupportedOptionError) as e:
        check_options("coreml", {"calib_cache": "c", "timing_cache": "t", "dla_core": 0, "int8": True})
    msg = str(e.value)
    assert "--calib-cache" in msg and "--timing-cache" in msg and "--dla-core" in msg and "--int8" not in msg


def test_zero_and_false_are_given_values_none_is_not():
    assert given_options({"dla_core": 0, "rewrite": False, "threads": None}) == {
        "dla_core": 0,
        "rewrite": False,
    }


def test_unknown_backend():
    with pytest.raises(UnsupportedOptionError, match="unknown backend"):
        check_options("tflite", {})


def test_old_calib_algo_spelling_still_works_with_a_note(capsys):
    """--calib-algo is a hidden alias of --calib-method (the spec's Option.aliases)."""
    import argparse

    from edgeseg.commands import build as build_cmd

    p = argparse.ArgumentParser()
    build_cmd.add_arguments(p)
    ns = p.parse_args(["m.onnx", "--calib-algo", "minmax"])
    assert ns.calib_algo == "minmax" and "--calib-method" in capsys.readouterr().err
    assert "--calib-algo" not in p.format_help()
