"""ONNX Runtime builds of a labels-out ONNX (``edgeseg export --head labels``): FP32 (CPU rewrites
checked on the label map), FP16 and INT8 (quantize_ort_cpu) keep the head and return uint8 label maps."""

from __future__ import annotations

import numpy as np
import pytest

from edgeseg.backends.onnxruntime.build import build_onnxruntime
from edgeseg.backends.onnxruntime.runner import OrtRunner
from edgeseg.card import head_of
from edgeseg.data.preprocess import preprocess
from edgeseg.export.onnx import export_onnx


@pytest.fixture(scope="module")
def labels_onnx(tmp_path_factory):
    from _runtime_artifacts import tiny_checkpoint
    from edgeseg.train.checkpoint import load_checkpoint

    d = tmp_path_factory.mktemp("ort_heads")
    model, card, _ = load_checkpoint(tiny_checkpoint(d))
    return export_onnx(model, card, d / "labels.onnx", head="labels")


@pytest.mark.parametrize(
    "kw,agree_min",
    [({}, 1.0), ({"fp16": True}, 0.98), ({"int8": True, "calib": "synthetic:4", "calib_num": 4}, 0.9)],
)
def test_ort_builds_of_a_labels_onnx_keep_the_head(labels_onnx, tmp_path, kw, agree_min):
    from _runtime_artifacts import frames

    res = build_onnxruntime(labels_onnx, output=tmp_path / "m.ort.onnx", log=lambda s: None, **kw)
    assert res.comparison["rule"] == "labels" and "labels agree=" in res.summary()
    with OrtRunner(res.path) as built, OrtRunner(labels_onnx) as src:
        assert head_of(built.card) == "labels"
        batch = preprocess(frames(3, seed=2), built.card, size=built.input_size)
        got, ref = built.infer(batch), src.infer(batch)
    assert got.dtype == np.uint8 and got.shape == (3, 1, 64, 96)
    assert (got == ref).mean() >= agree_min
