"""Real TensorRT (Jetson or NVIDIA GPU): build engines and hold them to the bounds in
``edgeseg.backends.tensorrt.check.tolerances`` against ONNX Runtime FP32. Marked ``tensorrt`` (excluded by
default); skipped unless a real tensorrt and pycuda import. Run with ``pytest tests/backends/tensorrt -m
tensorrt`` or ``edgeseg trt-check`` (which also writes a report; docs/jetson.md).

- FP32 (TF32 off, the build default) and FP16 engines of a tiny CGNet, element-wise against ONNX
  Runtime with Polygraphy's bounds; an FP32 engine built with ``--tf32`` against the TF32 bound.
- An INT8 engine of the tiny model's Q/DQ ONNX is only built and run (an untrained network has no
  meaningful INT8 accuracy); INT8 and FP16 accuracy is measured as the mIoU drop of the shipped
  CamVid model on labelled data, and only when a dataset is given (``EDGESEG_TRT_DATA``).

Each test records its figures with ``record_property`` (JSON values); ``edgeseg trt-check`` reads
them from pytest's JUnit XML into its report.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from edgeseg.backends.tensorrt.check import ENV_DATA, ENV_MAX_FRAMES, ENV_ONNX, ENV_QDQ_ONNX
from edgeseg.backends.tensorrt.check.tolerances import SOURCES, compare, engine_bounds, miou_check

pytestmark = pytest.mark.tensorrt

NO_TORCH = (
    "PyTorch is not installed: the test model is exported with it (install NVIDIA's PyTorch wheel "
    f"for this JetPack), or set {ENV_ONNX}=an FP32 ONNX from `edgeseg export`"
)


@pytest.fixture(scope="module")
def real_trt():
    trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed")
    if getattr(trt, "FAKE", False) or not hasattr(trt, "Builder"):
        pytest.skip("no working TensorRT")
    pytest.importorskip("pycuda.driver", reason="pycuda is not installed")
    return trt


@pytest.fixture(scope="module")
def tiny(request):
    pytest.importorskip("torch", reason=NO_TORCH)
    return request.getfixturevalue("tiny_models")


def _record(record_property, **figures) -> None:
    for k, v in figures.items():
        record_property(k, json.dumps(v))


def _ort(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"input": x[i : i + 1]})[0] for i in range(len(x))])


def _inputs(n=2, seed=0, size=(64, 96)):
    return np.random.default_rng(seed).normal(size=(n, 3, *size)).astype(np.float32)


def _engine_vs_ort(trt, onnx, engine_path, x, record_property, *, precision, tf32=False, onnx_for_ref=None):
    """Run ``engine_path`` and ONNX Runtime on ``x``; compare with the bound for ``precision``."""
    from edgeseg.backends.tensorrt.runner import TensorRTRunner

    ref = _ort(onnx_for_ref or onnx, x)
    with TensorRTRunner(engine_path) as r:
        y = r.infer(x)
    atol, rtol = engine_bounds(precision, tf32=tf32)
    c = compare(y, ref, atol=atol, rtol=rtol)
    _record(
        record_property,
        tensorrt_version=trt.__version__,
        precision=precision,
        tf32=tf32,
        bound_source=SOURCES["tf32" if tf32 else precision],
        argmax_agreement=float((y.argmax(1) == ref.argmax(1)).mean()),
        **c.to_dict(),
    )
    return c


def test_fp32_engine_matches_onnxruntime(real_trt, tmp_path, tiny, record_property):
    """Polygraphy's default bound (1e-5); the build clears TF32, as Polygraphy does."""
    from edgeseg.backends.tensorrt.build import build_tensorrt

    res = build_tensorrt(tiny.onnx, output=tmp_path / "fp32.engine", log=print)
    assert res.precision == "fp32" and res.card.extra["tf32"] is False
    assert res.card.extra["tensorrt_version"] == real_trt.__version__
    c = _engine_vs_ort(real_trt, tiny.onnx, res.path, _inputs(), record_property, precision="fp32")
    assert c.passed, c.summary()


def test_fp32_engine_with_tf32_is_within_the_tf32_bound(real_trt, tmp_path, tiny, record_property):
    from edgeseg.backends.tensorrt.build import build_tensorrt

    res = build_tensorrt(tiny.onnx, output=tmp_path / "tf32.engine", tf32=True, log=print)
    assert res.card.extra["tf32"] is True
    c = _engine_vs_ort(real_trt, tiny.onnx, res.path, _inputs(), record_property, precision="fp32", tf32=True)
    assert c.passed, c.summary()


def test_fp16_engine_matches_onnxruntime(real_trt, tmp_path, tiny, record_property):
    from edgeseg.backends.tensorrt.build import build_tensorrt

    res = build_tensorrt(tiny.onnx, output=tmp_path / "fp16.engine", fp16=True, log=print)
    assert res.precision == "fp16"
    c = _engine_vs_ort(real_trt, tiny.onnx, res.path, _inputs(), record_property, precision="fp16")
    assert c.passed, c.summary()


def test_dynamic_fp16_engine_matches_onnxruntime(real_trt, tmp_path, tiny, record_property):
    from edgeseg.backends.tensorrt.build import build_tensorrt

    res = build_tensorrt(
        tiny.onnx_dyn,
        output=tmp_path / "dyn.engine",
        fp16=True,
        shapes="1x3x64x96/2x3x64x96/4x3x64x96",
        log=print,
    )
    c = _engine_vs_ort(real_trt, tiny.onnx_dyn, res.path, _inputs(5), record_property, precision="fp16")
    assert c.passed, c.summary()


def test_int8_qdq_engine_builds_and_runs(real_trt, tmp_path, tiny, record_property):
    """Smoke test only: no element-wise bound applies to INT8 (see test_engine_miou_within_bound)."""
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
    quantize_static(
        str(tiny.onnx),
        str(qdq),
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
    )
    import onnx

    proto = onnx.load(str(qdq))
    card_to_onnx(proto, card_from_onnx(tiny.onnx).replace(precision="int8"))
    qdq.write_bytes(proto.SerializeToString())
    res = build_tensorrt(qdq, output=tmp_path / "int8.engine", int8=True, log=print)
    assert res.precision == "int8"
    x = _inputs(2, seed=9)
    ref = _ort(qdq, x)
    with TensorRTRunner(res.path) as r:
        y = r.infer(x)
    assert y.shape == ref.shape and np.isfinite(y).all()
    c = compare(y, ref, atol=0.0, rtol=0.0)  # figures only: the report shows them, nothing is asserted
    _record(
        record_property,
        tensorrt_version=real_trt.__version__,
        precision="int8",
        bound_source="none (smoke test)",
        argmax_agreement=float((y.argmax(1) == ref.argmax(1)).mean()),
        max_abs_diff=c.max_abs_diff,
        max_rel_diff=c.max_rel_diff,
        mean_abs_diff=c.mean_abs_diff,
        nonfinite=c.nonfinite,
    )


# -- mIoU on labelled data (the shipped CamVid model) ----------------------------------------------
@pytest.fixture(scope="module")
def labelled():
    spec = os.environ.get(ENV_DATA)
    if not spec:
        pytest.skip(
            f"the mIoU checks need labelled data: set {ENV_DATA}=camvid:/path/to/CamVid (or "
            "`edgeseg trt-check --data camvid:PATH`); INT8 accuracy is measured there, never assumed"
        )
    frames = os.environ.get(ENV_MAX_FRAMES)
    return spec, int(frames) if frames else None


@pytest.fixture(scope="module")
def trained_onnx(tmp_path_factory):
    """The FP32 ONNX of the shipped CamVid model ($EDGESEG_TRT_ONNX, else exported here)."""
    given = os.environ.get(ENV_ONNX)
    if given:
        return Path(given)
    pytest.importorskip("torch", reason=NO_TORCH)
    from edgeseg.export.onnx import export_onnx
    from edgeseg.train.checkpoint import checkpoint_source, load_checkpoint

    pt = Path(__import__("edgeseg").__file__).parent / "weights" / "cgnet_camvid.pt"
    model, card, _ = load_checkpoint(pt)
    return export_onnx(
        model.eval(),
        card.replace(source=checkpoint_source(pt)),
        tmp_path_factory.mktemp("trained") / "cgnet_camvid.onnx",
    )


def _miou(model_path, spec, max_frames):
    from edgeseg.bench.measure import evaluate_miou
    from edgeseg.data.datasets import open_dataset
    from edgeseg.backends import open_runner

    with open_runner(model_path) as runner:
        size = tuple(runner.card.input_size)
        ds = open_dataset(spec, "val", size=size)
        res = evaluate_miou(runner, ds, size=size, max_frames=max_frames)
    return res


@pytest.fixture(scope="module")
def reference_miou(labelled, trained_onnx):
    spec, frames = labelled
    return _miou(trained_onnx, spec, frames)


def _int8_engine(trt, onnx, spec, tmp_path):
    """Build the INT8 engine: from $EDGESEG_TRT_QDQ_ONNX, else a PTQ Q/DQ ONNX (`edgeseg quantize`,
    needs torch), else implicit calibration on the train split (TensorRT 8.6/10.x only)."""
    from edgeseg.backends.tensorrt.build import build_tensorrt

    qdq = os.environ.get(ENV_QDQ_ONNX)
    if not qdq:
        try:
            import torch  # noqa: F401
        except ImportError:
            qdq = None
        else:
            from edgeseg.cli import main

            qdq = str(tmp_path / "cgnet_camvid_int8.onnx")
            pt = Path(__import__("edgeseg").__file__).parent / "weights" / "cgnet_camvid.pt"
            assert (
                main(["quantize", str(pt), "--method", "ptq", "--calib", spec, "-o", qdq, "--no-progress"])
                == 0
            )
    if qdq:
        return build_tensorrt(qdq, output=tmp_path / "int8.engine", int8=True, log=print)
    if int(trt.__version__.split(".")[0]) >= 11:
        pytest.skip(
            f"TensorRT 11 builds INT8 only from a Q/DQ ONNX: set {ENV_QDQ_ONNX} (from `edgeseg quantize`)"
        )
    return build_tensorrt(
        onnx,
        output=tmp_path / "int8.engine",
        int8=True,
        calib=spec,
        calib_cache=tmp_path / "int8.cache",
        log=print,
    )


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_engine_miou_within_bound(
    real_trt, tmp_path, labelled, trained_onnx, reference_miou, record_property, precision
):
    """mIoU of the engine on the val split at most MIOU_DROP_MAX_POINTS below ONNX Runtime FP32's."""
    from edgeseg.backends.tensorrt.build import build_tensorrt

    spec, frames = labelled
    if precision == "fp16":
        res = build_tensorrt(trained_onnx, output=tmp_path / "fp16.engine", fp16=True, log=print)
    else:
        res = _int8_engine(real_trt, trained_onnx, spec, tmp_path)
    assert res.precision == precision
    got = _miou(res.path, spec, frames)
    check = miou_check(reference_miou["miou"], got["miou"])
    from edgeseg.card import card_from_onnx

    # the model's own val mIoU (from training): shows in the report whether the reference run reproduces it
    card_miou = card_from_onnx(trained_onnx).metrics.get("val_miou")
    _record(
        record_property,
        tensorrt_version=real_trt.__version__,
        precision=precision,
        dataset=got["dataset"],
        card_val_miou=card_miou,
        frames=got["frames"],
        build_path=res.path_name,
        bound_source=SOURCES["miou"],
        nonfinite_frames=got["nonfinite_frames"],
        **check,
    )
    assert got["nonfinite_frames"] == 0
    assert check["passed"], check
