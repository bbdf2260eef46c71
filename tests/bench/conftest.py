"""Tiny CGNet artifacts (m=2, n=3, 64x96) shared by the bench tests: a checkpoint and its ONNX."""

from __future__ import annotations

from pathlib import Path

import pytest

SIZE = (64, 96)


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory) -> dict[str, Path]:
    import torch

    from edgeseg.card import ModelCard
    from edgeseg.data.datasets import CAMVID
    from edgeseg.export.onnx import export_onnx
    from edgeseg.models import build_model
    from edgeseg.train.checkpoint import save_checkpoint

    d = tmp_path_factory.mktemp("bench_artifacts")
    torch.manual_seed(0)
    model = build_model("cgnet", num_classes=CAMVID.num_classes, m=2, n=3).eval()
    card = ModelCard(
        arch="cgnet",
        num_classes=CAMVID.num_classes,
        class_names=CAMVID.class_names,
        palette=CAMVID.palette,
        arch_args={"m": 2, "n": 3},
        ignore_index=CAMVID.ignore_index,
        input_size=SIZE,
    )
    pt = save_checkpoint(d / "tiny.pt", model=model, card=card)
    onnx_path = export_onnx(model, card, d / "tiny.onnx", size=SIZE)
    corrupt = d / "corrupt.onnx"
    corrupt.write_bytes(onnx_path.read_bytes()[:5000])
    return {
        "pt": pt,
        "onnx": onnx_path,
        "corrupt": corrupt,
        "dir": d,
        "params": sum(p.numel() for p in model.parameters()),
    }
