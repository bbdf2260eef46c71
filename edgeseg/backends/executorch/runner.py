"""ExecuTorchRunner: an edgeseg ``.pte`` program through ExecuTorch's Python runtime (XNNPACK kernels).

The card is read from the program's ``edgeseg_card`` method; the ``forward`` method's fixed input
(1, 3, H, W) is checked against it. Threads: ExecuTorch has one process-wide thread pool, so
``threads`` (default: the count an ``edgeseg build --threads N`` recorded, else the runtime's own,
one per core) resets that pool and applies to every program in the process.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgeseg.runner import BaseRunner, check_threads, resolve_threads
from edgeseg.backends.executorch._native import load_program, program_card, quiet, threadpool
from edgeseg.card import ModelCard
from edgeseg.errors import ExportError


class ExecuTorchRunner(BaseRunner):
    """ExecuTorch inference of an edgeseg ``.pte`` program. ``threads=None``: the count the build
    recorded, else the runtime's default (one per core). The program's batch and size are fixed:
    larger batches run frame by frame."""

    backend = "executorch"

    def __init__(self, path: str | os.PathLike, *, threads: int | None = None) -> None:
        import torch  # ExecuTorch's Python runtime takes torch tensors

        self._torch = torch
        p = Path(path)
        self.path = p
        check_threads(threads, where="executorch runner")
        program = load_program(p)
        self.card: ModelCard = program_card(program, p)
        if "forward" not in program.method_names:
            raise ExportError(
                f"{p}: the program has no 'forward' method (has {sorted(program.method_names)})"
            )
        threads = resolve_threads(option=threads, card=self.card)
        pool = threadpool()
        with quiet():  # the pool's first use runs cpuinfo, which prints what it reads from /sys
            if threads is not None and pool._threadpool_get_thread_count() != threads:
                # before the method is loaded: resetting the pool under a loaded, never-run XNNPACK method
                # aborts the process
                pool._unsafe_reset_threadpool(int(threads))
            self._method = program.load_method("forward")
            self.threads = int(pool._threadpool_get_thread_count())
        meta = self._method.metadata
        if meta.num_inputs() != 1 or meta.num_outputs() < 1:
            raise ExportError(
                f"{p}: expected one input and one output, found {meta.num_inputs()} / {meta.num_outputs()}"
            )
        shape = tuple(meta.input_tensor_meta(0).sizes())
        if len(shape) != 4 or shape[1] != 3:
            raise ExportError(f"{p}: program input has shape {shape}, expected (N, 3, H, W)")
        if tuple(shape[2:]) != tuple(self.card.input_size):
            raise ExportError(
                f"{p}: program input is {shape[2]}x{shape[3]} but its card says "
                f"{self.card.input_size[0]}x{self.card.input_size[1]}"
            )
        oshape = tuple(meta.output_tensor_meta(0).sizes())
        if len(oshape) != 4 or oshape[1] != self.card.num_classes:
            raise ExportError(
                f"{p}: program output has shape {oshape}, expected (N, {self.card.num_classes}, H, W)"
            )
        self._program = program
        self._ran = False
        self.precision = self.card.precision
        self.options = {"threads": self.threads}
        self._limits(size=(int(shape[2]), int(shape[3])), batch=(int(shape[0]), int(shape[0])))

    def _infer_chunk(self, x: np.ndarray) -> np.ndarray:
        if not self._ran:  # the first run initialises XNNPACK, whose cpuinfo prints what it reads from /sys
            with quiet():
                y = self._method.execute([self._torch.from_numpy(x)])[0]
            self._ran = True
        else:
            y = self._method.execute([self._torch.from_numpy(x)])[0]
        return np.ascontiguousarray(y.detach().numpy(), dtype=np.float32)

    def _release(self) -> None:
        self._method = None
        self._program = None
