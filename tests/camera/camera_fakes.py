"""Test-only stand-ins for the camera loop: a fake capture, a fake opener, a slow runner wrapper.

``FakeCapture`` has the ``cv2.VideoCapture`` surface the loop uses (read / isOpened / release /
get / set). Its script is a list of frames (numpy arrays; ``None`` or odd arrays for corrupt
reads); when it runs out it ``"fail"``s (read returns False), ``"block"``s (read hangs until
``unblock()``), or ``"repeat"``s the last frame (a camera unplugged behind a driver that keeps
returning its last buffer).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Sequence

import numpy as np


def gray(value: int, size: tuple[int, int] = (64, 96)) -> np.ndarray:
    return np.full((*size, 3), value % 256, np.uint8)


class FakeCapture:
    def __init__(
        self,
        frames: Sequence[Any] | Callable[[int], Any] = (),
        *,
        count: int | None = None,
        opened: bool = True,
        after: str = "fail",
        interval: float = 0.0,
        name: str = "fake",
    ) -> None:
        self.frames = frames
        self.count = len(frames) if count is None and not callable(frames) else count
        self.opened = opened
        self.after = after
        self.interval = interval
        self.name = name
        self.reads = 0
        self.released = threading.Event()
        self._unblock = threading.Event()
        self._last: Any = None

    def isOpened(self) -> bool:  # noqa: N802 - the cv2 spelling
        return self.opened and not self.released.is_set()

    def read(self) -> tuple[bool, Any]:
        if self.interval:
            time.sleep(self.interval)
        i = self.reads
        self.reads += 1
        if self.released.is_set() or not self.opened:
            return False, None
        if self.count is None or i < self.count:
            frame = self.frames(i) if callable(self.frames) else self.frames[i]
            if isinstance(frame, np.ndarray):
                self._last = frame
            return True, frame
        if self.after == "block":
            self._unblock.wait()
            return False, None
        if self.after == "repeat" and self._last is not None:
            return True, self._last.copy()
        return False, None

    def unblock(self) -> None:
        self._unblock.set()

    def release(self) -> None:
        self.released.set()

    def get(self, prop: int) -> float:
        return 0.0

    def set(self, prop: int, value: float) -> bool:
        return False


class FakeOpener:
    """Hands out the given captures in order (then unopened ones) and records when it was called."""

    def __init__(self, captures: Sequence[FakeCapture | None]) -> None:
        self.captures = list(captures)
        self.calls: list[float] = []

    def __call__(self, source: Any) -> FakeCapture:
        self.calls.append(time.monotonic())
        cap = self.captures.pop(0) if self.captures else None
        return cap if cap is not None else FakeCapture(opened=False, name="unopened")


class SlowRunner:
    """Test-only wrapper: a real runner that takes at least ``delay`` s per inference and records
    each input's first pixel value (frames are uniform grey, so that identifies the frame)."""

    def __init__(
        self, runner: Any, delay: float, on_infer: Callable[[np.ndarray], None] | None = None
    ) -> None:
        self.runner, self.delay, self.on_infer = runner, delay, on_infer
        self.card, self.backend, self.precision = runner.card, runner.backend, runner.precision

    @property
    def input_size(self):
        return self.runner.input_size

    def infer(self, batch: np.ndarray) -> np.ndarray:
        if self.on_infer is not None:
            self.on_infer(batch)
        t = time.perf_counter()
        out = self.runner.infer(batch)
        left = self.delay - (time.perf_counter() - t)
        if left > 0:
            time.sleep(left)
        return out
