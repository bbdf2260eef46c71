"""The option -> backends table: every row accepted where listed and rejected elsewhere, by the
function and through the CLI (before any model is read)."""

from __future__ import annotations

import argparse

import pytest

from edgeseg.build import BACKEND_NAMES, OPTIONS, check_options, given_options
from edgeseg.errors import UnsupportedOptionError

#: A command-line value for each option (flags without a value take none).
CLI_ARGS = {
    "fp16": ["--fp16"], "int8": ["--int8"], "calib": ["--calib", "calib/list.txt"], "calib_num": ["--calib-num", "8"],
    "calib_cache": ["--calib-cache", "calib/x.cache"], "calib_algo": ["--calib-method", "minmax"],
    "recalibrate": ["--recalibrate"], "workspace": ["--workspace", "512"], "timing_cache": ["--timing-cache", "t.cache"],
    "dla_core": ["--dla-core", "0"], "gpu_fallback": ["--gpu-fallback"], "shapes": ["--shapes", "1x3x8x8/1x3x8x8/2x3x8x8"],
    "device": ["--device", "0"], "threads": ["--threads", "2"], "opt_level": ["--opt-level", "basic"],
    "per_tensor": ["--per-tensor"], "no_rewrite": ["--no-rewrite"], "min_target": ["--min-target", "iOS17"],
}

ROWS = [(dest, backend) for dest in OPTIONS for backend in BACKEND_NAMES]


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


def test_zero_is_a_given_value_false_is_not():
    assert given_options({"dla_core": 0, "fp16": False, "threads": None}) == {"dla_core": 0}


def test_unknown_backend():
    with pytest.raises(UnsupportedOptionError, match="unknown backend"):
        check_options("tflite", {})
