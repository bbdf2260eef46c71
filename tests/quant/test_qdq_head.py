"""edgeseg quantize --head: the Q/DQ export ends in the same uint8 label map as the arg-max of the
logits Q/DQ export; labels-lowres cuts the traced graph before its final interpolate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgeseg.card import card_from_onnx
from edgeseg.cli import main
from edgeseg.errors import QuantizationError

ARGS = ["--calib", "synthetic:4", "--calib-num", "4", "--bias-correction", "none", "--no-progress"]


@pytest.fixture(scope="module")
def qdq(tmp_path_factory, trained_ckpt):
    d = tmp_path_factory.mktemp("qdq_heads")
    for head in ("logits", "labels", "labels-lowres"):
        assert (
            main(["quantize", str(trained_ckpt), *ARGS, "-o", str(d / f"{head}.onnx"), "--head", head]) == 0
        )
    return d


def _run(path, batch):
    from edgeseg.backends.onnxruntime.runner import OrtRunner

    with OrtRunner(path) as r:
        assert r.precision == "int8"
        return r.infer(batch)


def test_qdq_labels_head_is_the_argmax_of_the_qdq_logits(qdq, val_batch):
    batch = val_batch[0]
    logits, labels = _run(qdq / "logits.onnx", batch), _run(qdq / "labels.onnx", batch)
    assert labels.dtype == np.uint8 and labels.shape == (len(batch), 1, *batch.shape[2:])
    np.testing.assert_array_equal(labels[:, 0], logits.argmax(1))
    low = _run(qdq / "labels-lowres.onnx", batch)
    assert low.dtype == np.uint8 and (low == labels).mean() >= 0.85  # the bound test_head.py states
    assert [
        card_from_onnx(qdq / f"{h}.onnx").extra["head"] for h in ("logits", "labels", "labels-lowres")
    ] == ["logits", "labels", "labels-lowres"]


def test_lowres_graph_is_the_traced_model_before_its_final_resize(trained_ckpt):
    from edgeseg.quant.placement import prepare
    from edgeseg.quant.qdq_head import lowres_graph
    from edgeseg.train.checkpoint import load_checkpoint

    model, _, _ = load_checkpoint(trained_ckpt)
    from edgeseg.quant.fakequant import set_mode

    gm, _ = prepare(model)
    set_mode(gm, "off")  # activation quantizers pass through (no calibration needed for this check)
    low = lowres_graph(gm)
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        small, full = low(x), gm(x)
    assert small.shape == (2, 11, 8, 12)
    torch.testing.assert_close(
        F.interpolate(small, size=(64, 96), mode="bilinear", align_corners=False), full
    )
    plain = torch.fx.symbolic_trace(torch.nn.Conv2d(3, 11, 1))  # ends in its conv, not in a resize
    with pytest.raises(
        QuantizationError, match="does not end in an interpolate of the logits; use --head labels"
    ):
        lowres_graph(plain)


def test_head_is_refused_for_ort_cpu(trained_ckpt, tmp_path, capsys):
    assert (
        main(
            [
                "quantize",
                str(trained_ckpt),
                "--method",
                "ort-cpu",
                "--calib",
                "synthetic:4",
                "--head",
                "labels",
                "-o",
                str(tmp_path / "x.onnx"),
            ]
        )
        == 2
    )
    assert "--method ort-cpu does not use --head (only ptq/qat)" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
