"""Opening a source, checking frames, and the capture thread with its watchdog and reconnects.

``cv2.VideoCapture.read`` can block forever or keep returning the last frame when a camera is
unplugged, so reads happen only in a connection thread. The main thread calls
``Grabber.check_stale()``: when a live source has delivered no *new* frame for ``stale_timeout``
seconds, the stuck connection is abandoned (it releases its capture if its read ever returns)
and a fresh one reopens the source with exponential backoff, giving up after
``reconnect_timeout`` seconds. A read that returns False ends a file; on a live source it starts
a reconnect at once.
"""

from __future__ import annotations

import os
import re
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from edgeseg.camera._channel import Channel
from edgeseg.camera.sources import CAP_ANY, CAP_FFMPEG, CAP_GSTREAMER, CAP_V4L2, Source
from edgeseg.camera.stats import LoopStats
from edgeseg.errors import EdgesegError

API_NAMES = {CAP_ANY: "any backend", CAP_V4L2: "V4L2", CAP_GSTREAMER: "GStreamer", CAP_FFMPEG: "FFMPEG"}
#: (fact, regex on cv2.getBuildInformation()) for the video I/O backends that matter here.
_BUILD_FACTS = (
    ("GStreamer", r"^\s*GStreamer:\s*(\S+)"),
    ("V4L2", r"^\s*v4l/v4l2:\s*(\S+)"),
    ("FFMPEG", r"^\s*FFMPEG:\s*(\S+)"),
)


class CaptureOpenError(EdgesegError):
    """A source could not be opened."""


class SourceLostError(EdgesegError):
    """A live source stopped delivering frames and could not be reopened in time."""

    stats: Any = None


def backend_facts(build_info: str | None = None) -> dict[str, bool]:
    """Which video backends this OpenCV was built with, read from ``cv2.getBuildInformation()``."""
    if build_info is None:
        import cv2

        build_info = cv2.getBuildInformation()
    facts = {}
    for name, pattern in _BUILD_FACTS:
        m = re.search(pattern, build_info, re.MULTILINE)
        facts[name] = bool(m) and m.group(1).upper() not in ("NO", "NONE")
    return facts


def describe_backends(facts: dict[str, bool] | None = None) -> str:
    facts = backend_facts() if facts is None else facts
    return ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in facts.items())


def open_capture(source: Source, *, factory: Callable[..., Any] | None = None) -> Any:
    """Open ``source`` with ``cv2.VideoCapture`` (or ``factory``); a clear error when it will not open.

    The error names the source and the video backends this OpenCV build has.
    """
    import cv2

    factory = cv2.VideoCapture if factory is None else factory
    facts = backend_facts()
    if source.api == CAP_GSTREAMER and not facts["GStreamer"]:
        raise CaptureOpenError(
            f"cannot open {source.describe()}: it needs OpenCV's GStreamer backend, which this OpenCV "
            f"({cv2.__version__}) lacks (video backends: {describe_backends(facts)}); on a Jetson use the "
            "JetPack OpenCV build, not the opencv-python wheel"
        )
    if source.kind == "file" and not os.path.isfile(source.args[0]):
        raise CaptureOpenError(f"cannot open {source.describe()}: no such file {source.args[0]}")
    args = source.args
    if source.api == CAP_FFMPEG and not facts["FFMPEG"]:
        args = (args[0], CAP_ANY)
    params: list[int] = []
    if source.kind == "url" and args[1] == CAP_FFMPEG:  # FFmpeg honours open/read timeouts (ms)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 10_000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 10_000]
    try:
        cap = factory(*args, params) if params else factory(*args)
    except cv2.error as e:
        raise CaptureOpenError(f"cannot open {source.describe()}: {str(e).strip().splitlines()[-1]}") from e
    if not cap.isOpened():
        cap.release()
        raise CaptureOpenError(
            f"cannot open {source.describe()} (via {API_NAMES.get(args[1], args[1])}); OpenCV "
            f"{cv2.__version__} "
            f"video backends: {describe_backends(facts)}"
            + ("; check the device exists and no other process holds it" if source.live else "")
        )
    if source.live:
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # best effort: fewer stale frames queued in the driver
    return cap


def source_fps(cap: Any) -> float | None:
    """The frame rate the capture reports, when it is a plausible one (1..240)."""
    try:
        import cv2

        fps = float(cap.get(cv2.CAP_PROP_FPS))
    except Exception:  # noqa: BLE001 - fakes and odd backends
        return None
    return fps if 1.0 <= fps <= 240.0 else None


def check_frame(frame: Any, expect_hw: tuple[int, int] | None = None) -> str | None:
    """None for a usable HxWx3 uint8 frame, else why it is corrupt."""
    if frame is None:
        return "no frame"
    if not isinstance(frame, np.ndarray):
        return f"not an array ({type(frame).__name__})"
    if frame.dtype != np.uint8:
        return f"dtype {frame.dtype}, expected uint8"
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 1 or frame.shape[1] < 1:
        return f"shape {frame.shape}, expected HxWx3"
    if expect_hw is not None and frame.shape[:2] != expect_hw:
        return (
            f"size {frame.shape[1]}x{frame.shape[0]} changed mid-stream (expected "
            f"{expect_hw[1]}x{expect_hw[0]})"
        )
    return None


@dataclass
class Frame:
    """One captured frame travelling through the pipeline."""

    index: int
    image: np.ndarray
    t_capture: float
    batch: np.ndarray | None = None
    logits: np.ndarray | None = None
    infer_ms: float = 0.0
    source: int = 0


def _signature(img: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(img[::17, ::13]).data)


class Grabber:
    """Reads frames into ``out`` from connection threads; see the module docstring.

    ``opener(source)`` returns an opened capture or raises; ``backoff`` = (first, max) seconds
    between reopen attempts (default 0.2 doubling to 2.0).
    """

    def __init__(
        self,
        source: Source,
        opener: Callable[[Source], Any],
        out: Channel,
        stats: LoopStats,
        stop: threading.Event,
        *,
        drop_stale: bool,
        max_frames: int | None = None,
        stale_timeout: float = 3.0,
        reconnect_timeout: float = 30.0,
        backoff: tuple[float, float] = (0.2, 2.0),
        source_id: int = 0,
    ) -> None:
        self.source_id = source_id
        self.source, self.opener, self.out, self.stats, self.stop = source, opener, out, stats, stop
        self.drop_stale = drop_stale
        self.reconnect = source.live  # a camera/stream is reopened; a file just ends
        self.max_frames = (
            max_frames if not drop_stale else None
        )  # dropping mode counts inferred frames instead
        self.stale_timeout = stale_timeout
        self.reconnect_timeout = reconnect_timeout
        self.backoff = backoff
        self.error: BaseException | None = None
        self.end_reason = ""  # why the stream ended by itself ("end of file", "max frames")
        self.ended = threading.Event()
        self._lock = threading.Lock()
        self._gen = 0
        self._progress = time.monotonic()
        self._reading = False
        self._waiting = False  # blocked handing a frame on (every-frame mode): not the camera's fault
        self._index = 0
        self._threads: list[threading.Thread] = []

    # -- main thread --------------------------------------------------------------------------
    def start(self, cap: Any) -> None:
        """Start reading from an already-opened capture (open errors surface before the loop)."""
        self._spawn(cap)

    def check_stale(self, now: float | None = None) -> bool:
        """Watchdog (call from the main thread): abandon a live connection that delivered no new
        frame for ``stale_timeout`` s and start reconnecting. True when it did so."""
        if not self.reconnect or self.stale_timeout <= 0 or self.ended.is_set() or self.stop.is_set():
            return False
        now = time.monotonic() if now is None else now
        with self._lock:
            if not self._reading or self._waiting or now - self._progress < self.stale_timeout:
                return False
            self.stats.stalls += 1
        self._spawn(None)
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Stop reading (in ``finally``). Each connection thread releases its own capture when its
        read returns; the current one is waited for (``timeout`` s). A capture whose read is stuck is
        not released from here (releasing during a read is undefined in OpenCV): its thread does it
        if the read ever returns."""
        with self._lock:
            self._gen += 1
            current = self._threads[-1] if self._threads else None
        if current is not None:
            current.join(timeout)
        self.out.close()

    # -- connection threads -------------------------------------------------------------------
    def _spawn(self, cap: Any) -> None:
        with self._lock:
            self._gen += 1
            gen = self._gen
            self._reading = cap is not None
            self._progress = time.monotonic()
        previous = [t for t in self._threads if t.is_alive()]
        t = threading.Thread(
            target=self._connection, args=(gen, cap, previous), name=f"edgeseg-capture-{gen}", daemon=True
        )
        self._threads.append(t)
        t.start()

    def _current(self, gen: int) -> bool:
        return gen == self._gen and not self.stop.is_set()

    def _connection(self, gen: int, cap: Any, previous: list[threading.Thread]) -> None:
        try:
            if cap is None:
                for t in previous:  # give an abandoned reader a moment to release the device
                    t.join(1.0)
                cap = self._reopen(gen, time.monotonic())
            while cap is not None and self._current(gen):
                if self._read_until_failure(gen, cap) != "lost":
                    break
                _release(cap)
                cap = None
                cap = self._reopen(gen, time.monotonic())
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            if self._current(gen):
                self.error = e
                if not isinstance(e, SourceLostError):  # a lost source drains what was captured
                    self.stop.set()
        finally:
            if cap is not None:
                _release(cap)
            if gen == self._gen:
                self.ended.set()
                self.out.close()

    def _read_until_failure(self, gen: int, cap: Any) -> str:
        """Read until end of file ("eof"), a failed live read ("lost"), or abandonment/stop ("stop")."""
        expect_hw: tuple[int, int] | None = None
        last_sig: int | None = None
        while True:
            ok, img = cap.read()
            now = time.perf_counter()
            if not self._current(gen):
                return "stop"
            if not ok:
                if not self.reconnect:
                    self.end_reason = self.end_reason or "end of file"
                    return "eof"
                return "lost"
            why = check_frame(img, expect_hw)
            if why is not None:
                self.stats.corrupt += 1
                continue
            expect_hw = img.shape[:2]
            sig = _signature(img) if self.reconnect else None
            new = sig is None or sig != last_sig
            last_sig = sig
            with self._lock:
                if new:
                    self._progress = time.monotonic()
                else:
                    self.stats.repeated += 1
                self._waiting = True
            frame = Frame(self._index, img, now, source=self.source_id)
            self._index += 1
            self.stats.captured += 1
            if self.stats.t_first_capture is None:
                self.stats.t_first_capture = now
            self.stats.capture_rate.tick(now)
            queued = self.out.put(frame, self.stop)
            with self._lock:
                self._waiting = False
                if new:  # time spent waiting for the pipeline is not the camera's silence
                    self._progress = time.monotonic()
            if not queued:
                return "stop"
            if self.max_frames is not None and self._index >= self.max_frames:
                self.end_reason = self.end_reason or "max frames"
                return "eof"

    def _reopen(self, gen: int, lost_since: float) -> Any:
        """Reopen with exponential backoff; None when abandoned or stopped; raise after the timeout."""
        with self._lock:
            self._reading = False
        deadline = lost_since + self.reconnect_timeout
        delay, last_error = self.backoff[0], "no attempt made"
        while self._current(gen):
            self.stats.reconnect_attempts += 1
            cap = None
            try:
                cap = self.opener(self.source)
                if not cap.isOpened():
                    raise CaptureOpenError("isOpened() is False")
            except Exception as e:  # noqa: BLE001 - any open failure is retried
                last_error = str(e) or e.__class__.__name__
                if cap is not None:
                    _release(cap)
            else:
                if not self._current(gen):
                    _release(cap)
                    return None
                self.stats.reconnects += 1
                with self._lock:
                    self._reading = True
                    self._progress = time.monotonic()
                return cap
            if time.monotonic() + delay > deadline:
                raise SourceLostError(
                    f"{self.source.describe()} stopped delivering frames and could not be reopened within "
                    f"{self.reconnect_timeout:g} s ({self.stats.reconnect_attempts} attempts; last "
                    f"error: {last_error})"
                )
            self.stop.wait(delay)
            delay = min(delay * 2, self.backoff[1])
        return None


def _release(cap: Any) -> None:
    try:
        cap.release()
    except Exception:  # noqa: BLE001 - releasing must never mask the real outcome
        pass
