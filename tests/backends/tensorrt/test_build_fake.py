"""build_tensorrt's CALL SEQUENCE against the FAKE tensorrt/pycuda modules (tests/fakes) for the
8.6, 10.x and 11.x API surfaces. No engine is really built and no figure comes out of these tests."""

from __future__ import annotations

import json

import pytest

from edgeseg.backends.tensorrt.build import build_tensorrt
from edgeseg.card import read_sidecar
from edgeseg.errors import BuildError, MissingDependencyError


def _build(tmp_path, onnx, **kw):
    logs: list[str] = []
    out = tmp_path / "m.engine"
    res = build_tensorrt(onnx, output=out, log=logs.append, **kw)
    return res, logs


def _path_line(logs):
    (line,) = [entry for entry in logs if entry.startswith("TensorRT ")]
    return line


@pytest.mark.parametrize("version,net_flags", [("8.6.1.6", 1 << 0), ("10.3.0.26", 0)])
def test_fp16_weakly_typed(fake_trt, tmp_path, tiny_models, version, net_flags):
    fake_trt.install(version)
    res, logs = _build(tmp_path, tiny_models.onnx, fp16=True, workspace=256)
    major_minor = ".".join(version.split(".")[:2])
    assert _path_line(logs) == f"TensorRT {major_minor}: FP16 via builder flag"
    assert fake_trt.calls("create_network") == [("create_network", net_flags)]
    assert fake_trt.calls("set_flag") == [("set_flag", "FP16")]
    assert fake_trt.calls("set_memory_pool_limit") == [("set_memory_pool_limit", "WORKSPACE", 256 << 20)]
    assert fake_trt.calls("parse_from_file") == [("parse_from_file", str(tiny_models.onnx))]
    assert not fake_trt.calls("int8_calibrator") and not fake_trt.calls("add_optimization_profile")
    # engine + sidecar
    assert res.path.is_file() and res.precision == "fp16" and res.size_bytes == res.path.stat().st_size
    card = read_sidecar(res.path)
    x = card.extra
    assert card.precision == "fp16" and card.input_size == (64, 96)
    assert (
        x["tensorrt_version"] == version
        and x["compute_capability"] == "8.7"
        and x["gpu_name"].startswith("Fake")
    )
    assert x["builder_flags"] == ["FP16"] and x["strongly_typed"] is False and x["path_id"] == "fp16-flag"
    assert (
        x["engine_size"] == res.size_bytes and len(x["engine_sha256"]) == 64 and len(x["onnx_sha256"]) == 64
    )
    assert x["dla_core"] is None and x["calibration"] is None and x["build_seconds"] >= 0
    assert "--fp16" in x["build_command"] and x["onnx_source"].startswith("tiny.pt@sha256:")
    assert card.source.startswith("tiny.onnx@sha256:")
    assert res.summary().startswith(
        f"built tensorrt fp16 (TensorRT {major_minor}: FP16 via builder flag) in "
    )
    assert fake_trt.pycuda.CONTEXT_STACK == []  # every push popped


def test_fp16_on_11_parses_a_converted_fp16_onnx_strongly_typed(fake_trt, tmp_path, tiny_models):
    trt = fake_trt.install("11.0.0.1")
    res, logs = _build(tmp_path, tiny_models.onnx, fp16=True)
    assert _path_line(logs) == "TensorRT 11.0: strongly typed FP16 ONNX"
    assert fake_trt.calls("create_network") == [("create_network", 0)]  # strong typing is always on in 11
    assert not fake_trt.calls("set_flag") and not fake_trt.calls("parse_from_file")
    assert len(fake_trt.calls("parse")) == 1
    assert not hasattr(trt.BuilderFlag, "FP16")
    card = read_sidecar(res.path)
    assert (
        card.extra["strongly_typed"] is True
        and card.extra["builder_flags"] == []
        and card.precision == "fp16"
    )


def test_fp16_on_11_network_got_fp16_weights_and_float32_io(fake_trt, tmp_path, tiny_models, monkeypatch):
    trt = fake_trt.install("11.1.0")
    seen = {}
    orig = trt.OnnxParser._parse

    def spy(self, data, path):
        ok = orig(self, data, path)
        seen.update(fp16=self._network._fp16_weights, io32=self._network._io_float32)
        return ok

    monkeypatch.setattr(trt.OnnxParser, "_parse", spy)
    _build(tmp_path, tiny_models.onnx, fp16=True)
    assert seen == {"fp16": True, "io32": True}


@pytest.mark.parametrize("version", ["8.6.1.6", "10.3.0.26", "11.0.0.1"])
def test_int8_from_qdq_onnx_uses_no_calibrator(fake_trt, tmp_path, qdq_onnx, version):
    fake_trt.install(version)
    res, logs = _build(tmp_path, qdq_onnx, int8=True)
    major = int(version.split(".")[0])
    assert not fake_trt.calls("int8_calibrator") and not fake_trt.calls("read_calibration_cache")
    if major < 11:
        assert [c[1] for c in fake_trt.calls("set_flag")] == ["INT8", "FP16"]
        assert "explicit INT8 from Q/DQ ONNX" in _path_line(logs)
    else:
        assert not fake_trt.calls("set_flag") and "strongly typed INT8 Q/DQ" in _path_line(logs)
    card = read_sidecar(res.path)
    assert card.precision == "int8" and card.calibration == {"method": "ptq-test"}  # kept from quantize


def test_qdq_onnx_without_int8_flag_still_builds_int8_and_says_so(fake_trt, tmp_path, qdq_onnx):
    fake_trt.install("10.3.0.26")
    res, logs = _build(tmp_path, qdq_onnx)
    assert res.precision == "int8" and any("--int8 implied" in line for line in logs)


def test_implicit_int8_calibrates_writes_a_keyed_cache_then_reuses_it(
    fake_trt, tmp_path, tiny_models, stub_calib
):
    fake_trt.install("8.6.1.6")
    cache = tmp_path / "calib" / "tiny.cache"
    res, logs = _build(tmp_path, tiny_models.onnx, int8=True, calib="frames/", calib_cache=cache)
    assert "implicit INT8 via calibrator" in _path_line(logs)
    assert not any("deprecates" in line for line in logs)  # 8.6: implicit INT8 is not deprecated
    assert fake_trt.calls("int8_calibrator") == [("int8_calibrator", "IInt8EntropyCalibrator2")]
    assert len(fake_trt.calls("calib_batch")) == 5  # 5 frames, batch 1 (static ONNX)
    assert cache.read_bytes() == b"FAKE-CALIB-CACHE batches=5"
    key = json.loads((tmp_path / "calib" / "tiny.cache.key.json").read_text())
    assert (
        key["tensorrt_version"] == "8.6.1.6"
        and key["calib_fingerprint"] == "listcalib-A-5"
        and key["batch"] == 1
    )
    calib = read_sidecar(res.path).calibration
    assert (
        calib["method"] == "tensorrt-entropy"
        and calib["reused_cache"] is False
        and calib["recalibrated"] is True
    )
    assert calib["cache_sha256"] and calib["fingerprint"] == "listcalib-A-5"

    # Same model, data, TensorRT: the cache is reused, no batch is asked for.
    fake_trt.install("8.6.1.6")
    res2, logs2 = _build(tmp_path, tiny_models.onnx, int8=True, calib="frames/", calib_cache=cache)
    assert fake_trt.calls("read_calibration_cache") == [("read_calibration_cache", True)]
    assert not fake_trt.calls("calib_batch") and any("reusing calibration cache" in line for line in logs2)
    assert read_sidecar(res2.path).calibration["reused_cache"] is True

    # Without the set, a matching cache alone is enough.
    fake_trt.install("8.6.1.6")
    _build(tmp_path, tiny_models.onnx, int8=True, calib_cache=cache)
    assert not fake_trt.calls("calib_batch")


def test_stale_cache_is_refused_then_recalibrated_on_request(fake_trt, tmp_path, tiny_models, stub_calib):
    cache = tmp_path / "calib" / "tiny.cache"
    fake_trt.install("10.3.0.26")
    _, logs = _build(tmp_path, tiny_models.onnx, int8=True, calib="frames/", calib_cache=cache)
    assert any(
        "deprecates implicit INT8" in line and "edgeseg quantize --method ptq" in line for line in logs
    )
    # changed calibration set
    stub_calib.tag = "B"
    fake_trt.install("10.3.0.26")
    with pytest.raises(BuildError, match="stale.*calib_fingerprint"):
        _build(tmp_path, tiny_models.onnx, int8=True, calib="frames/", calib_cache=cache)
    assert not fake_trt.calls("build_serialized_network")  # refused before building
    # changed TensorRT version
    stub_calib.tag = "A"
    fake_trt.install("10.4.0.1")
    with pytest.raises(BuildError, match="stale.*tensorrt_version"):
        _build(tmp_path, tiny_models.onnx, int8=True, calib="frames/", calib_cache=cache)
    # changed ONNX
    import onnx

    proto = onnx.load(str(tiny_models.onnx))
    proto.doc_string = "retrained"
    other = tmp_path / "other.onnx"
    other.write_bytes(proto.SerializeToString())
    fake_trt.install("10.3.0.26")
    with pytest.raises(BuildError, match="stale.*onnx_sha256"):
        _build(tmp_path, other, int8=True, calib="frames/", calib_cache=cache)
    # explicit --recalibrate replaces it
    fake_trt.install("10.4.0.1")
    _build(tmp_path, tiny_models.onnx, int8=True, calib="frames/", calib_cache=cache, recalibrate=True)
    assert len(fake_trt.calls("calib_batch")) == 5
    assert (
        json.loads((tmp_path / "calib" / "tiny.cache.key.json").read_text())["tensorrt_version"] == "10.4.0.1"
    )


def test_default_cache_goes_under_calib(fake_trt, tmp_path, tiny_models, stub_calib, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake_trt.install("10.3.0.26")
    _build(tmp_path, tiny_models.onnx, int8=True, calib="frames/", calib_algo="minmax")
    assert (tmp_path / "calib" / "tiny.minmax.cache").is_file()
    assert (tmp_path / "calib" / "tiny.minmax.cache.key.json").is_file()
    assert fake_trt.calls("int8_calibrator") == [("int8_calibrator", "IInt8MinMaxCalibrator")]


def test_int8_fp32_onnx_on_11_is_refused(fake_trt, tmp_path, tiny_models, stub_calib):
    fake_trt.install("11.0.0.1")
    with pytest.raises(BuildError, match=r"removed implicit INT8.*edgeseg quantize --method ptq"):
        _build(tmp_path, tiny_models.onnx, int8=True, calib="frames/")
    assert not (tmp_path / "m.engine").exists()


def test_dynamic_onnx_needs_shapes_and_gets_a_profile(fake_trt, tmp_path, tiny_models, stub_calib):
    fake_trt.install("10.3.0.26")
    with pytest.raises(BuildError, match="dynamic dims batchx3xheightxwidth.*--shapes"):
        _build(tmp_path, tiny_models.onnx_dyn, fp16=True)
    assert not fake_trt.trt.CALLS  # refused before TensorRT was touched
    res, _ = _build(
        tmp_path,
        tiny_models.onnx_dyn,
        int8=True,
        calib="frames/",
        calib_cache=tmp_path / "c.cache",
        shapes="1x3x64x96/2x3x64x96/4x3x128x192",
    )
    assert fake_trt.calls("profile.set_shape") == [
        ("profile.set_shape", "input", (1, 3, 64, 96), (2, 3, 64, 96), (4, 3, 128, 192))
    ]
    assert fake_trt.calls("set_calibration_profile")
    assert (
        len(fake_trt.calls("calib_batch")) == 2
    )  # 5 frames at the opt batch of 2: the short last one is dropped
    card = read_sidecar(res.path)
    assert card.extra["profile"] == {
        "input": "input",
        "min": [1, 3, 64, 96],
        "opt": [2, 3, 64, 96],
        "max": [4, 3, 128, 192],
    }
    assert card.calibration["batch"] == 2


def test_dla_core(fake_trt, tmp_path, tiny_models):
    fake_trt.install("10.3.0.26", num_dla_cores=2)
    with pytest.raises(BuildError, match="needs --fp16 or --int8"):
        _build(tmp_path, tiny_models.onnx, dla_core=0)
    with pytest.raises(BuildError, match="has 2 DLA core"):
        _build(tmp_path, tiny_models.onnx, fp16=True, dla_core=2)
    with pytest.raises(BuildError, match="only applies with --dla-core"):
        _build(tmp_path, tiny_models.onnx, fp16=True, gpu_fallback=True)
    fake_trt.install("10.3.0.26", num_dla_cores=2)
    res, _ = _build(tmp_path, tiny_models.onnx, fp16=True, dla_core=1, gpu_fallback=True)
    assert [c[1] for c in fake_trt.calls("set_flag")] == ["FP16", "GPU_FALLBACK"]
    x = read_sidecar(res.path).extra
    assert (
        x["dla_core"] == 1
        and x["gpu_fallback"] is True
        and "--dla-core 1 --gpu-fallback" in x["build_command"]
    )
    assert json.loads(res.path.read_bytes().split(b"\n", 1)[1])["dla_core"] == 1


def test_timing_cache_is_written_reused_and_foreign_ones_refused(fake_trt, tmp_path, tiny_models):
    tc = tmp_path / "timing.cache"
    fake_trt.install("10.3.0.26")
    _build(tmp_path, tiny_models.onnx, fp16=True, timing_cache=tc)
    assert fake_trt.calls("create_timing_cache") == [("create_timing_cache", 0)]
    blob = tc.read_bytes()
    fake_trt.install("10.3.0.26")
    _build(tmp_path, tiny_models.onnx, fp16=True, timing_cache=tc)
    assert fake_trt.calls("create_timing_cache") == [("create_timing_cache", len(blob))]
    fake_trt.install("10.4.0.1")
    with pytest.raises(BuildError, match="made for another setup .tensorrt_version: 10.3.0.26 -> 10.4.0.1"):
        _build(tmp_path, tiny_models.onnx, fp16=True, timing_cache=tc)


def test_failed_build_leaves_no_engine(fake_trt, tmp_path, tiny_models, monkeypatch):
    trt = fake_trt.install("10.3.0.26")
    monkeypatch.setattr(trt.Builder, "build_serialized_network", lambda self, n, c: None)
    with pytest.raises(BuildError, match="could not build the engine"):
        _build(tmp_path, tiny_models.onnx, fp16=True)
    assert list(tmp_path.iterdir()) == []


def test_onnx_without_card_is_refused(fake_trt, tmp_path, tiny_models):
    import onnx

    proto = onnx.load(str(tiny_models.onnx))
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(proto.SerializeToString())
    fake_trt.install("10.3.0.26")
    with pytest.raises(BuildError, match="edgeseg export"):
        _build(tmp_path, bare, fp16=True)


def test_missing_tensorrt_says_how_to_get_it(tmp_path, tiny_models, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails
    with pytest.raises(MissingDependencyError, match="JetPack.*pypi.nvidia.com"):
        _build(tmp_path, tiny_models.onnx, fp16=True)


def test_onnx_meant_for_onnxruntime_is_refused(fake_trt, tmp_path, tiny_models, qdq_onnx):
    import onnx

    from edgeseg.card import card_from_onnx, card_to_onnx

    fake_trt.install("10.3.0.26")
    for extra, msg in (
        ({"flavour": "onnxruntime-cpu"}, "edgeseg quantize --method ptq"),
        ({"backend": "onnxruntime"}, "ONNX Runtime-optimized"),
        ({"flavour": "cpu-qdq"}, r"placed for the CPU runtimes.*--target tensorrt"),
    ):
        proto = onnx.load(str(qdq_onnx))
        card = card_from_onnx(proto)
        card_to_onnx(proto, card.replace(extra={**card.extra, **extra}))
        path = tmp_path / "cpu.onnx"
        path.write_bytes(proto.SerializeToString())
        with pytest.raises(BuildError, match=msg):
            _build(tmp_path, path, int8=True)
    assert not fake_trt.trt.CALLS
