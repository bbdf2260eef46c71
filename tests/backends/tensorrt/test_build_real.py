"""Real TensorRT (Jetson or NVIDIA GPU): build FP16 and INT8 (Q/DQ) engines of the tiny model and
compare with ONNX Runtime. Marked ``tensorrt`` (excluded by default); skipped unless a real
tensorrt and pycuda import. Run with: pytest tests/backends/tensorrt -m tensorrt
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.tensorrt


@pytest.fixture(scope="module")
def real_trt():
    trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed")
    if getattr(trt, "FAKE", False) or not hasattr(trt, "Builder"):
        pytest.skip("no working TensorRT")
    pytest.importorskip("pycuda.driver", reason="pycuda is not installed")
    return trt


def _ort(path, x):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


def _inputs(n=2, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 3, 64, 96)).astype(np.float32)


def test_fp16_engine_matches_onnxruntime(real_trt, tmp_path, tiny_models):
    from edgeseg.backends.tensorrt.build import build_tensorrt
    from edgeseg.backends.tensorrt.runner import TensorRTRunner

    res = build_tensorrt(tiny_models.onnx, output=tmp_path / "fp16.engine", fp16=True, log=print)
    assert res.card.extra["tensorrt_version"] == real_trt.__version__
    x = _inputs()
    ref = np.concatenate([_ort(tiny_models.onnx, x[i : i + 1]) for i in range(len(x))])
    with TensorRTRunner(res.path) as r:
        y = r.infer(x)
    scale = float(np.abs(ref).max())
    assert np.isfinite(y).all()
    assert np.abs(y - ref).max() <= 1e-2 * scale + 1e-3
    assert (y.argmax(1) == ref.argmax(1)).mean() >= 0.95


def test_dynamic_fp16_engine(real_trt, tmp_path, tiny_models):
    from edgeseg.backends.tensorrt.build import build_tensorrt
    from edgeseg.backends.tensorrt.runner import TensorRTRunner

    res = build_tensorrt(tiny_models.onnx_dyn, output=tmp_path / "dyn.engine", fp16=True,
                         shapes="1x3x64x96/2x3x64x96/4x3x64x96", log=print)
    x = _inputs(5)
    ref = _ort(tiny_models.onnx_dyn, x)
    with TensorRTRunner(res.path) as r:
        y = r.infer(x)
    assert (y.argmax(1) == ref.argmax(1)).mean() >= 0.95


def test_int8_qdq_engine_matches_onnxruntime(real_trt, tmp_path, tiny_models):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from edgeseg.backends.tensorrt.build import build_tensorrt
    from edgeseg.card import card_from_onnx, card_to_onnx
    from edgeseg.backends.tensorrt.runner import TensorRTRunner

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": _inputs(1, seed=s)} for s in range(8)])

        def get_next(self):
            return next(self.it, None)

    qdq = tmp_path / "tiny_qdq.onnx"
    quantize_static(str(tiny_models.onnx), str(qdq), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
    import onnx

    proto = onnx.load(str(qdq))
    card_to_onnx(proto, card_from_onnx(tiny_models.onnx).replace(precision="int8"))
    qdq.write_bytes(proto.SerializeToString())
    res = build_tensorrt(qdq, output=tmp_path / "int8.engine", int8=True, log=print)
    assert res.precision == "int8"
    x = _inputs(2, seed=9)
    ref = np.concatenate([_ort(qdq, x[i : i + 1]) for i in range(len(x))])
    with TensorRTRunner(res.path) as r:
        y = r.infer(x)
    assert np.isfinite(y).all()
    assert (y.argmax(1) == ref.argmax(1)).mean() >= 0.8
    assert np.corrcoef(y.ravel(), ref.ravel())[0, 1] >= 0.95
