"""Issue 16's TensorRT defects, each through the stricter FAKE tensorrt/pycuda (tests/fakes, checked
against NVIDIA's API manifests): timing-cache keying, the runner's buffer release and closing
thread, FP16 on 11.x with external ONNX data, --shapes errors, the 10.12+ flag deprecation line and
the calibrator protocol. Call sequences only: no engine is built and no figure comes out."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from edgeseg.backends.tensorrt._plan import plan_build
from edgeseg.backends.tensorrt.build import build_tensorrt
from edgeseg.card import read_sidecar
from edgeseg.errors import BuildError, EdgesegError


def _build(tmp_path, onnx, name="m.engine", **kw):
    logs: list[str] = []
    res = build_tensorrt(onnx, output=tmp_path / name, log=logs.append, **kw)
    return res, logs


def _snapshot(*paths):
    return {p: p.read_bytes() for p in paths}


# -- 1. timing cache ---------------------------------------------------------------------------------
def test_timing_cache_gets_a_key_and_is_reused_only_when_it_matches(fake_trt, tmp_path, tiny_models):
    tc = tmp_path / "trt.timing"
    fake_trt.install("10.3.0.26")
    _build(tmp_path, tiny_models.onnx, fp16=True, timing_cache=tc)
    key = json.loads((tmp_path / "trt.timing.key.json").read_text())
    assert key["tensorrt_version"] == "10.3.0.26" and key["compute_capability"] == "8.7"
    assert key["gpu_name"].startswith("Fake") and len(key["cache_sha256"]) == 64
    first = tc.read_bytes()
    fake_trt.install("10.3.0.26")
    _build(tmp_path, tiny_models.onnx, fp16=True, timing_cache=tc)
    assert fake_trt.calls("create_timing_cache") == [("create_timing_cache", len(first))]
    assert fake_trt.calls("set_timing_cache") == [("set_timing_cache", False)]  # never ignore_mismatch
    assert json.loads(tc.read_bytes().split(b"\n", 1)[1])["entries"] == 2  # the applied cache grew


@pytest.mark.parametrize(
    "version,cc,field",
    [
        ("10.4.0.1", (8, 7), "tensorrt_version: 10.3.0.26 -> 10.4.0.1"),
        ("10.3.0.26", (7, 2), "compute_capability: 8.7 -> 7.2"),
    ],
)
def test_a_cache_keyed_for_another_tensorrt_or_gpu_is_refused_and_left_alone(
    fake_trt, tmp_path, tiny_models, version, cc, field
):
    tc = tmp_path / "trt.timing"
    fake_trt.install("10.3.0.26")
    _build(tmp_path, tiny_models.onnx, fp16=True, timing_cache=tc)
    before = _snapshot(tc, tmp_path / "trt.timing.key.json")
    fake_trt.install(version, compute_capability=cc)
    with pytest.raises(BuildError, match=f"timing cache .*trt.timing was made for another setup .*{field}"):
        _build(tmp_path, tiny_models.onnx, "other.engine", fp16=True, timing_cache=tc)
    assert _snapshot(*before) == before and not (tmp_path / "other.engine").exists()
    assert not fake_trt.calls("create_timing_cache")  # refused before TensorRT saw it


def test_an_unkeyed_cache_is_refused_because_tensorrt_would_drop_it_silently(fake_trt, tmp_path, tiny_models):
    """The fake, like TensorRT, drops a cache of another version with only a log line: without the
    key, the build would then overwrite the user's file with an empty cache."""
    tc = tmp_path / "trt.timing"
    fake_trt.install("10.4.0.1")
    _build(tmp_path, tiny_models.onnx, fp16=True, timing_cache=tc)
    (tmp_path / "trt.timing.key.json").unlink()  # e.g. copied from another machine without its key
    before = _snapshot(tc)
    fake_trt.install("10.3.0.26")
    with pytest.raises(BuildError, match="has no key file .trt.timing.key.json.*delete it"):
        _build(tmp_path, tiny_models.onnx, "x.engine", fp16=True, timing_cache=tc)
    assert _snapshot(tc) == before
    # what TensorRT itself does with it (the fake mirrors it): no failure, a warning, an empty cache
    trt = fake_trt.install("10.3.0.26")
    config = trt.Builder(trt.Logger()).create_builder_config()
    obj = config.create_timing_cache(tc.read_bytes())
    assert obj is not None and config.set_timing_cache(obj, False) is True
    assert any("will not be used" in c[2] for c in fake_trt.calls("log"))


def test_a_damaged_cache_or_a_refused_one_is_an_error_and_never_overwritten(
    fake_trt, tmp_path, tiny_models, monkeypatch
):
    from edgeseg._io import sha256_bytes

    tc = tmp_path / "trt.timing"
    fake_trt.install("10.3.0.26")
    _build(tmp_path, tiny_models.onnx, fp16=True, timing_cache=tc)
    kp = tmp_path / "trt.timing.key.json"
    # damaged bytes under a consistent key: create_timing_cache returns None -> a clear error (no TypeError)
    tc.write_bytes(b"garbage")
    kp.write_text(json.dumps({**json.loads(kp.read_text()), "cache_sha256": sha256_bytes(b"garbage")}))
    before = _snapshot(tc, kp)
    fake_trt.install("10.3.0.26")
    with pytest.raises(BuildError, match="could not read timing cache .*damaged"):
        _build(tmp_path, tiny_models.onnx, "x.engine", fp16=True, timing_cache=tc)
    assert _snapshot(*before) == before
    # edited after its key was written
    tc.write_bytes(b"garbage2")
    with pytest.raises(BuildError, match="changed after its key was written"):
        _build(tmp_path, tiny_models.onnx, "x.engine", fp16=True, timing_cache=tc)
    # TensorRT's own refusal (set_timing_cache returns False for another device)
    tc.unlink()
    kp.unlink()
    _build(tmp_path, tiny_models.onnx, fp16=True, timing_cache=tc)
    before = _snapshot(tc, kp)
    trt = fake_trt.install("10.3.0.26")
    monkeypatch.setattr(trt.IBuilderConfig, "set_timing_cache", lambda self, cache, ignore_mismatch: False)
    with pytest.raises(BuildError, match="another TensorRT version or GPU"):
        _build(tmp_path, tiny_models.onnx, "y.engine", fp16=True, timing_cache=tc)
    assert _snapshot(*before) == before and not (tmp_path / "y.engine").exists()


# -- 2. runner: buffers freed inside the context, on the opening thread -------------------------------
def _engine(fake_trt, tmp_path, tiny_models):
    fake_trt.install("10.3.0.26")
    return build_tensorrt(tiny_models.onnx, output=tmp_path / "m.engine", fp16=True, log=lambda s: None).path


def test_close_frees_pagelocked_host_and_device_buffers_before_releasing_the_context(
    fake_trt, tmp_path, tiny_models
):
    from edgeseg.backends.tensorrt.runner import TensorRTRunner

    engine = _engine(fake_trt, tmp_path, tiny_models)
    cuda = fake_trt.pycuda
    cuda.reset()
    r = TensorRTRunner(engine)
    r.infer(np.zeros((1, 3, 64, 96), np.float32))
    assert len(cuda.HOST_ALLOCS) == 2
    r.close()
    assert all(a.freed for a in cuda.HOST_ALLOCS) and not cuda.MEMORY
    order = [c[0] for c in cuda.CALLS]
    assert order.index("detach") > max(i for i, c in enumerate(order) if c == "host_free")
    r.close()  # twice: nothing more happens
    assert [c[0] for c in cuda.CALLS].count("detach") == 1 and cuda.CONTEXT_STACK == []


def test_close_from_another_thread_is_refused_and_the_owner_can_still_close(fake_trt, tmp_path, tiny_models):
    from edgeseg.backends.tensorrt.runner import TensorRTRunner

    engine = _engine(fake_trt, tmp_path, tiny_models)
    r = TensorRTRunner(engine)
    errors: list[BaseException] = []

    def other():
        try:
            r.close()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert len(errors) == 1 and isinstance(errors[0], EdgesegError)
    assert "must be closed from the thread that opened it" in str(errors[0])
    assert r.infer(np.zeros((1, 3, 64, 96), np.float32)).shape == (1, 11, 64, 96)  # still usable
    r.close()
    assert all(a.freed for a in fake_trt.pycuda.HOST_ALLOCS) and not fake_trt.pycuda.MEMORY


# -- 3. FP16 on 11.x: ONNX with external data -------------------------------------------------------
def test_fp16_on_11_builds_an_onnx_with_external_data(fake_trt, tmp_path, tiny_models, monkeypatch):
    import onnx

    ext = tmp_path / "ext"
    ext.mkdir()
    proto = onnx.load(str(tiny_models.onnx))
    onnx.save_model(
        proto,
        str(ext / "tiny.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="tiny.onnx.data",
        size_threshold=0,
    )
    assert (ext / "tiny.onnx.data").stat().st_size > 1000
    trt = fake_trt.install("11.4.0.106")
    seen = {}
    orig = trt.OnnxParser._parse

    def spy(self, data, path):
        ok = orig(self, data, path)
        seen.update(fp16=self._network._fp16_weights, ok=ok)
        return ok

    monkeypatch.setattr(trt.OnnxParser, "_parse", spy)
    res, _ = _build(tmp_path, ext / "tiny.onnx", fp16=True)
    (call,) = fake_trt.calls("parse")
    assert call[2] == str(ext / "tiny.onnx")  # path= given
    assert seen == {"fp16": True, "ok": True} and read_sidecar(res.path).precision == "fp16"
    # the fake refuses what TensorRT refuses: an external-data model parsed from bytes without path=
    p = trt.OnnxParser(trt.Builder(trt.Logger()).create_network(0), trt.Logger())
    assert p.parse(onnx.load(str(ext / "tiny.onnx"), load_external_data=False).SerializeToString()) is False
    assert "Failed to open file" in str(p.get_error(0))


def test_a_missing_external_data_file_is_a_build_error_naming_it(fake_trt, tmp_path, tiny_models):
    import onnx

    onnx.save_model(
        onnx.load(str(tiny_models.onnx)),
        str(tmp_path / "t.onnx"),
        save_as_external_data=True,
        location="t.onnx.data",
        size_threshold=0,
    )
    (tmp_path / "t.onnx.data").unlink()
    fake_trt.install("11.4.0.106")
    with pytest.raises(BuildError, match="t.onnx: cannot read its external weight data"):
        _build(tmp_path, tmp_path / "t.onnx", fp16=True)


# -- 4. --shapes errors -----------------------------------------------------------------------------
SHAPES = "1x3x64x96/2x3x64x96/4x3x128x192"


def test_set_shape_refusal_is_a_build_error_naming_shapes(fake_trt, tmp_path, tiny_models, monkeypatch):
    trt = fake_trt.install("10.3.0.26")

    def strict(self, input, min, opt, max):  # noqa: A002 - TensorRT also checks fixed dims against the network
        raise ValueError("The shape of input 'input' is inconsistent with the network")

    monkeypatch.setattr(trt.IOptimizationProfile, "set_shape", strict)
    with pytest.raises(
        BuildError, match=f"--shapes {SHAPES}: TensorRT refused min/opt/max for input 'input'"
    ):
        _build(tmp_path, tiny_models.onnx_dyn, fp16=True, shapes=SHAPES)
    assert not (tmp_path / "m.engine").exists()
    # the fake itself raises ValueError like the bindings on an inconsistent min/opt/max
    prof = trt.Builder(trt.Logger()).create_optimization_profile()
    with pytest.raises(ValueError):
        prof.set_shape("input", (1, 3, 64, 96), (4, 3, 64, 96), (2, 3, 64, 96))


def test_add_optimization_profile_returning_minus_one_is_a_build_error(
    fake_trt, tmp_path, tiny_models, monkeypatch
):
    trt = fake_trt.install("10.3.0.26")
    monkeypatch.setattr(trt.IBuilderConfig, "add_optimization_profile", lambda self, profile: -1)
    with pytest.raises(
        BuildError, match=f"--shapes {SHAPES}: .*invalid .add_optimization_profile returned -1"
    ):
        _build(tmp_path, tiny_models.onnx_dyn, fp16=True, shapes=SHAPES)


# -- 5. TensorRT 10.12+: BuilderFlag.FP16/INT8 deprecated ------------------------------------------
@pytest.mark.parametrize(
    "version,deprecated", [("10.3.0", False), ("10.11.0", False), ("10.12.0", True), ("10.16.1.11", True)]
)
def test_the_path_line_says_the_precision_flags_are_deprecated_from_10_12(version, deprecated):
    for kw in (dict(fp16=True), dict(int8=True, calib=True), dict(int8=True, onnx_is_qdq=True)):
        kw = {"onnx_is_qdq": False, "fp16": False, "int8": False, "calib": False, **kw}
        plan = plan_build(version, **kw)
        assert ("deprecated since TensorRT 10.12 in favour of strong typing" in plan.path_name) is deprecated
        assert not plan.strongly_typed and plan.flags  # decision: 10.x keeps the (still supported) flag path


def test_fp16_on_10_16_keeps_the_flag_and_says_it_is_deprecated(fake_trt, tmp_path, tiny_models):
    fake_trt.install("10.16.1.11")
    res, logs = _build(tmp_path, tiny_models.onnx, fp16=True)
    (line,) = [x for x in logs if x.startswith("TensorRT ")]
    assert line.startswith("TensorRT 10.16: FP16 via builder flag (deprecated since TensorRT 10.12")
    assert fake_trt.calls("set_flag") == [("set_flag", "FP16")] and fake_trt.calls("create_network") == [
        ("create_network", 0)
    ]
    assert read_sidecar(res.path).extra["path_id"] == "fp16-flag"


# -- 6. calibrator protocol ---------------------------------------------------------------------------
def test_calibration_calls_get_batch_size_first_and_stores_the_memoryview_cache(
    fake_trt, tmp_path, tiny_models, stub_calib
):
    fake_trt.install("10.16.1.11")
    cache = tmp_path / "c.cache"
    _build(tmp_path, tiny_models.onnx, int8=True, calib="frames/", calib_cache=cache)
    names = [c[0] for c in fake_trt.trt.CALLS]
    assert fake_trt.calls("get_batch_size") == [("get_batch_size", 1)]
    assert names.index("get_batch_size") < names.index("read_calibration_cache") < names.index("calib_batch")
    assert cache.read_bytes() == b"FAKE-CALIB-CACHE batches=5"  # written from the memoryview TensorRT passes


def test_the_fake_calibrator_base_is_as_strict_as_pybind11(fake_trt):
    trt = fake_trt.install("10.3.0.26")

    class NoBaseInit(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            pass

    with pytest.raises(TypeError, match="__init__\\(\\) must be called"):
        NoBaseInit()

    class NoBatchSize(trt.IInt8EntropyCalibrator2):
        pass

    with pytest.raises(RuntimeError, match="pure virtual"):
        NoBatchSize().get_batch_size()
