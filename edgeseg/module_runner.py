"""ModuleRunner: an in-memory ``nn.Module`` and its card as a Runner, eager PyTorch (torch imported lazily).

Training, QAT and the export parity check run their model through it without writing a file; the torch
backend's ``TorchRunner`` (``edgeseg/backends/torch/runner.py``) is this runner opened from a ``.pt``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeseg.card import ModelCard
from edgeseg.errors import UnsupportedOptionError
from edgeseg.runner import BaseRunner, check_threads

#: precision -> where it works. Eager torch runs fp32 everywhere, fp16 only on CUDA.
TORCH_PRECISIONS = ("fp32", "fp16")


class ModuleRunner(BaseRunner):
    """Eager PyTorch inference of an in-memory model; build one with ``ModuleRunner.from_model``.

    Defaults: ``device="cpu"``, ``precision="fp32"`` (``"fp16"`` only on CUDA),
    ``channels_last=None`` (NHWC memory format on CUDA only), ``threads=None`` (torch's default).
    ``threads`` sets torch's process-wide intra-op thread count; ``close()`` restores the old value.
    Accepts any input size (``input_size`` is None) unless ``from_model`` is given one.
    """

    backend = "torch"

    @classmethod
    def from_model(
        cls,
        model: Any,
        card: ModelCard,
        *,
        device: str = "cpu",
        precision: str = "fp32",
        channels_last: bool | None = None,
        threads: int | None = None,
        copy: bool = False,
        input_size: tuple[int, int] | None = None,
    ) -> "ModuleRunner":
        """Wrap an in-memory ``nn.Module`` (training, QAT, PTQ method comparison, parity checks) without
        writing a file.

        The module is changed **in place** (eval mode, ``device``, half precision for fp16,
        channels-last memory format) unless ``copy=True`` (default False), which deep-copies it first.
        ``input_size`` (H, W; default None: any size) fixes the size it takes, as an exported artifact
        does: ``evaluate`` and ``segment`` then resize frames to it.
        """
        self = cls.__new__(cls)
        self._validate(device, precision, threads)
        if input_size is not None and (
            len(input_size) != 2 or not all(isinstance(v, int) and v >= 1 for v in input_size)
        ):
            raise UnsupportedOptionError(
                f"torch runner: input_size must be (H, W), two positive integers, found {input_size!r}"
            )
        if copy:
            import copy as _copy

            model = _copy.deepcopy(model)
        self.path = None
        self._setup(
            model,
            card,
            device=device,
            precision=precision,
            channels_last=channels_last,
            threads=threads,
            input_size=input_size,
        )
        return self

    # -- setup ------------------------------------------------------------------------------------
    @staticmethod
    def _validate(device: str, precision: str, threads: int | None) -> None:
        import torch

        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as e:
            raise UnsupportedOptionError(
                f"torch runner: unknown device {device!r}; expected 'cpu', 'cuda' or 'cuda:N'"
            ) from e
        if dev.type not in ("cpu", "cuda"):
            raise UnsupportedOptionError(
                f"torch runner: device {device!r} is not supported; expected 'cpu', 'cuda' or 'cuda:N'"
            )
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise UnsupportedOptionError(
                f"torch runner: device {device!r} requested but CUDA is not available to torch "
                f"{torch.__version__}; use device='cpu'"
            )
        if precision not in TORCH_PRECISIONS:
            raise UnsupportedOptionError(
                f"torch runner: precision {precision!r} is not supported; expected one of {TORCH_PRECISIONS} "
                "(for int8 export a Q/DQ ONNX with `edgeseg quantize` and run it with ONNX Runtime or "
                "TensorRT)"
            )
        if precision == "fp16" and dev.type != "cuda":
            raise UnsupportedOptionError(
                "torch runner: fp16 works only with device='cuda' (CPU half-precision convolutions are "
                "slow or "
                "missing); on CPU use fp32, or build an fp16 TensorRT engine / Core ML package"
            )
        check_threads(threads, where="torch runner")

    def _setup(
        self,
        model: Any,
        card: ModelCard,
        *,
        device: str,
        precision: str,
        channels_last: bool | None,
        threads: int | None,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        import torch

        self.card = card
        self.precision = precision
        self.device = torch.device(device)
        # None: channels-last on CUDA only. On the 2-core x86 CPU of the committed benchmark, CGNet
        # eager inference took 35.9 ms NCHW vs 45.3 ms channels-last (benchmarks/results/cgnet_cpu.json).
        self.channels_last = (self.device.type == "cuda") if channels_last is None else bool(channels_last)
        self._old_threads: int | None = None
        if threads is not None:
            self._old_threads = torch.get_num_threads()
            torch.set_num_threads(threads)
        self.threads = torch.get_num_threads() if self.device.type == "cpu" else threads
        self._dtype = torch.float16 if precision == "fp16" else torch.float32
        model = model.eval().to(self.device, dtype=self._dtype)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.options = {
            "device": str(self.device),
            "precision": precision,
            "channels_last": self.channels_last,
            "threads": self.threads,
        }
        self._limits(size=input_size, batch=None)

    # -- BaseRunner ---------------------------------------------------------------------------------
    def _infer_chunk(self, x: np.ndarray) -> np.ndarray:
        """Logits on the host (NaN/Inf are passed through and counted); label maps as uint8."""
        import torch

        with torch.inference_mode():
            t = torch.from_numpy(x).to(self.device, dtype=self._dtype, non_blocking=True)
            if self.channels_last:
                t = t.contiguous(memory_format=torch.channels_last)
            y = self.model(t)
            # a labels head (edgeseg.export.head) gives uint8 class ids: kept as they are
            return (y.float() if y.is_floating_point() else y).contiguous().cpu().numpy()

    def _release(self) -> None:
        """Drop the model and restore torch's thread count if ``threads`` changed it."""
        import torch

        self.model = None
        if self._old_threads is not None:
            torch.set_num_threads(self._old_threads)
            self._old_threads = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _describe(self) -> str:
        return f"{self.device}, channels_last={self.channels_last}"
