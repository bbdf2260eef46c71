"""In-worker measurement helpers, with a fake runner (no model needed)."""

import numpy as np
import pytest

from edgeseg.bench.measure import check_logits, evaluate_miou, latency_entry, quantization_label
from edgeseg.card import ModelCard
from edgeseg.data.datasets import CAMVID, DatasetInfo

CARD = ModelCard(
    arch="cgnet",
    num_classes=3,
    class_names=("a", "b", "c"),
    palette=((0, 0, 0), (1, 1, 1), (2, 2, 2)),
    ignore_index=3,
    input_size=(8, 12),
)


class ConstRunner:
    """Predicts class ``k`` everywhere, at whatever size it is given."""

    backend, precision, input_size = "fake", "fp32", None

    def __init__(self, k, card=CARD):
        self.k, self.card, self.calls = k, card, 0

    def infer(self, x):
        self.calls += 1
        out = np.zeros((x.shape[0], self.card.num_classes, x.shape[2], x.shape[3]), np.float32)
        out[:, self.k] = 1.0
        return out


class TinySet:
    info = DatasetInfo("t", ("a", "b", "c"), ((0, 0, 0), (1, 1, 1), (2, 2, 2)), 3)
    description = "tiny"

    def __init__(self):
        lab = np.zeros((16, 24), np.uint8)
        lab[:, 12:] = 1
        lab[:4] = 3  # ignored
        self.items = [(np.full((16, 24, 3), 100, np.uint8), lab)] * 2

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_miou_by_hand():
    # class 0 everywhere: IoU(a) = 144 / 288, IoU(b) = 0, c absent from labels and predictions (None)
    res = evaluate_miou(ConstRunner(0), TinySet(), size=(8, 12))
    assert res["per_class_iou"] == {"a": 0.5, "b": 0.0, "c": None}
    assert res["miou"] == pytest.approx(0.25)
    assert res["frames"] == 2 and res["pixels"] == 2 * 12 * 24 and res["nonfinite_frames"] == 0
    assert evaluate_miou(ConstRunner(0), TinySet(), size=(8, 12), max_frames=1)["frames"] == 1


def test_class_count_mismatch_is_an_error():
    from edgeseg.errors import EdgesegError

    card = CARD.replace(
        num_classes=11, class_names=CAMVID.class_names, palette=CAMVID.palette, ignore_index=11
    )
    with pytest.raises(EdgesegError, match="11 classes but the dataset has 3"):
        evaluate_miou(ConstRunner(0, card), TinySet(), size=(8, 12))


def test_latency_entry_and_output_checks():
    r = ConstRunner(1)
    e = latency_entry(r, batch=2, size=(8, 12), warmup=2, runs=5)
    assert r.calls == 7 and len(e["timings_ms"]) == 5 and e["output_problem"] is None
    assert e["latency_ms"]["p50"] <= e["latency_ms"]["p99"]
    bad = np.zeros((1, 3, 8, 12), np.float32)
    bad[0, 0, 0, 0] = np.nan
    assert "non-finite" in check_logits(bad, batch=1, num_classes=3, size=(8, 12))
    assert "shape" in check_logits(bad, batch=1, num_classes=3, size=(8, 16))


def test_quantization_labels_from_cards():
    assert quantization_label(CARD) is None
    ptq = CARD.replace(precision="int8", extra={"flavour": "tensorrt-qdq", "quantization": {"scheme": "sym"}})
    qat = CARD.replace(
        precision="int8", extra={"flavour": "tensorrt-qdq", "quantization": {"qat": {"epochs": 1}}}
    )
    cpu = CARD.replace(
        precision="int8", extra={"flavour": "onnxruntime-cpu", "quantization": {"format": "QDQ"}}
    )
    assert quantization_label(ptq) == "ptq tensorrt-qdq"
    assert quantization_label(qat) == "qat tensorrt-qdq"
    assert quantization_label(cpu) == "ptq onnxruntime-cpu"
    et = {"flavour": "xnnpack-pt2e", "quantization": {"weights_from": "FP32 checkpoint"}}
    assert quantization_label(CARD.replace(precision="int8", extra=et)) == "ptq xnnpack-pt2e"
    et["quantization"] = {
        "weights_from": "QAT checkpoint (fake-quant trained weights; activation ranges calibrated again)"
    }
    assert quantization_label(CARD.replace(precision="int8", extra=et)) == "qat xnnpack-pt2e"
