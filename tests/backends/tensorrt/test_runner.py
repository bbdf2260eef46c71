"""TensorRTRunner against the FAKE tensorrt/pycuda (call sequence and buffer plumbing only: the
fake engine computes out[n, c] = in[n, 0] + c) and the refusals made before deserializing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeseg.backends.tensorrt.build import build_tensorrt
from edgeseg.card import read_sidecar, sidecar_path
from edgeseg.errors import BuildError, EdgesegError
from edgeseg.backends import open_runner
from edgeseg.backends.tensorrt.runner import TensorRTRunner


def _engine(fake_trt, tmp_path, onnx, version="10.3.0.26", **kw):
    fake_trt.install(version)
    path = build_tensorrt(onnx, output=tmp_path / "m.engine", fp16=True, log=lambda s: None, **kw).path
    # the build's own calls (its comparison ran the engine too): count the runner's only
    fake_trt.trt.CALLS.clear()
    fake_trt.pycuda.CALLS.clear()
    return path


def _expected(x, classes=11):
    return x[:, :1] + np.arange(classes, dtype=np.float32).reshape(1, -1, 1, 1)


def test_static_engine_runs_any_batch_in_chunks_and_frees_everything(fake_trt, tmp_path, tiny_models):
    engine = _engine(fake_trt, tmp_path, tiny_models.onnx)
    x = np.random.default_rng(0).normal(size=(3, 3, 64, 96)).astype(np.float32)
    with open_runner(engine) as r:
        assert isinstance(r, TensorRTRunner)
        assert (r.backend, r.precision, r.input_size) == ("tensorrt", "fp16", (64, 96))
        assert r.card.num_classes == 11
        y = r.infer(x)
        assert y.dtype == np.float32 and y.shape == (3, 11, 64, 96)
        np.testing.assert_array_equal(y, _expected(x))
        with pytest.raises(EdgesegError, match="takes height 64, found 32"):
            r.infer(x[:, :, :32])
        with pytest.raises(EdgesegError, match="3 channels"):
            r.infer(x[:, :1])
    assert len(fake_trt.calls("execute_async_v3")) == 3  # batch-1 engine: one chunk per frame
    names = {c[1] for c in fake_trt.calls("set_tensor_address")}
    assert names == {"input", "logits"}
    allocs = [c for c in fake_trt.pycuda.CALLS if c[0] == "mem_alloc"]
    assert len(allocs) == 2 and not fake_trt.pycuda.MEMORY  # input + output buffers, both freed
    assert fake_trt.pycuda.CONTEXT_STACK == [] and ("detach",) in fake_trt.pycuda.CALLS
    with pytest.raises(EdgesegError, match="closed"):
        r.infer(x)


def test_dynamic_engine_uses_the_profile(fake_trt, tmp_path, tiny_models):
    engine = _engine(fake_trt, tmp_path, tiny_models.onnx_dyn, shapes="1x3x32x48/2x3x64x96/4x3x64x96")
    rng = np.random.default_rng(1)
    with TensorRTRunner(engine) as r:
        assert r.input_size == (64, 96) and r.profile[2] == (4, 3, 64, 96)
        x = rng.normal(size=(6, 3, 32, 48)).astype(np.float32)
        np.testing.assert_array_equal(r.infer(x), _expected(x))
        with pytest.raises(EdgesegError, match="height 32..64"):
            r.infer(rng.normal(size=(1, 3, 80, 96)).astype(np.float32))
    shapes = [c[2] for c in fake_trt.calls("set_input_shape")]
    assert shapes == [(4, 3, 64, 96), (4, 3, 32, 48), (2, 3, 32, 48)]  # max at setup, then chunks of 4 + 2


def test_engine_from_another_tensorrt_is_refused_before_deserializing(fake_trt, tmp_path, tiny_models):
    engine = _engine(fake_trt, tmp_path, tiny_models.onnx, version="8.6.1.6")
    fake_trt.install("8.6.2.3")
    with pytest.raises(BuildError) as e:
        TensorRTRunner(engine)
    msg = str(e.value)
    assert "built with TensorRT 8.6.1.6, this is TensorRT 8.6.2.3" in msg
    assert "rebuild it here with: edgeseg build" in msg and "--fp16" in msg
    assert not fake_trt.calls("deserialize_cuda_engine")
    assert fake_trt.pycuda.CONTEXT_STACK == []


def test_engine_for_another_gpu_is_refused_before_deserializing(fake_trt, tmp_path, tiny_models):
    engine = _engine(fake_trt, tmp_path, tiny_models.onnx)
    fake_trt.install("10.3.0.26", compute_capability=(7, 2))
    with pytest.raises(BuildError, match=r"compute capability 8\.7 .*this GPU has 7\.2.*rebuild"):
        TensorRTRunner(engine)
    assert not fake_trt.calls("deserialize_cuda_engine")


def test_engine_without_sidecar_is_refused(fake_trt, tmp_path, tiny_models):
    engine = _engine(fake_trt, tmp_path, tiny_models.onnx)
    sidecar_path(engine).unlink()
    fake_trt.install("10.3.0.26")
    with pytest.raises(BuildError, match="no model card beside it"):
        TensorRTRunner(engine)
    assert not fake_trt.calls("deserialize_cuda_engine")


def test_truncated_or_replaced_engine_is_refused(fake_trt, tmp_path, tiny_models):
    engine = _engine(fake_trt, tmp_path, tiny_models.onnx)
    data = engine.read_bytes()
    engine.write_bytes(data[:-10])
    fake_trt.install("10.3.0.26")
    with pytest.raises(BuildError, match="truncated or replaced"):
        TensorRTRunner(engine)
    engine.write_bytes(data[:-1] + b"}" if data[-1:] != b"}" else data[:-1] + b" ")
    with pytest.raises(BuildError, match="sha256"):
        TensorRTRunner(engine)
    assert not fake_trt.calls("deserialize_cuda_engine")


def test_deserialize_returning_none_becomes_an_error(fake_trt, tmp_path, tiny_models):
    from edgeseg._io import sha256_file

    engine = _engine(fake_trt, tmp_path, tiny_models.onnx)
    engine.write_bytes(b"not an engine at all")
    card = read_sidecar(engine)
    card.replace(
        extra={**card.extra, "engine_size": engine.stat().st_size, "engine_sha256": sha256_file(engine)}
    ).write_sidecar(engine)
    fake_trt.install("10.3.0.26")
    with pytest.raises(BuildError, match="could not deserialize.*rebuild"):
        TensorRTRunner(engine)
    assert fake_trt.calls("deserialize_cuda_engine")
    assert not fake_trt.pycuda.MEMORY and fake_trt.pycuda.CONTEXT_STACK == []


def test_sidecar_of_another_backend_is_refused(fake_trt, tmp_path, tiny_models):
    engine = _engine(fake_trt, tmp_path, tiny_models.onnx)
    card = read_sidecar(engine)
    card.replace(extra={**card.extra, "backend": "onnxruntime"}).write_sidecar(engine)
    fake_trt.install("10.3.0.26")
    with pytest.raises(BuildError, match="not a TensorRT engine"):
        TensorRTRunner(engine)


def test_dla_engine_sets_the_runtime_core(fake_trt, tmp_path, tiny_models, monkeypatch):
    fake_trt.install("10.3.0.26", num_dla_cores=2)
    engine = build_tensorrt(
        tiny_models.onnx, output=tmp_path / "d.engine", fp16=True, dla_core=1, log=lambda s: None
    ).path
    trt = fake_trt.install("10.3.0.26", num_dla_cores=2)
    seen = {}
    orig = trt.Runtime.deserialize_cuda_engine

    def spy(self, data):
        seen["dla"] = self.DLA_core
        return orig(self, data)

    monkeypatch.setattr(trt.Runtime, "deserialize_cuda_engine", spy)
    with TensorRTRunner(engine):
        pass
    assert seen == {"dla": 1}
    assert json.loads(engine.read_bytes().split(b"\n", 1)[1])["dla_core"] == 1


def test_device_strings(fake_trt, tmp_path, tiny_models):
    engine = _engine(fake_trt, tmp_path, tiny_models.onnx)
    with TensorRTRunner(engine, device="cuda:0") as r:
        assert r.card.extra["backend"] == "tensorrt"
    with pytest.raises(EdgesegError, match="GPU index"):
        TensorRTRunner(engine, device="cpu")
    with pytest.raises(BuildError, match="device 3 does not exist"):
        TensorRTRunner(engine, device=3)
