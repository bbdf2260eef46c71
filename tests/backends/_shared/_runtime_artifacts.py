"""Tiny artifacts for runner tests: a CGNet-family checkpoint (m=2, n=3, 11 CamVid classes, 64x96)
with non-degenerate logits, and its ONNX. Shared by tests/backends and tests/export."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIZE = (64, 96)
NUM_CLASSES = 11


def tiny_card():
    from edgeseg.card import ModelCard
    from edgeseg.data.datasets import CAMVID

    return ModelCard(
        arch="cgnet",
        arch_args={"m": 2, "n": 3},
        num_classes=NUM_CLASSES,
        class_names=CAMVID.class_names,
        palette=CAMVID.palette,
        ignore_index=CAMVID.ignore_index,
        input_size=SIZE,
    )


def tiny_model(seed: int = 0):
    """CGNet m=2 n=3 with randomised BatchNorm statistics and a scaled classifier: a fresh model's
    logits are ~1e-4 and half its pixels are ties, which would make agreement tests meaningless."""
    import torch

    from edgeseg.models import build_model

    torch.manual_seed(seed)
    model = build_model("cgnet", num_classes=NUM_CLASSES, m=2, n=3).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                n = mod.num_features
                mod.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                mod.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.05)
                mod.weight.copy_(torch.rand(n, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(n, generator=g) * 0.3)
        model.classifier[-1].weight.mul_(20.0)
    return model


def tiny_checkpoint(folder: Path) -> Path:
    """``folder/tiny.pt`` (written once, reused)."""
    from edgeseg.train.checkpoint import save_checkpoint

    path = Path(folder) / "tiny.pt"
    if not path.is_file():
        save_checkpoint(path, model=tiny_model(), card=tiny_card())
    return path


def tiny_onnx(folder: Path, *, dynamic: bool = False, name: str | None = None) -> Path:
    """The tiny checkpoint's ONNX (static 1x3x64x96, or dynamic batch/H/W), written once."""
    from edgeseg.export.onnx import export_onnx
    from edgeseg.train.checkpoint import load_checkpoint

    path = Path(folder) / (name or ("tiny_dynamic.onnx" if dynamic else "tiny.onnx"))
    if not path.is_file():
        model, card, _ = load_checkpoint(tiny_checkpoint(folder))
        export_onnx(model, card, path, dynamic=dynamic)
    return path


def frames(n: int, size: tuple[int, int] = SIZE, seed: int = 0) -> list[np.ndarray]:
    """``n`` BGR uint8 frames with some structure (blocks of colour plus noise)."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        small = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
        img = cv2.resize(small, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
        noise = rng.integers(-15, 16, img.shape)
        out.append(np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    return out
