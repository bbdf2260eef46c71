"""Helpers shared by the build tests: a tiny Q/DQ ONNX maker, the FAKE TensorRT/pycuda installer
(call-sequence tests only) and a test double with CalibrationSet's interface."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

FAKES = Path(__file__).resolve().parents[2] / "fakes"
SIZE = (64, 96)


def _load_fake(name: str) -> ModuleType:
    """Load tests/fakes/<name>.py once, under a test-only module name."""
    modname = f"edgeseg_tests_{name}"
    if modname in sys.modules:
        return sys.modules[modname]
    spec = importlib.util.spec_from_file_location(modname, FAKES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def make_qdq_onnx(path: Path, card, *, size=SIZE) -> Path:
    """A minimal Q/DQ ONNX with an edgeseg card: input -> Q -> DQ -> Conv(3->C) -> logits."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgeseg.card import card_to_onnx

    h, w = size
    c = card.num_classes
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(np.array(0.05, np.float32), "x_scale"),
        numpy_helper.from_array(np.array(0, np.int8), "x_zp"),
        numpy_helper.from_array(rng.normal(size=(c, 3, 1, 1)).astype(np.float32), "w"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["input", "x_scale", "x_zp"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zp"], ["xdq"]),
        helper.make_node("Conv", ["xdq", "w"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "qdq",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, c, h, w])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    card_to_onnx(model, card.replace(precision="int8", calibration={"method": "ptq-test"}))
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


class FakeTRT:
    """Installs the FAKE tensorrt + pycuda modules into sys.modules (tests of call sequences only)."""

    def __init__(self, monkeypatch) -> None:
        self.monkeypatch = monkeypatch
        self.pycuda = _load_fake("fake_pycuda")
        self.maker = _load_fake("fake_tensorrt")
        self.trt: ModuleType | None = None

    def install(
        self, version: str = "10.3.0.26", *, compute_capability=(8, 7), num_dla_cores: int = 0
    ) -> ModuleType:
        self.pycuda.reset(compute_capability=compute_capability)
        self.trt = self.maker.make(version, num_dla_cores=num_dla_cores, pycuda=self.pycuda)
        self.monkeypatch.setitem(sys.modules, "tensorrt", self.trt)
        for name, mod in self.pycuda.as_modules().items():
            self.monkeypatch.setitem(sys.modules, name, mod)
        return self.trt

    def calls(self, name: str) -> list[tuple]:
        return [c for c in self.trt.CALLS if c[0] == name]

    @contextlib.contextmanager
    def pycuda_context(self):
        """A pushed fake CUDA context (what CudaDevice.active() does in production code)."""
        ctx = self.pycuda.Device(0).retain_primary_context()
        ctx.push()
        try:
            yield ctx
        finally:
            self.pycuda.Context.pop()


class ListCalibSet:
    """Test double with CalibrationSet's interface (__len__, paths, batches, fingerprint): frames in
    memory, preprocessed with edgeseg.data.preprocess.preprocess from the card."""

    def __init__(self, frames, card, *, batch: int, size, tag: str = "A") -> None:
        self.frames, self.card, self.batch, self.size, self.tag = list(frames), card, batch, tuple(size), tag
        self.batches_started = 0

    def __len__(self) -> int:
        return len(self.frames)

    def paths(self) -> list[Path]:
        return [Path(f"frame{i:03d}.png") for i in range(len(self.frames))]

    def batches(self):
        from edgeseg.data.preprocess import preprocess

        self.batches_started += 1
        for s in range(0, len(self.frames), self.batch):
            yield preprocess(self.frames[s : s + self.batch], self.card, size=self.size)

    def fingerprint(self) -> str:
        return f"listcalib-{self.tag}-{len(self.frames)}"


def random_frames(n: int, size=(40, 60), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)]
