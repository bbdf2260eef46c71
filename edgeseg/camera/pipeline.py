"""``CameraLoop``: capture, preprocessing, inference and rendering in separate threads.

::

    capture thread(s) --raw--> preprocess thread --ready--> inference thread --results--> main thread
    (read, check, watchdog     (resize once +       (runner.infer only)     (argmax, resize, LUT colour,
     progress, reconnect)       normalise, card)                             HUD, record, masks, window,
                                                                             stale-frame watchdog, keys)

Live sources: every channel keeps only its newest item, so inference always takes the freshest
frame; replaced frames are counted as dropped. Files: bounded FIFO channels with back-pressure,
so nothing is dropped and the output order is the file order.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from edgeseg.camera._channel import Channel, Closed, Empty
from edgeseg.camera.capture import CaptureOpenError, Frame, Grabber, SourceLostError, source_fps
from edgeseg.camera.capture import open_capture as default_open_capture
from edgeseg.camera.display import CvWindow, gui_reason
from edgeseg.camera.record import MaskSaver, Recorder, save_snapshot
from edgeseg.camera.render import Renderer, class_ids
from edgeseg.camera.sources import Source, parse_source
from edgeseg.camera.stats import LoopStats, RateMeter
from edgeseg.data.preprocess import preprocess
from edgeseg.errors import EdgesegError
from edgeseg.backends import check_finite

KEY_QUIT = (ord("q"), ord("Q"), 27)
KEY_PAUSE = ord(" ")
KEY_SNAPSHOT = (ord("s"), ord("S"))


@dataclass(frozen=True)
class CameraOptions:
    """Loop settings. Defaults: overlay view at alpha 0.5, all classes, HUD and legend on, headless
    when there is no screen (``headless=None``), inference at ``runner.input_size`` (else the
    card's), newest-frame mode for cameras/streams and every-frame mode for files (``live=None``;
    True/False forces one), watchdog 3 s, give up after 30 s
    of failed reconnects, backoff 0.2 s doubling to 2 s, recording at the source's fps (else 30)."""

    view: str = "overlay"
    alpha: float = 0.5
    classes: tuple[str, ...] | None = None
    hud: bool = True
    legend: bool = True
    headless: bool | None = None
    record: str | None = None
    record_fps: float | None = None
    save_masks: str | None = None
    snapshot_dir: str = "."
    max_frames: int | None = None
    size: tuple[int, int] | None = None
    live: bool | None = None
    stale_timeout: float = 3.0
    reconnect_timeout: float = 30.0
    backoff: tuple[float, float] = (0.2, 2.0)
    queue_size: int = 4


class CameraLoop:
    """Run a segmentation model over a camera, stream or file. ``run()`` returns ``LoopStats``.

    ``open_capture(source) -> capture`` opens a ``Source`` (default: ``cv2.VideoCapture`` with
    clear errors); tests inject fakes. ``on_render(frame, labels, canvas)`` sees every rendered
    frame. Everything checkable (classes, paths, writer codec, sizes) is checked here, before the
    loop starts.
    """

    def __init__(
        self,
        runner: Any,
        source: Source | str | int,
        options: CameraOptions | None = None,
        *,
        open_capture: Callable[[Source], Any] | None = None,
        on_render: Callable[[Frame, np.ndarray, np.ndarray], None] | None = None,
        window_factory: Callable[[], Any] | None = None,
        handle_signals: bool = True,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.runner = runner
        self.card = runner.card
        self.source = source if isinstance(source, Source) else parse_source(source)
        self.options = opts = options or CameraOptions()
        self.live = self.source.live if opts.live is None else bool(opts.live)
        self.open_capture = open_capture or default_open_capture
        self.on_render = on_render
        self.handle_signals = handle_signals
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        if opts.max_frames is not None and opts.max_frames < 1:
            raise EdgesegError(f"--max-frames must be >= 1, found {opts.max_frames}")
        if opts.stale_timeout < 0 or opts.reconnect_timeout < 0:
            raise EdgesegError("--stale-timeout and --reconnect-timeout must be >= 0 seconds")
        ids = class_ids(opts.classes, self.card) if opts.classes is not None else None
        self.renderer = Renderer(self.card, view=opts.view, alpha=opts.alpha, classes=ids, hud=opts.hud, show_legend=opts.legend)
        self.infer_size = self._infer_size(opts.size)
        self.recorder = Recorder(opts.record, fps=opts.record_fps or 30.0) if opts.record else None
        if self.recorder is not None:
            self.recorder.probe()
        self.masks = MaskSaver(opts.save_masks) if opts.save_masks else None
        reason = gui_reason() if opts.headless is None else None
        self.headless = bool(opts.headless) or reason is not None
        if opts.headless is None and reason:
            self.log(f"camera: running headless ({reason})")
        self.window_factory = window_factory or CvWindow
        self.stats = LoopStats(source=self.source.spec, mode="newest-frame" if self.live else "every-frame")
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._ran = False
        self._stream_end = ""

    def _infer_size(self, size: tuple[int, int] | None) -> tuple[int, int]:
        fixed = self.runner.input_size
        if size is not None:
            size = (int(size[0]), int(size[1]))
            if fixed is not None and tuple(fixed) != size:
                raise EdgesegError(
                    f"--size {size[0]}x{size[1]} does not match the model's fixed input size {fixed[0]}x{fixed[1]} "
                    f"({self.runner.backend} artifact); leave --size out"
                )
            return size
        return tuple(fixed) if fixed is not None else tuple(self.card.input_size)

    def stop(self, reason: str = "stopped") -> None:
        """Ask the loop to finish (thread-safe)."""
        self.stats.exit_reason = self.stats.exit_reason or reason
        self._stop.set()

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> LoopStats:
        """Run until end of file, ``--max-frames``, q, a signal, ``stop()`` or a lost source. Once per loop."""
        if self._ran:
            raise EdgesegError("a CameraLoop runs once; create a new one for another run")
        self._ran = True
        stats, stop, opts = self.stats, self._stop, self.options
        qsize = max(int(opts.queue_size), 1)
        raw = Channel(1, latest=True, name="raw") if self.live else Channel(qsize, name="raw")
        ready = Channel(1, latest=True, name="ready") if self.live else Channel(2, name="ready")
        results = Channel(1, latest=True, name="results") if self.live else Channel(qsize, name="results")
        t0 = time.perf_counter()
        cap = self.open_capture(self.source)  # a source that will not open fails here, before any thread
        if not cap.isOpened():
            cap.release()
            raise CaptureOpenError(f"cannot open {self.source.describe()} (the capture reports isOpened() False)")
        if self.recorder is not None and opts.record_fps is None:
            self.recorder.fps = source_fps(cap) or 30.0
        grabber = Grabber(
            self.source, self.open_capture, raw, stats, stop, drop_stale=self.live, max_frames=opts.max_frames,
            stale_timeout=opts.stale_timeout, reconnect_timeout=opts.reconnect_timeout, backoff=opts.backoff,
        )
        workers = [
            threading.Thread(target=self._preprocess_worker, args=(raw, ready), name="edgeseg-preprocess", daemon=True),
            threading.Thread(target=self._infer_worker, args=(ready, results), name="edgeseg-infer", daemon=True),
        ]
        window = None
        old_handlers = self._install_signals() if self.handle_signals else {}
        try:
            grabber.start(cap)
            cap = None  # the grabber owns (and releases) it now
            for w in workers:
                w.start()
            if not self.headless:
                window = self.window_factory()
            self._render_loop(results, grabber, window, lambda: raw.dropped + ready.dropped)
        except KeyboardInterrupt:
            stats.exit_reason = stats.exit_reason or "interrupted"
        finally:
            stop.set()
            try:
                if cap is not None:
                    cap.release()
                grabber.close()  # every capture whose read has returned is released
                for ch in (raw, ready, results):
                    ch.close()
                for w in workers:
                    if w.is_alive():
                        w.join(60.0)  # at most one inference in flight
                if window is not None:
                    window.close()
            finally:
                for sig, handler in old_handlers.items():
                    signal.signal(sig, handler)
                stats.dropped = raw.dropped + ready.dropped
                stats.render_dropped = results.dropped
                stats.wall_s = time.perf_counter() - t0
                if self.recorder is not None:
                    stats.recorded = self.recorder.frames
                    self.recorder.close()  # finish and move the video into place, whatever ended the run
        error = grabber.error or (self._errors[0] if self._errors else None)
        if isinstance(error, SourceLostError):
            stats.exit_reason = "source lost"
            error.stats = stats
        if error is not None:
            raise error
        stats.exit_reason = stats.exit_reason or grabber.end_reason or self._stream_end or "end of stream"
        return stats

    def _fail(self, e: BaseException) -> None:
        self._errors.append(e)
        self.stats.exit_reason = self.stats.exit_reason or "error"
        self._stop.set()

    def _preprocess_worker(self, raw: Channel, ready: Channel) -> None:
        try:
            while not self._stop.is_set():
                if not self.live and not ready.wait_space(self._stop):
                    break
                try:
                    item: Frame = raw.get(timeout=0.1)
                except Empty:
                    continue
                except Closed:
                    break
                item.batch = preprocess(item.image, self.card, size=self.infer_size)
                if not ready.put(item, self._stop):
                    break
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            self._fail(e)
        finally:
            ready.close()

    def _infer_worker(self, ready: Channel, results: Channel) -> None:
        stats, runner, limit = self.stats, self.runner, self.options.max_frames
        try:
            while not self._stop.is_set():
                try:
                    item: Frame = ready.get(timeout=0.1)
                except Empty:
                    continue
                except Closed:
                    break
                t = time.perf_counter()
                item.logits = runner.infer(item.batch)
                item.infer_ms = (time.perf_counter() - t) * 1000.0
                item.batch = None
                stats.inferred += 1
                stats.infer_ms.append(item.infer_ms)
                if not results.put(item, self._stop):
                    break
                if limit is not None and stats.inferred >= limit:
                    self._stream_end = "max frames"
                    break
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            self._fail(e)
        finally:
            results.close()

    def _render_loop(self, results: Channel, grabber: Grabber, window: Any, dropped: Callable[[], int]) -> None:
        stats, renderer, opts = self.stats, self.renderer, self.options
        paused, canvas, last, loop_rate = False, None, None, RateMeter()
        while not self._stop.is_set():
            grabber.check_stale()
            if paused:
                paused = self._handle_key(window.poll(30), last, canvas, paused)
                continue
            try:
                item: Frame = results.get(timeout=0.05)
            except Empty:
                if window is not None:
                    paused = self._handle_key(window.poll(1), last, canvas, paused)
                continue
            except Closed:
                break
            image = renderer.fit(item.image)
            labels = renderer.labels(item.logits, image.shape[:2])
            if not check_finite(item.logits):
                stats.nonfinite += 1
            canvas = renderer.compose(image, labels)
            if self.recorder is not None:
                self.recorder.write(canvas)
            if self.masks is not None:
                self.masks.save(item.index, labels)
            if self.on_render is not None:
                self.on_render(item, labels, canvas)
            last = item
            if window is not None:
                shown = canvas.copy()
                e2e = stats.e2e_ms[-1] if stats.e2e_ms else 0.0
                renderer.draw_hud(shown, [
                    f"capture {stats.capture_rate.rate:5.1f} fps  loop {loop_rate.rate:5.1f} fps",
                    f"infer {item.infer_ms:6.1f} ms  e2e {e2e:6.1f} ms",
                    f"{self.runner.backend} {self.runner.precision} {self.infer_size[1]}x{self.infer_size[0]}  dropped {dropped()}",
                ])
                canvas = shown
                paused = self._handle_key(window.show(shown), item, shown, paused)
            done = time.perf_counter()
            loop_rate.tick(done)
            stats.render_rate.tick(done)
            stats.e2e_ms.append((done - item.t_capture) * 1000.0)
            stats.rendered += 1
            stats.t_last_render = done
            if opts.max_frames is not None and stats.rendered >= opts.max_frames:
                stats.exit_reason = stats.exit_reason or "max frames"
                break

    def _handle_key(self, key: int, item: Frame | None, canvas: np.ndarray | None, paused: bool) -> bool:
        if key in KEY_QUIT:
            self.stop("quit key")
        elif key == KEY_PAUSE:
            return not paused
        elif key in KEY_SNAPSHOT and canvas is not None and item is not None:
            from edgeseg._io import ensure_writable_dir

            try:  # a snapshot that cannot be written must not end the run
                ensure_writable_dir(self.options.snapshot_dir, create=True)
                self.log(f"camera: saved {save_snapshot(self.options.snapshot_dir, item.index, canvas)}")
            except EdgesegError as e:
                self.log(f"camera: snapshot not saved: {e}")
        return paused

    def _install_signals(self) -> dict[int, Any]:
        """SIGINT/SIGTERM finish the run cleanly (release, finalise, stats); a second Ctrl-C forces."""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum: int, _frame: Any) -> None:
            if self._stop.is_set() and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.stop(signal.Signals(signum).name)

        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                old[sig] = signal.signal(sig, handler)
            except (ValueError, OSError):
                pass
        return old
