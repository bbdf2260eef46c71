"""One calibration request for quantize and build: one method table, one card key, old cards read."""

from __future__ import annotations

import argparse
import json

import pytest

from edgeseg.data.calib_request import (
    CALIB_METHODS,
    RECORD_KEY,
    CalibRequest,
    check_method,
    methods_for,
)
from edgeseg.errors import DataError, UnsupportedOptionError


def test_each_command_accepts_its_own_methods_from_the_one_table():
    from edgeseg.commands import build, quantize

    def choices(mod, dest):
        p = argparse.ArgumentParser()
        mod.add_arguments(p)
        return next(a.choices for a in p._actions if a.dest == dest and "--calib-method" in a.option_strings)

    assert tuple(choices(quantize, "calib_method")) == ("max", "percentile", "entropy", "mse", "all")
    assert tuple(choices(build, "calib_algo")) == ("entropy", "minmax")
    assert set(methods_for("ptq", "qat", "tensorrt", "onnxruntime")) == set(CALIB_METHODS)


def test_a_method_a_tool_does_not_take_is_one_clear_line():
    assert check_method(None, tool="tensorrt") == "entropy" and check_method(None, tool="ptq") == "mse"
    with pytest.raises(
        UnsupportedOptionError, match=r"^calibration method 'minmax' for ptq: expected one of max, "
    ):
        check_method("minmax", tool="ptq")
    with pytest.raises(UnsupportedOptionError, match="'mse' for tensorrt: expected one of entropy, minmax$"):
        CalibRequest(source="x", method="mse").for_tool("tensorrt")
    with pytest.raises(UnsupportedOptionError, match="calibration method 'kl'"):
        CalibRequest(method="kl")


@pytest.mark.parametrize(
    "field, value", [("num", 0), ("batch", -1), ("seed", -1), ("num", 2.5), ("num", True)]
)
def test_bad_counts_are_refused_naming_the_field(field, value):
    with pytest.raises(DataError, match="calibration "):
        CalibRequest(**{field: value})


def test_defaults_fill_only_what_was_not_asked():
    r = CalibRequest(source="synthetic:4").for_tool("ptq", num=256, batch=8)
    assert (r.num, r.batch, r.method, r.seed) == (256, 8, "mse", 0)
    r = CalibRequest(source="synthetic:4", num=3, batch=1, method="all").for_tool("qat", num=256, batch=8)
    assert (r.num, r.batch, r.method) == (3, 1, "all")


def test_record_round_trips_and_old_cards_are_read():
    r = CalibRequest(source="camvid:/d", num=100, method="entropy", batch=8, seed=2)
    assert CalibRequest.from_record({RECORD_KEY: json.loads(json.dumps(r.record()))}) == r
    # a TensorRT engine card before the request existed: algorithm + frames
    old_trt = {"method": "tensorrt-minmax", "algorithm": "minmax", "frames": 64, "source": "calib.txt"}
    assert CalibRequest.from_record(old_trt) == CalibRequest(source="calib.txt", num=64, method="minmax")
    assert CalibRequest.from_record({}) is None


def test_the_shipped_qat_cards_still_load_as_a_request():
    from pathlib import Path

    from edgeseg.card import card_from_onnx

    shipped = sorted((Path(__file__).parents[2] / "edgeseg" / "weights").glob("*_qat_int8.onnx"))
    assert shipped
    for path in shipped:
        r = CalibRequest.from_record(card_from_onnx(path).calibration)
        assert r.num == 100 and r.method == "mse" and r.batch == 8 and r.source.startswith("camvid:")


def test_ptq_records_the_request_under_one_key(trained_ckpt, calib_dir, tmp_path):
    from edgeseg.card import card_from_onnx
    from edgeseg.quant.pipeline import quantize_ptq

    out = quantize_ptq(
        trained_ckpt,
        calib=CalibRequest(source=str(calib_dir), num=3, method="max", batch=2),
        output=tmp_path / "m.onnx",
        bias_correction="none",
        progress=False,
        log=lambda s: None,
    )
    cal = card_from_onnx(out).calibration
    assert cal[RECORD_KEY] == {"source": str(calib_dir), "num": 3, "method": "max", "batch": 2, "seed": 0}
    assert cal["frames"] == 3 and cal["method"] == "max"
