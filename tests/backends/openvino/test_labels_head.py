"""OpenVINO builds of a labels-out ONNX (``edgeseg export --head labels|labels-lowres``): the IR ends in
the same uint8 label map, its card keeps the head, the runner returns label maps, and the build's parity
check compares labels (a reference whose labels differ fails the build; nothing is written)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openvino")

from _openvino_helpers import A, cli  # noqa: E402
from edgeseg.backends.onnxruntime.runner import OrtRunner  # noqa: E402
from edgeseg.backends.openvino.build import build_openvino  # noqa: E402
from edgeseg.backends.openvino.runner import OpenVinoRunner  # noqa: E402
from edgeseg.card import head_of  # noqa: E402
from edgeseg.data.preprocess import preprocess  # noqa: E402
from edgeseg.errors import BuildError  # noqa: E402


@pytest.fixture(scope="module")
def labels_onnx(tmp_path_factory):
    d = tmp_path_factory.mktemp("ov_heads")
    ckpt = A.tiny_checkpoint(d)
    out = {}
    for head in ("labels", "labels-lowres"):
        code, _, err = cli(["export", ckpt, "-o", d / f"{head}.onnx", "--head", head])
        assert code == 0, err
        out[head] = d / f"{head}.onnx"
    return out


@pytest.mark.parametrize("head", ["labels", "labels-lowres"])
def test_ir_of_a_labels_onnx_gives_the_same_label_maps(labels_onnx, tmp_path, head):
    res = build_openvino(labels_onnx[head], output=tmp_path / "m.xml", log=lambda s: None)
    assert res.comparison["rule"] == "labels" and res.comparison["argmax_agreement"] == 1.0
    assert "vs source on 2 synthetic scenes: labels agree=100.00%" in res.summary()
    frames = A.frames(3, seed=7)
    with OpenVinoRunner(tmp_path / "m.xml") as ov_r, OrtRunner(labels_onnx[head]) as ort_r:
        assert head_of(ov_r.card) == head
        batch = preprocess(frames, ov_r.card, size=ov_r.input_size)
        got, ref = ov_r.infer(batch), ort_r.infer(batch)
    assert got.dtype == np.uint8 and got.shape == (3, 1, 64, 96)
    assert (got == ref).mean() >= 0.999 and len(np.unique(got)) > 1


def test_labels_parity_failure_fails_the_build(labels_onnx, tmp_path, monkeypatch):
    """ONNX Runtime's labels (the reference) moved to the next class on a third of the rows: the IR's
    labels agree on ~2/3 of the pixels, below the export tolerance's 99.9 %."""
    real_infer = OrtRunner.infer

    def shifted(self, batch):
        labels = real_infer(self, batch).copy()
        labels[:, :, ::3] = (labels[:, :, ::3] + 1) % 11
        return labels

    monkeypatch.setattr(OrtRunner, "infer", shifted)
    with pytest.raises(
        BuildError,
        match=r"does not match ONNX Runtime on labels\.onnx: labels agree=6\d\.\d\d% -- FAILED: "
        r"label agreement 6\d\.\d\d% is below 99\.90%; nothing written",
    ):
        build_openvino(labels_onnx["labels"], output=tmp_path / "m.xml", log=lambda s: None)
    assert list(tmp_path.iterdir()) == []
