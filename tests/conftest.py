"""Shared fixtures: a tiny CamVid-layout dataset written to a temp folder, and a tiny model card."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def write_pairs(
    root: Path, n: int = 6, size: tuple[int, int] = (48, 64), split: str = "train", seed: int = 0
) -> Path:
    """Write ``n`` learnable image/label pairs in CamVid layout (``split``/, ``split``annot/,
    ``split``.txt)."""
    import cv2

    from edgeseg.data.datasets import CAMVID_PALETTE

    rng = np.random.default_rng(seed)
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / f"{split}annot").mkdir(parents=True, exist_ok=True)
    lines = []
    h, w = size
    for i in range(n):
        lab = np.zeros((h, w), np.uint8)  # sky
        lab[h // 3 :] = 1  # building
        lab[2 * h // 3 :] = 3  # road
        x0 = int(rng.integers(0, w // 2))
        lab[h // 2 : h - 2, x0 : x0 + w // 4] = 8  # car
        lab[0, 0] = 11  # an ignore pixel
        img = np.array([CAMVID_PALETTE[c][::-1] if c < 11 else (0, 0, 0) for c in range(12)], np.uint8)[lab]
        img = np.clip(img.astype(np.int16) + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)
        name = f"f{i:03d}.png"
        cv2.imwrite(str(root / split / name), img)
        cv2.imwrite(str(root / f"{split}annot" / name), lab)
        lines.append(f"{split}/{name} {split}annot/{name}")
    (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def png_header_only(path: Path, w: int, h: int) -> Path:
    """A PNG whose header claims ``w`` x ``h`` pixels but holds no pixel data (size checks before
    decoding)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="session")
def media():
    """The test-media writers above, for test folders that cannot import this conftest."""
    from types import SimpleNamespace

    return SimpleNamespace(write_pairs=write_pairs, png_header_only=png_header_only)


@pytest.fixture(scope="session")
def load_script():
    """Import ``scripts/<name>.py`` as a module (the scripts are not a package)."""
    import importlib.util

    def load(name: str):
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
        )
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    return load


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One torch thread per test process: on a shared 2-core machine oversubscription makes tests ~30x
    slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_camvid(tmp_path: Path) -> Path:
    """A CamVid-layout folder with 6 train and 2 val pairs of 48x64."""
    root = tmp_path / "camvid"
    write_pairs(root, 6, split="train", seed=0)
    write_pairs(root, 2, split="val", seed=1)
    return root


@pytest.fixture
def camvid_card():
    from edgeseg.card import ModelCard
    from edgeseg.data.datasets import CAMVID

    return ModelCard(
        arch="cgnet",
        arch_args={"m": 2, "n": 3},
        num_classes=11,
        class_names=CAMVID.class_names,
        palette=CAMVID.palette,
        ignore_index=CAMVID.ignore_index,
        input_size=(48, 64),
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Write the running test's id to $EDGESEG_TEST_TRAIL (scripts/test.sh sets it), so a test that
    kills the process with a signal is named in the log: a native crash prints no pytest report."""
    import os

    trail = os.environ.get("EDGESEG_TEST_TRAIL")
    if trail:
        with open(trail, "w", encoding="utf-8") as f:
            f.write(item.nodeid + "\n")
    yield
