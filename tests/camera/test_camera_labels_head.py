"""``edgeseg camera`` on a labels-out ONNX (``edgeseg export --head labels``): the loop runs it, and the
renderer draws the label map as it is (no arg-max of labels), resized to the frame (nearest)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from camera_media import N_FRAMES, scene
from edgeseg.cli import main


def _artifacts():
    name = "_edgeseg_runtime_test_artifacts"  # the module tests/backends and tests/export load
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "backends" / "_shared" / "_runtime_artifacts.py"
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("camera_heads")
    ckpt = _artifacts().tiny_checkpoint(d)  # 64x96, logits far from ties
    for head in ("logits", "labels"):
        assert main(["export", str(ckpt), "-o", str(d / f"{head}.onnx"), "--head", head]) == 0
    return d


def test_camera_command_runs_a_labels_artifact(exported, clip, tmp_path, capsys):
    stats = tmp_path / "stats.json"
    rc = main(
        [
            "camera",
            str(exported / "labels.onnx"),
            "--source",
            str(clip),
            "--headless",
            "--threads",
            "1",
            "--stats",
            str(stats),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert f"captured {N_FRAMES}, inferred {N_FRAMES}, dropped 0, corrupt 0" in capsys.readouterr().out
    d = json.loads(stats.read_text())
    assert (
        d["backend"] == "onnxruntime"
        and d["frames"]["inferred"] == N_FRAMES
        and d["frames"]["nonfinite"] == 0
    )


def test_renderer_draws_the_label_map_as_the_logits_artifact_does(exported):
    from edgeseg.backends import open_runner
    from edgeseg.camera.render import Renderer
    from edgeseg.data.preprocess import preprocess

    frame = scene(3)
    big = np.repeat(np.repeat(frame, 2, 0), 2, 1)  # the frame at twice the artifact's size: labels resized
    got = {}
    for head in ("logits", "labels"):
        with open_runner(exported / f"{head}.onnx") as r:
            out = r.infer(preprocess([frame], r.card, size=r.input_size))
            got[head] = Renderer(r.card).labels(out, big.shape[:2])
    assert got["labels"].dtype == np.uint8 and got["labels"].shape == big.shape[:2]
    np.testing.assert_array_equal(got["labels"], got["logits"])
    assert len(np.unique(got["labels"])) > 1
