"""edgeseg export --head labels|labels-lowres: a uint8 label map out of the graph, used as it is by
eval / predict (segment) and ONNX Runtime; the card says the head; backends that cannot build it refuse.

Planted faults (each check below fails with it; see the commit message): the full-res head taking the
low-res path, the low-res labels shifted by one cell, ``logits_to_labels`` taking an arg-max of labels,
the ONNX Runtime runner returning label maps as float32."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgeseg.backends.onnxruntime.runner import OrtRunner
from edgeseg.card import card_from_onnx, head_of
from edgeseg.cli import main
from edgeseg.data.preprocess import preprocess
from edgeseg.errors import BuildError, EdgesegError

HEADS = ("logits", "labels", "labels-lowres")
#: Pixel agreement of the low-res head with the full-res arg-max, stated for the tiny random model on
#: noisy block frames (measured 0.888 on 4 frames): its 8x12 low-res label map changes class almost
#: every cell, so most pixels are near a boundary. A trained model on street scenes agrees far more;
#: the exact property is the boundary one in test_lowres_head_differs_only_next_to_lowres_class_changes.
LOWRES_AGREE_MIN = 0.85


@pytest.fixture(scope="module")
def exports(tmp_path_factory, tiny_ckpt):
    """The tiny checkpoint exported with each head (CLI, default parity)."""
    d = tmp_path_factory.mktemp("heads")
    out = {}
    for head in HEADS:
        path = d / f"{head}.onnx"
        assert main(["export", str(tiny_ckpt), "-o", str(path), "--head", head]) == 0
        out[head] = path
    return out


def _run(path, frames):
    with OrtRunner(path) as r:
        return r.infer(preprocess(frames, r.card, size=r.input_size))


def test_labels_head_is_exactly_the_argmax_of_the_logits_export(exports, arts):
    frames = arts.frames(4, seed=3)
    logits, labels = _run(exports["logits"], frames), _run(exports["labels"], frames)
    assert logits.dtype == np.float32 and logits.shape == (4, 11, 64, 96)
    assert labels.dtype == np.uint8 and labels.shape == (4, 1, 64, 96)
    np.testing.assert_array_equal(labels[:, 0], logits.argmax(1))


def test_lowres_head_differs_only_next_to_lowres_class_changes(exports, arts, tiny_ckpt):
    """The low-res head is the nearest upscale of the arg-max of ``forward_lowres`` (exactly), and where it
    differs from the full-res arg-max a low-res neighbour has another class: a bilinear blend of logits
    that all pick class c picks c, so it can differ nowhere else."""
    from edgeseg.train.checkpoint import load_checkpoint

    frames = arts.frames(4, seed=3)
    full = _run(exports["logits"], frames).argmax(1)
    low = _run(exports["labels-lowres"], frames)[:, 0]
    model, card, _ = load_checkpoint(tiny_ckpt)
    with torch.no_grad():
        small = (
            model.eval()
            .forward_lowres(torch.from_numpy(preprocess(frames, card, size=(64, 96))))
            .argmax(1)
            .numpy()
        )
    assert small.shape == (4, 8, 12)
    np.testing.assert_array_equal(low, small.repeat(8, 1).repeat(8, 2))
    padded = np.pad(small, ((0, 0), (1, 1), (1, 1)), mode="edge")
    mixed = np.zeros_like(small, bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            mixed |= padded[:, dy : dy + 8, dx : dx + 12] != small
    near_change = mixed.repeat(8, 1).repeat(8, 2)
    differ = low != full
    assert differ.any() and not (differ & ~near_change).any()
    assert (low == full).mean() >= LOWRES_AGREE_MIN


def test_the_card_and_the_line_say_the_head(exports, tiny_ckpt, tmp_path, capsys):
    assert {h: head_of(card_from_onnx(p)) for h, p in exports.items()} == {h: h for h in HEADS}
    assert card_from_onnx(exports["labels"]).extra["head"] == "labels"
    path = tmp_path / "l.onnx"
    capsys.readouterr()
    assert main(["export", str(tiny_ckpt), "-o", str(path), "--head", "labels-lowres", "--dynamic"]) == 0
    line = capsys.readouterr().out
    assert (
        ", head labels-lowres," in line
        and "parity: labels agree=100.00%" in line
        and "also at 32x48: labels agree=" in line
    )
    with OrtRunner(path) as r:  # dynamic: any size, labels at that size
        assert r.infer(np.zeros((2, 3, 40, 56), np.float32)).shape == (2, 1, 40, 56)


def test_eval_of_a_labels_artifact_gives_the_logits_artifact_miou(exports, tmp_path, capsys):
    got = {}
    for head in ("logits", "labels"):
        out = tmp_path / f"{head}.json"
        assert (
            main(["eval", str(exports[head]), "--data", "synthetic:3", "--no-progress", "--json", str(out)])
            == 0
        )
        got[head] = json.loads(out.read_text())
    capsys.readouterr()
    assert got["labels"]["miou"] == got["logits"]["miou"] and got["labels"]["frames"] == 3
    assert got["labels"]["per_class_iou"] == got["logits"]["per_class_iou"]
    assert 0 < got["labels"]["pixel_accuracy"] < 1  # not a constant map


def test_predict_takes_a_labels_artifact(exports, arts, tmp_path, capsys):
    import cv2

    img = tmp_path / "odd.png"
    cv2.imwrite(
        str(img), arts.frames(1, (50, 70), seed=6)[0]
    )  # not the artifact's size: labels resized (nearest)
    masks = {}
    for head in ("logits", "labels"):
        assert main(["predict", str(exports[head]), str(img), "-o", str(tmp_path / head), "--no-legend"]) == 0
        masks[head] = cv2.imread(str(tmp_path / head / "odd_mask.png"))
    capsys.readouterr()
    assert masks["labels"].shape == (50, 70, 3)
    np.testing.assert_array_equal(masks["labels"], masks["logits"])
    assert len({tuple(c) for c in masks["labels"].reshape(-1, 3)}) > 1


def test_logits_to_labels_takes_label_maps_and_refuses_other_integer_arrays():
    from edgeseg.segment import logits_to_labels

    lab = np.array([[[[0, 3], [10, 1]]]], np.uint8)
    np.testing.assert_array_equal(logits_to_labels(lab)[0], lab[0, 0])
    np.testing.assert_array_equal(logits_to_labels(lab, (4, 4))[0], lab[0, 0].repeat(2, 0).repeat(2, 1))
    with pytest.raises(EdgesegError, match=r"or a label map \(N, 1, H, W\), found uint8 \(1, 2, 2, 2\)"):
        logits_to_labels(np.zeros((1, 2, 2, 2), np.uint8))


@pytest.mark.parametrize(
    "backend,converter", [("coreml", "coremltools"), ("executorch", "ExecuTorch (torch.export)")]
)
def test_pytorch_converting_backends_refuse_a_labels_export(exports, backend, converter):
    from edgeseg.backends._checkpoint import find_checkpoint

    with pytest.raises(
        BuildError,
        match=f"labels.onnx ends in a labels head: --backend {backend} builds logits "
        r"artifacts only \(.*\); build it from an export with --head logits",
    ):
        find_checkpoint(exports["labels"], backend=backend, converter=converter)


def test_tensorrt_refuses_a_labels_export_in_one_line(exports, capsys):
    assert main(["build", str(exports["labels-lowres"]), "--backend", "tensorrt"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(
        "labels-lowres.onnx ends in a labels-lowres head: --backend tensorrt builds logits artifacts "
        "only (its engine card, bindings and checks read float logits); build it from an export "
        "with --head logits"
    )


def test_bad_head_is_refused_before_work(tiny_ckpt, tmp_path, capsys):
    from edgeseg.backends import open_runner
    from edgeseg.export import export_checkpoint
    from edgeseg.export.head import with_head

    with pytest.raises(SystemExit):
        main(["export", str(tiny_ckpt), "-o", str(tmp_path / "x.onnx"), "--head", "probs"])
    assert "invalid choice: 'probs'" in capsys.readouterr().err
    with pytest.raises(EdgesegError, match="head 'probs': expected one of logits, labels, labels-lowres"):
        export_checkpoint(tiny_ckpt, output=tmp_path / "x.onnx", head="probs", open_onnx=open_runner)
    with pytest.raises(EdgesegError, match="--head labels-lowres: 'plain' has no forward_lowres"):
        with_head(torch.nn.Conv2d(3, 11, 1), "labels-lowres", arch="'plain'")
    assert not list(tmp_path.iterdir())


def test_the_python_api_segments_with_a_labels_artifact_and_refuses_logits(exports, arts):
    import edgeseg

    frame = arts.frames(1, seed=4)[0]
    with edgeseg.load(exports["labels"]) as m, edgeseg.load(exports["logits"]) as ref:
        got, want = m.predict(frame, color="bgr"), ref.predict(frame, color="bgr")
        np.testing.assert_array_equal(got.labels, want.labels)
        with pytest.raises(
            EdgesegError,
            match=r"logits=True: .*labels\.onnx ends in a labels head \(a uint8 label map, "
            r"no logits\); use a model exported with --head logits",
        ):
            m.predict(frame, logits=True)
