"""Pieces of the training loop with one job each: the seeded augmenting dataset, the Ctrl-C
step-boundary guard, the DDP rank facts."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

import numpy as np
import torch

from edgeseg.card import ModelCard
from edgeseg.data.preprocess import normalize
from edgeseg.data.transforms import TrainTransform


class AugmentedDataset(torch.utils.data.Dataset):
    """Applies the train transform with a generator seeded by (seed, epoch, index); caches decodes."""

    def __init__(
        self, base, transform: TrainTransform, card: ModelCard, seed: int, *, cache: bool = True
    ) -> None:
        self.base, self.transform, self.card, self.seed = base, transform, card, seed
        self.epoch = 0
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.base)

    def _raw(self, i: int):
        if self._cache is None:
            return self.base[i]
        if i not in self._cache:
            self._cache[i] = self.base[i]
        return self._cache[i]

    def __getitem__(self, i: int):
        img, lab = self._raw(i)
        img, lab = self.transform(img, lab, np.random.default_rng((self.seed, self.epoch, i)))
        return torch.from_numpy(normalize(img, self.card)), torch.from_numpy(lab.astype(np.int64))


class StopAtStepBoundary:
    """First SIGINT/SIGTERM sets a flag the loop checks between steps (so a saved checkpoint is
    always at a step boundary and resumes exactly); a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:  # noqa: ANN001
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step (Ctrl-C again to abort at once)...", file=sys.stderr)

    def __enter__(self) -> "StopAtStepBoundary":
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def dist_info() -> tuple[int, int, int]:
    return (
        int(os.environ.get("RANK", 0)),
        int(os.environ.get("WORLD_SIZE", 1)),
        int(os.environ.get("LOCAL_RANK", 0)),
    )
