"""Helpers that build tiny good artifacts and plant faults in them (the ``plant`` fixture)."""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

FAKES = Path(__file__).resolve().parents[1] / "fakes"

#: The tiny training every train row uses (1 thread, CPU, 2 steps per epoch on 4 synthetic scenes).
TRAIN_ARGS = (
    "--data",
    "synthetic:4",
    "--synthetic-size",
    "32x48",
    "--crop",
    "32x48",
    "--batch",
    "2",
    "--device",
    "cpu",
    "--arch-arg",
    "m=2",
    "--arch-arg",
    "n=3",
    "--threads",
    "1",
    "--no-progress",
)


class CarriesCode:
    """Unpickling this runs a shell command: weights_only loading must refuse it."""

    def __reduce__(self):
        import os

        return (os.system, ("true",))


@dataclass(frozen=True)
class Artifacts:
    """Good tiny artifacts shared by all rows (never modified by a row: copy first)."""

    root: Path
    ckpt: Path  # tiny CGNet (m=2, n=3), 11 classes, card input 64x96
    onnx: Path  # its ONNX export, with the card
    camvid: Path  # CamVid-layout folder, val split of 3 pairs 48x64
    image: Path  # one good 48x64 PNG


def tiny_card():
    """The card of the tiny CGNet: 11 CamVid classes, input 64x96."""
    from edgeseg.card import ModelCard
    from edgeseg.data.datasets import CAMVID

    return ModelCard(
        arch="cgnet",
        arch_args={"m": 2, "n": 3},
        num_classes=11,
        class_names=CAMVID.class_names,
        palette=CAMVID.palette,
        ignore_index=11,
        input_size=(64, 96),
    )


def build_artifacts(root: Path, *, write_pairs) -> Artifacts:
    """``write_pairs``: the root conftest's CamVid-layout writer (the ``media`` fixture)."""
    import torch

    from edgeseg.export.onnx import export_onnx
    from edgeseg.models import build_model
    from edgeseg.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model("cgnet", num_classes=11, m=2, n=3).eval()
    card = tiny_card()
    ckpt = root / "tiny.pt"
    save_checkpoint(ckpt, model=model, card=card)
    onnx = root / "tiny.onnx"
    export_onnx(model, card, onnx)
    camvid = write_pairs(root / "camvid", 3, split="val")
    return Artifacts(root=root, ckpt=ckpt, onnx=onnx, camvid=camvid, image=camvid / "val" / "f000.png")


def copy_run(run: Path, dst: Path) -> Path:
    """A copy of a finished training run folder (rows never touch the session's original)."""
    shutil.copytree(run, dst)
    return dst


def _load_fake(name: str):
    """tests/fakes/<name>.py under the module name tests/backends uses, loaded once."""
    modname = f"edgeseg_tests_{name}"
    if modname not in sys.modules:
        spec = importlib.util.spec_from_file_location(modname, FAKES / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        spec.loader.exec_module(mod)
    return sys.modules[modname]


def install_fake_tensorrt(monkeypatch, version: str = "10.3.0.26", compute_capability=(8, 7)):
    """Put the FAKE tensorrt + pycuda (tests/fakes) in sys.modules: they test edgeseg's glue (cache
    keys, engine cards), never a figure. Returns the fake tensorrt module."""
    pycuda = _load_fake("fake_pycuda")
    pycuda.reset(compute_capability=compute_capability)
    trt = _load_fake("fake_tensorrt").make(version, pycuda=pycuda)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    for name, mod in pycuda.as_modules().items():
        monkeypatch.setitem(sys.modules, name, mod)
    return trt


@contextlib.contextmanager
def fake_tensorrt(version: str = "10.3.0.26", compute_capability=(8, 7)):
    """``install_fake_tensorrt`` for the duration of a block (used while planting)."""
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        yield install_fake_tensorrt(mp, version, compute_capability)
