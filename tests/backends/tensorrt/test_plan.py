"""plan_build for every TensorRT family x request, without TensorRT."""

from __future__ import annotations

import itertools

import pytest

from edgeseg.backends.tensorrt._plan import MIN_VERSION, BuildPlan, parse_version, plan_build
from edgeseg.errors import BuildError

VERSIONS = [
    "8.5.2.2",
    "8.6.1.6",
    "8.6.2.3",
    "9.2.0.5",
    "10.0.1.6",
    "10.3.0.26",
    "10.13.3.9",
    "11.0.0.1",
    "11.4.1",
]


@pytest.mark.parametrize(
    "version,qdq,fp16,int8,calib,dla",
    list(itertools.product(VERSIONS, *[(False, True)] * 5)),
)
def test_every_combination_is_consistent(version, qdq, fp16, int8, calib, dla):
    major, minor = parse_version(version)
    want_int8 = int8 or qdq
    expect_error = (dla and not (fp16 or want_int8)) or (want_int8 and not qdq and (major >= 11 or not calib))
    if expect_error:
        with pytest.raises(BuildError):
            plan_build(version, onnx_is_qdq=qdq, fp16=fp16, int8=int8, calib=calib, dla=dla)
        return
    plan = plan_build(version, onnx_is_qdq=qdq, fp16=fp16, int8=int8, calib=calib, dla=dla)
    assert isinstance(plan, BuildPlan)
    assert plan.path_name.startswith(f"TensorRT {major}.{minor}: ")
    assert plan.precision == ("int8" if want_int8 else "fp16" if fp16 else "fp32")
    if major >= 11:
        assert (
            plan.strongly_typed and plan.flags == () and not plan.needs_calibrator and not plan.explicit_batch
        )
        assert plan.convert_fp16_onnx == (fp16 and not want_int8)
    else:
        assert not plan.strongly_typed and not plan.convert_fp16_onnx
        assert plan.explicit_batch == (major < 10)
        if want_int8:
            assert set(plan.flags) == {"INT8", "FP16"}
            assert plan.needs_calibrator == (not qdq)
        elif fp16:
            assert plan.flags == ("FP16",)
        else:
            assert plan.flags == ()
    implicit = want_int8 and not qdq
    deprecation = [w for w in plan.warnings if "deprecates implicit INT8" in w]
    assert bool(deprecation) == (implicit and major == 10)
    if deprecation:
        assert "edgeseg quantize --method ptq" in deprecation[0]
    assert any("--int8 implied" in w for w in plan.warnings) == (qdq and not int8)
    assert any("not used" in w for w in plan.warnings) == (qdq and calib)


# The table in docs/build.md and the helper's report.
TABLE = {
    ("8.6.1", "fp16"): ("TensorRT 8.6: FP16 via builder flag", ("FP16",), False, False, False),
    ("8.6.1", "int8-qdq"): (
        "TensorRT 8.6: explicit INT8 from Q/DQ ONNX via builder flags INT8+FP16",
        ("INT8", "FP16"),
        False,
        False,
        False,
    ),
    ("8.6.1", "int8-calib"): (
        "TensorRT 8.6: implicit INT8 via calibrator and builder flags INT8+FP16",
        ("INT8", "FP16"),
        False,
        True,
        False,
    ),
    ("10.3.0", "fp16"): ("TensorRT 10.3: FP16 via builder flag", ("FP16",), False, False, False),
    ("10.3.0", "int8-qdq"): (
        "TensorRT 10.3: explicit INT8 from Q/DQ ONNX via builder flags INT8+FP16",
        ("INT8", "FP16"),
        False,
        False,
        False,
    ),
    ("10.3.0", "int8-calib"): (
        "TensorRT 10.3: implicit INT8 via calibrator and builder flags INT8+FP16",
        ("INT8", "FP16"),
        False,
        True,
        False,
    ),
    ("11.0.0", "fp16"): ("TensorRT 11.0: strongly typed FP16 ONNX", (), True, False, True),
    ("11.0.0", "int8-qdq"): ("TensorRT 11.0: strongly typed INT8 Q/DQ ONNX", (), True, False, False),
}
REQUESTS = {
    "fp16": dict(onnx_is_qdq=False, fp16=True, int8=False, calib=False),
    "int8-qdq": dict(onnx_is_qdq=True, fp16=False, int8=True, calib=False),
    "int8-calib": dict(onnx_is_qdq=False, fp16=False, int8=True, calib=True),
}


@pytest.mark.parametrize("key", sorted(TABLE))
def test_build_path_table(key):
    version, request = key
    name, flags, strong, calibrator, convert = TABLE[key]
    plan = plan_build(version, **REQUESTS[request])
    assert (
        plan.path_name,
        plan.flags,
        plan.strongly_typed,
        plan.needs_calibrator,
        plan.convert_fp16_onnx,
    ) == (name, flags, strong, calibrator, convert)


def test_11_refuses_fp32_onnx_int8_and_points_to_quantize():
    with pytest.raises(
        BuildError, match=r"TensorRT 11\.0 removed implicit INT8.*edgeseg quantize --method ptq"
    ):
        plan_build("11.0.0", onnx_is_qdq=False, fp16=False, int8=True, calib=True)


def test_int8_without_calibration_names_both_ways_out():
    with pytest.raises(BuildError, match=r"--calib.*edgeseg quantize"):
        plan_build("8.6.1", onnx_is_qdq=False, fp16=False, int8=True, calib=False)


def test_11_qdq_with_fp16_warns_that_other_layers_stay_fp32():
    plan = plan_build("11.1.0", onnx_is_qdq=True, fp16=True, int8=True, calib=False)
    assert plan.path_id == "int8-qdq-strong"
    assert any("strongly typed" in w and "FP32" in w for w in plan.warnings)


@pytest.mark.parametrize("bad", ["8.4.3.1", "7.1.3", "6.0"])
def test_too_old_versions_are_refused(bad):
    with pytest.raises(BuildError, match=f"{MIN_VERSION[0]}.{MIN_VERSION[1]} or newer"):
        plan_build(bad, onnx_is_qdq=False, fp16=True, int8=False, calib=False)


@pytest.mark.parametrize("bad", ["", "unknown", "ten"])
def test_unreadable_version(bad):
    with pytest.raises(BuildError, match="cannot read the TensorRT version"):
        parse_version(bad)


def test_path_ids_are_unique_per_path():
    seen = {}
    for version in ("8.6.1", "10.3.0", "11.0.0"):
        for req in REQUESTS.values():
            try:
                plan = plan_build(version, **req)
            except BuildError:
                continue
            seen.setdefault(plan.path_id, set()).add((plan.flags, plan.strongly_typed, plan.needs_calibrator))
    assert all(len(v) == 1 for v in seen.values()), seen
