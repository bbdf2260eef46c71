"""Core ML builds: ML Program .mlpackage from the checkpoint (or an ONNX with it beside), FP16 compute,
INT8 weights on request, card in metadata; spec validation runs here, prediction needs macOS."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

pytest.importorskip("coremltools")

from edgeseg.backends.coreml.build import (
    CLASSES_KEY,
    METADATA_KEY,
    build_coreml,
    find_checkpoint,
    validate_package,
)  # noqa: E402
from edgeseg.card import ModelCard, read_sidecar  # noqa: E402
from edgeseg.errors import BuildError, EdgesegError  # noqa: E402


@pytest.fixture(scope="module")
def packages(tiny_models, tmp_path_factory):
    """FP16 and INT8-weight packages of the tiny model (built once: conversion takes seconds)."""
    out = tmp_path_factory.mktemp("coreml")
    fp16 = build_coreml(tiny_models.pt, output=out / "tiny.mlpackage", log=lambda s: None)
    int8 = build_coreml(tiny_models.onnx, output=out / "tiny_int8.mlpackage", int8=True, log=lambda s: None)
    return fp16, int8


def test_fp16_package_spec(packages, tiny_models):
    res, _ = packages
    assert res.path.is_dir() and res.path.suffix == ".mlpackage" and res.precision == "fp16"
    info = validate_package(res.path, card=res.card)
    card = ModelCard.from_json(info["metadata"][METADATA_KEY])
    assert card == res.card == read_sidecar(res.path)
    assert card.class_names == tiny_models.card.class_names and card.input_size == (64, 96)
    assert info["metadata"][CLASSES_KEY].split(",") == list(tiny_models.card.class_names)
    assert card.extra["backend"] == "coreml" and card.extra["compute_precision"] == "fp16"
    assert card.extra["weights"] == "fp16" and card.source.startswith("tiny.pt@sha256:")
    ops = info["ops"]
    assert ops.get("conv", 0) >= 10 and ops.get("cast", 0) >= 2  # fp32 IO cast to/from the fp16 program
    assert not any(op.startswith("constexpr") for op in ops)
    assert res.size_bytes > 0 and "FP16 compute" in res.summary()


def test_int8_weights_from_the_onnx_sibling_checkpoint(packages):
    fp16, res = packages
    info = validate_package(res.path, card=res.card)
    assert any(op.startswith("constexpr") for op in info["ops"])  # quantized weights are dequantized in-graph
    assert res.card.extra["weights"] == "int8" and "INT8 weights" in res.path_name
    assert res.size_bytes < fp16.size_bytes


def test_find_checkpoint(tmp_path, tiny_models):
    ckpt, size, used = find_checkpoint(tiny_models.onnx)
    assert ckpt == tiny_models.pt and size == (64, 96) and "named by tiny.onnx" in used
    lone = tmp_path / "lone.onnx"
    shutil.copy(tiny_models.onnx, lone)
    with pytest.raises(BuildError, match="not beside it.*pass the checkpoint"):
        find_checkpoint(lone)
    shutil.copy(tiny_models.pt, tmp_path / "tiny.pt")
    with open(tmp_path / "tiny.pt", "ab") as f:
        f.write(b"changed")
    with pytest.raises(BuildError, match="sha256 differs"):
        find_checkpoint(lone)
    with pytest.raises(BuildError, match=".pt checkpoint or an edgeseg .onnx"):
        find_checkpoint(_touch(tmp_path / "m.tflite"))


def _touch(p):
    p.write_bytes(b"x")
    return p


def test_failed_conversion_keeps_the_old_package_and_leaves_no_temp(
    packages, tmp_path, tiny_models, monkeypatch
):
    import coremltools as ct

    res, _ = packages
    target = tmp_path / "keep.mlpackage"
    shutil.copytree(res.path, target)
    before = sorted(p.name for p in target.rglob("*"))

    def boom(*a, **k):
        raise RuntimeError("unsupported op")

    monkeypatch.setattr(ct, "convert", boom)
    with pytest.raises(BuildError, match="Core ML conversion of 'cgnet' failed: unsupported op"):
        build_coreml(tiny_models.pt, output=target, log=lambda s: None)
    assert sorted(p.name for p in target.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mlpackage"]


def test_bad_target_and_suffix(tmp_path, tiny_models):
    with pytest.raises(BuildError, match="iOS16/macOS13 or newer"):
        build_coreml(tiny_models.pt, output=tmp_path / "m.mlpackage", min_target="iOS15", log=lambda s: None)
    with pytest.raises(BuildError, match="must end in .mlpackage"):
        build_coreml(tiny_models.pt, output=tmp_path / "m.mlmodel", log=lambda s: None)


@pytest.mark.skipif(sys.platform == "darwin", reason="on macOS the runner predicts")
def test_runner_refuses_off_macos(packages):
    from edgeseg.backends import open_runner

    res, _ = packages
    with pytest.raises(EdgesegError, match="Core ML prediction needs macOS.*package itself is fine"):
        open_runner(res.path)


@pytest.mark.coreml
@pytest.mark.skipif(sys.platform != "darwin", reason="Core ML prediction needs macOS")
def test_prediction_matches_torch(packages, tiny_models):
    import torch

    from edgeseg.backends.coreml.runner import CoreMLRunner

    res, int8 = packages
    x = np.random.default_rng(0).normal(size=(2, 3, 64, 96)).astype(np.float32)
    with torch.no_grad():
        ref = tiny_models.model(torch.from_numpy(x)).numpy()
    for pkg in (res, int8):
        with CoreMLRunner(pkg.path) as r:
            y = r.infer(x)
        assert y.shape == ref.shape and np.isfinite(y).all()
        scale = float(np.abs(ref).max())
        assert np.abs(y - ref).max() <= 2e-2 * scale + 1e-3
        assert (y.argmax(1) == ref.argmax(1)).mean() > 0.9


def test_rebuild_replaces_an_existing_package(packages, tmp_path, tiny_models):
    res, _ = packages
    target = tmp_path / "again.mlpackage"
    shutil.copytree(res.path, target)
    (target / "stale.txt").write_text("from an older build")
    new = build_coreml(tiny_models.pt, output=target, int8=True, log=lambda s: None)
    assert not (target / "stale.txt").exists() and new.card.extra["weights"] == "int8"
    assert validate_package(target, card=new.card)["metadata"][METADATA_KEY] == new.card.to_json()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.mlpackage", "again.mlpackage.card.json"]
