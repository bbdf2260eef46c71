"""benchmarks/ptq_peers.py's fidelity columns: rows compared with the FP32 row's own predictions."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ptq_peers.py"


@pytest.fixture(scope="module")
def peers():
    spec = importlib.util.spec_from_file_location("ptq_peers", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _Card:
    num_classes = 3


class _Runner:
    card, input_size = _Card(), (2, 4)

    def __init__(self, logits):
        self.logits = logits

    def infer(self, batch):
        return self.logits


def test_recorder_keeps_argmax_and_returns_logits(peers):
    logits = np.zeros((1, 3, 2, 4), np.float32)
    logits[0, 2, :, 1:] = 1.0
    rec = peers._Recorder(_Runner(logits))
    assert rec.infer(np.zeros((1, 3, 2, 4), np.float32)) is logits and rec.input_size == (2, 4)
    np.testing.assert_array_equal(rec.preds[0], [[[0, 2, 2, 2], [0, 2, 2, 2]]])


def test_fidelity_counts_disagreeing_pixels(peers):
    ref = [np.array([[[0, 1, 2, 2]]], np.uint8), np.array([[[1, 1, 0, 0]]], np.uint8)]
    same = peers.fidelity([r.copy() for r in ref], ref, 3)
    assert same == {"pixel_agreement": 1.0, "miou": 1.0}
    off = [ref[0].copy(), ref[1].copy()]
    off[1][0, 0, 0] = 0  # one of 8 pixels moved from class 1 to class 0
    f = peers.fidelity(off, ref, 3)
    assert f["pixel_agreement"] == pytest.approx(7 / 8) and f["miou"] < 1.0
    with pytest.raises(ValueError, match="1 predictions against 2"):
        peers.fidelity(off[:1], ref, 3)
