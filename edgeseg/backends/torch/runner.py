"""TorchRunner: a ``.pt`` checkpoint as a Runner, eager PyTorch (torch imported lazily); the in-memory part
(``from_model``, devices, precisions, threads) is ``edgeseg.module_runner.ModuleRunner``."""

from __future__ import annotations

import os
from pathlib import Path
from edgeseg.module_runner import TORCH_PRECISIONS, ModuleRunner

__all__ = ["TORCH_PRECISIONS", "TorchRunner"]


class TorchRunner(ModuleRunner):
    """Eager PyTorch inference from an edgeseg checkpoint.

    Defaults: ``device="cpu"``, ``precision="fp32"`` (``"fp16"`` only on CUDA),
    ``channels_last=None`` (NHWC memory format on CUDA only: on the 2-core x86 CPU of the committed
    benchmark, CGNet eager ran 35.9 ms NCHW vs 45.3 ms channels-last; an earlier measurement on the
    loaded machine favoured channels-last, see docs/export.md), ``threads=None`` (torch's default).
    ``threads`` sets torch's process-wide intra-op thread count; ``close()`` restores the old value.
    Accepts any input size (``input_size`` is None).
    """

    backend = "torch"

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        device: str = "cpu",
        precision: str = "fp32",
        channels_last: bool | None = None,
        threads: int | None = None,
    ) -> None:
        from edgeseg.train.checkpoint import load_checkpoint

        from edgeseg.quant.qcheckpoint import is_quantized_checkpoint, load_quantized_checkpoint

        self._validate(device, precision, threads)  # before the (slower) load
        model, card, payload = load_checkpoint(path)
        quantized = is_quantized_checkpoint(payload)
        if (
            quantized
        ):  # a QAT checkpoint: run its fake-quant model, i.e. the INT8 numerics, simulated in float
            model, card, _ = load_quantized_checkpoint(path)
        self.path: Path | None = Path(path)
        self._setup(
            model, card, device=device, precision=precision, channels_last=channels_last, threads=threads
        )
        if quantized:
            self.precision = "int8"
