"""The FAKE tensorrt (tests/fakes/) against NVIDIA's real API per version: it may expose no name,
enum value, parameter, settable attribute or return type that the real bindings do not have,
so call-sequence tests cannot pass on something the real TensorRT would reject."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _fake_conformance import instance_problems, load_fake, module_problems  # noqa: E402
from _manifest import manifests  # noqa: E402

MANIFESTS = {m.key: m for m in manifests()}


def _fake(version: str):
    pycuda = load_fake("fake_pycuda")
    pycuda.reset()
    return load_fake("fake_tensorrt").make(version, pycuda=pycuda), pycuda


def _live_objects(trt, pycuda):
    """One object of each fake class, made the way edgeseg makes them."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    parser.parse(b"not an onnx model")
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    cache = config.create_timing_cache(b"")
    runtime = trt.Runtime(logger)
    engine = trt.ICudaEngine(
        {"inputs": [["x", [1, 3, 4, 4]]], "outputs": [["y", [1, 2, 4, 4]]], "profile": None}
    )
    return {
        "logger": logger,
        "builder": builder,
        "network": network,
        "parser": parser,
        "config": config,
        "profile": profile,
        "cache": cache,
        "memory": cache.serialize(),
        "error": parser.get_error(0),
        "runtime": runtime,
        "engine": engine,
        "context": engine.create_execution_context(),
    }


@pytest.mark.parametrize("key", sorted(MANIFESTS))
def test_the_fake_exposes_only_real_names_values_and_return_types(key):
    m = MANIFESTS[key]
    trt, pycuda = _fake(m.version)
    problems = module_problems(trt, m)
    for obj in _live_objects(trt, pycuda).values():
        problems += instance_problems(obj, m)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("key", sorted(MANIFESTS))
def test_live_fake_objects_have_the_real_classes(key):
    m = MANIFESTS[key]
    trt, pycuda = _fake(m.version)
    objs = _live_objects(trt, pycuda)
    expected = {
        "builder": "Builder",
        "network": "INetworkDefinition",
        "parser": "OnnxParser",
        "config": "IBuilderConfig",
        "profile": "IOptimizationProfile",
        "cache": "ITimingCache",
        "memory": "IHostMemory",
        "error": "ParserError",
        "runtime": "Runtime",
        "engine": "ICudaEngine",
        "context": "IExecutionContext",
    }
    for k, cname in expected.items():
        assert type(objs[k]).__name__ == cname and m.has_type(cname), k
    mem = objs["memory"]
    assert m.data["classes"]["IHostMemory"]["buffer_protocol"] is True
    assert bytes(mem).startswith(b"FAKE") and memoryview(mem).nbytes == mem.nbytes
    with pytest.raises(TypeError):
        len(mem)  # the real IHostMemory has no len(): code must use bytes()/memoryview
    assert not isinstance(mem, (bytes, bytearray))
    assert "explicit batch" in str(objs["error"]) or "failed to parse" in str(objs["error"])
    assert objs["error"].code() == trt.ErrorCode.INVALID_GRAPH


def test_strongly_typed_has_its_real_value_per_version():
    for key, want in {"10.3": 1, "10.16": 1, "11.4": 0}.items():
        trt, _ = _fake(MANIFESTS[key].version)
        assert int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) == want
        assert MANIFESTS[key].enum_members("NetworkDefinitionCreationFlag")["STRONGLY_TYPED"] == want
    trt, _ = _fake(MANIFESTS["8.6"].version)
    assert not hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")


def _planted(monkeypatch, edit):
    types_mod = load_fake("fake_tensorrt_types")
    orig = types_mod.enum_tables

    def tables(major, minor):
        t = orig(major, minor)
        edit(t)
        return t

    monkeypatch.setattr(types_mod, "enum_tables", tables)


@pytest.mark.parametrize(
    "edit,expect",
    [
        (lambda t: t["BuilderFlag"].update(INT9=11), "fake trt.BuilderFlag.INT9 does not exist"),
        (
            lambda t: t["NetworkDefinitionCreationFlag"].update(STRONGLY_TYPED=5),
            "STRONGLY_TYPED = 5, TensorRT",
        ),
        (lambda t: t["ILogger.Severity"].update(TRACE=5), "fake trt.ILogger.Severity.TRACE does not exist"),
    ],
)
def test_a_planted_enum_member_or_value_fails(monkeypatch, edit, expect):
    _planted(monkeypatch, edit)
    trt, _ = _fake(MANIFESTS["10.3"].version)
    assert any(expect in p for p in module_problems(trt, MANIFESTS["10.3"]))


def test_a_planted_wrong_return_type_name_or_parameter_fails(monkeypatch):
    m = MANIFESTS["10.3"]
    trt, pycuda = _fake(m.version)

    def get_error(self, index: int) -> str:  # the old fake: a str, not a ParserError
        return "x"

    def set_shape(self, name: str, min, opt, max) -> None:  # noqa: A002 - real parameter is 'input'
        return None

    monkeypatch.setattr(trt.OnnxParser, "get_error", get_error)
    monkeypatch.setattr(trt.IOptimizationProfile, "set_shape", set_shape)
    monkeypatch.setattr(trt.IBuilderConfig, "set_timing_cache_v2", lambda self: None, raising=False)
    problems = module_problems(trt, m)
    assert any("OnnxParser.get_error returns str" in p for p in problems), problems
    assert any("IOptimizationProfile.set_shape(name, min, opt, max)" in p for p in problems), problems
    assert any("set_timing_cache_v2 does not exist" in p for p in problems), problems


def test_a_planted_writable_instance_attribute_fails():
    m = MANIFESTS["10.3"]
    trt, _ = _fake(m.version)
    runtime = trt.Runtime(trt.Logger())
    assert instance_problems(runtime, m) == []  # DLA_core: a settable property in the real Runtime
    runtime.__dict__["num_DLA_cores"] = 2  # the old fake Builder did this; the real property is read-only
    runtime.__dict__["engine_count"] = 1  # not a real name at all
    problems = instance_problems(runtime, m)
    assert any("num_DLA_cores is a writable attribute" in p for p in problems), problems
    assert any("instance attribute engine_count does not exist" in p for p in problems), problems
