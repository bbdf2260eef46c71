"""edgeseg's TensorRT calls against NVIDIA's real Python API (the manifests in tools/trt_api/, read
from the binding wheels of 8.6, 10.3, 10.16 and 11.4): every ``trt`` name our code reaches on a
version (per ``plan_build``'s plans) must exist there, stores must hit settable properties and
keywords must be real parameter names."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _conformance import check, reaching_plans  # noqa: E402
from _manifest import ROOT, manifests  # noqa: E402
from _trt_usage import edgeseg_sources, scan  # noqa: E402


@pytest.fixture(scope="module")
def sources():
    return edgeseg_sources(ROOT)


def _file_with(sources: dict, text: str) -> str:
    (path,) = [p for p, s in sources.items() if text in s]
    return path


def test_the_manifests_cover_the_supported_versions():
    keys = [m.key for m in manifests()]
    assert keys == ["8.6", "10.3", "10.16", "11.4"]
    for m in manifests():
        assert m.data["format"] == "edgeseg.trt-api/1" and m.data["source"]["sha256"]
        assert len(m.data["classes"]) > 100 and "BuilderFlag" in m.data["enums"]
        assert m.data["known_gaps"] and "stub" in m.data["method"]


def test_the_scan_finds_the_calls_that_matter(sources):
    uses = scan(sources).uses
    labels = {u.label() for u in uses}
    for expected in (
        "trt.Builder.build_serialized_network",
        "trt.IBuilderConfig.set_timing_cache",
        "trt.IExecutionContext.execute_async_v3",
        "trt.OnnxParser.get_error",
        "trt.BuilderFlag.*",
        "trt.IInt8EntropyCalibrator2.get_batch_size",
        "trt.IBuilderConfig.int8_calibrator",
        "trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED",
        "trt.ICudaEngine.get_tensor_profile_shape",
    ):
        assert expected in labels, expected
    assert len(uses) > 50


def test_every_trt_name_our_code_reaches_exists_on_that_version(sources):
    problems = check(scan(sources))
    assert problems == [], "\n".join(problems)


def test_version_specific_uses_are_gated_by_the_plan(sources):
    report = scan(sources)
    (cal,) = [u for u in report.uses if u.label() == "trt.IBuilderConfig.int8_calibrator"]
    versions = {m.key for m in manifests() if reaching_plans(report, cal, m.version)}
    assert versions == {"8.6", "10.3", "10.16"}  # implicit INT8 is gone from 11.x
    (st,) = [u for u in report.uses if u.label() == "trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH"]
    assert {m.key for m in manifests() if reaching_plans(report, st, m.version)} == {"8.6"}


@pytest.mark.parametrize(
    "old,new,expect",
    [
        ("trt.BuilderFlag.GPU_FALLBACK", "trt.BuilderFlag.INT9", "has no trt.BuilderFlag.INT9"),
        ("trt.TensorIOMode.INPUT", "trt.TensorIOMode.INPUTS", "has no trt.TensorIOMode.INPUTS"),
        (
            "config.set_timing_cache(",
            "config.set_timing_cache_v2(",
            "has no trt.IBuilderConfig.set_timing_cache_v2",
        ),
    ],
)
def test_a_planted_misspelt_name_fails_the_check(sources, old, new, expect):
    path = _file_with(sources, old)
    planted = dict(sources)
    planted[path] = sources[path].replace(old, new, 1)
    problems = check(scan(planted))
    assert problems and all(expect in p for p in problems), problems
    assert {p.split("TensorRT ")[1].split(" ")[0] for p in problems} == {m.version for m in manifests()}


def test_a_name_used_outside_its_version_gate_fails(sources):
    """Calling set_calibration_profile unconditionally reaches it on 11.x, which removed it."""
    old = "            config.set_calibration_profile(prof)"
    path = _file_with(sources, old)
    planted = dict(sources)
    planted[path] = sources[path].replace(
        "        if calibrator is not None:\n" + old, "        if True:\n" + old
    )
    assert planted[path] != sources[path]
    problems = check(scan(planted))
    assert problems == [
        p for p in problems if "11.4.0.106 has no trt.IBuilderConfig.set_calibration_profile" in p
    ]
    assert problems


def test_a_wrong_keyword_or_a_store_to_a_read_only_property_fails(sources):
    path = _file_with(sources, "parser.parse(")
    planted = dict(sources)
    text = sources[path].replace("config.DLA_core = int(dla_core)", "config.num_optimization_profiles = 1")
    planted[path] = text.replace(
        "parser.parse_from_file(str(onnx))", "parser.parse_from_file(filename=str(onnx))"
    )
    problems = check(scan(planted))
    assert any("num_optimization_profiles is not a settable property" in p for p in problems), problems
    assert any("parse_from_file on TensorRT" in p and "'filename'" in p for p in problems), problems
