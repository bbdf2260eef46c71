"""TF32 in TensorRT builds, through the FAKE tensorrt (call sequence only, no figure).

TensorRT turns ``BuilderFlag.TF32`` on by default (every version's flag doc: "Enabled by default"),
so FP32 layers round their inputs to a 10-bit mantissa on Ampere/Orin and an FP32 engine cannot meet
Polygraphy's 1e-5 default tolerance. edgeseg clears the flag unless ``--tf32`` is given, as
Polygraphy's CreateConfig does. The fake starts with TF32 set, like the real builder config, and
records the flags in effect into the engine it writes.
"""

from __future__ import annotations

import json

import pytest

from edgeseg.backends.tensorrt.build import build_tensorrt
from edgeseg.card import read_sidecar

VERSIONS = ["8.6.1.6", "10.3.0.26", "10.16.1.11", "11.4.0.106"]


def _engine_flags(path) -> list[str]:
    """The builder flags that were in effect when the fake built ``path``."""
    return json.loads(path.read_bytes().split(b"\n", 1)[1])["flags"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_tf32_is_cleared_by_default_on_every_version_and_path(
    fake_trt, tmp_path, tiny_models, qdq_onnx, version, precision
):
    trt = fake_trt.install(version)
    assert trt.IBuilderConfig(trt.Logger()).get_flag(trt.BuilderFlag.TF32)  # TensorRT's default: on
    onnx = qdq_onnx if precision == "int8" else tiny_models.onnx
    res = build_tensorrt(
        onnx,
        output=tmp_path / "m.engine",
        fp16=precision == "fp16",
        int8=precision == "int8",
        log=lambda s: None,
    )
    assert "TF32" not in _engine_flags(res.path)
    assert ("clear_flag", "TF32") in trt.CALLS and ("set_flag", "TF32") not in trt.CALLS
    card = read_sidecar(res.path)
    assert card.extra["tf32"] is False and "TF32" not in card.extra["builder_flags"]
    assert "--tf32" not in card.extra["build_command"]


@pytest.mark.parametrize("version", VERSIONS)
def test_tf32_opt_in_keeps_it_and_records_it(fake_trt, tmp_path, tiny_models, version):
    trt = fake_trt.install(version)
    res = build_tensorrt(tiny_models.onnx, output=tmp_path / "m.engine", tf32=True, log=lambda s: None)
    assert "TF32" in _engine_flags(res.path)
    assert ("set_flag", "TF32") in trt.CALLS and ("clear_flag", "TF32") not in trt.CALLS
    card = read_sidecar(res.path)
    assert card.extra["tf32"] is True and "TF32" in card.extra["builder_flags"]
    assert "--tf32" in card.extra["build_command"].split()


def test_cli_tf32_reaches_the_builder(fake_trt, tmp_path, tiny_models, capsys):
    from edgeseg.cli import main

    fake_trt.install("10.3.0.26")
    out = tmp_path / "cli.engine"
    assert main(["build", str(tiny_models.onnx), "--backend", "tensorrt", "--tf32", "-o", str(out)]) == 0
    assert "TF32" in _engine_flags(out) and read_sidecar(out).extra["tf32"] is True
    fake_trt.install("10.3.0.26")
    out2 = tmp_path / "cli2.engine"
    assert main(["build", str(tiny_models.onnx), "--backend", "tensorrt", "-o", str(out2)]) == 0
    assert "TF32" not in _engine_flags(out2)


def test_tf32_is_a_tensorrt_only_option(tiny_models):
    from edgeseg.backends import BACKENDS
    from edgeseg.backends._options import check_options
    from edgeseg.errors import UnsupportedOptionError

    with pytest.raises(UnsupportedOptionError, match=r"--tf32 \(accepted by tensorrt\)"):
        check_options("onnxruntime", {"tf32": True}, BACKENDS)
