"""``CameraLoop``: capture, preprocessing, inference and rendering in separate threads.

::

    capture thread(s) --raw--> preprocess thread --ready--> inference thread --results--> main thread
    (read, check, watchdog     (resize once +       (runner.infer only)     (argmax, resize, LUT colour,
     progress, reconnect)       normalise, card)                             HUD, record, masks, window,
                                                                             stale-frame watchdog, keys)

Live sources: every channel keeps only its newest item, so inference always takes the freshest
frame; replaced frames are counted as dropped. Files: bounded FIFO channels with back-pressure,
so nothing is dropped and the output order is the file order.

Several sources: one capture thread and one raw channel per source; the preprocess thread takes
them round-robin; the inference thread runs the frames that are waiting (one per source, up to the
number of sources) as one batch when the artifact takes a batch of that size, else one by one
(interleaved). The render thread keeps a renderer per source and composes a mosaic.
With ``serve`` options a ``Publisher`` streams every rendered picture and its metadata over HTTP.
The settings are ``options.CameraOptions`` (re-exported here); the preprocess and inference threads
``_stages.StageWorkers``.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any, Callable, Sequence

import numpy as np

from edgeseg.camera._channel import Channel, Closed, Empty
from edgeseg.camera._stages import StageWorkers
from edgeseg.camera.controls import batch_allowed, handle_key, install_stop_signals
from edgeseg.camera.capture import CaptureOpenError, Frame, Grabber, SourceLostError, source_fps
from edgeseg.camera.capture import open_capture as default_open_capture
from edgeseg.camera.display import CvWindow, gui_reason
from edgeseg.camera.mosaic import Mosaic
from edgeseg.camera.options import CameraOptions
from edgeseg.camera.publish import Publisher
from edgeseg.camera.record import MaskSaver, Recorder
from edgeseg.camera.render import Renderer, class_ids
from edgeseg.camera.sources import Source, parse_source
from edgeseg.camera.stats import LoopStats, RateMeter
from edgeseg.camera.streamout import StreamOut
from edgeseg.errors import EdgesegError

__all__ = ["CameraLoop", "CameraOptions"]
from edgeseg.backends import check_finite


class CameraLoop(StageWorkers):
    """Run a segmentation model over cameras, streams or files. ``run()`` returns ``LoopStats``.

    ``source`` is one source or a sequence of them (a mosaic, per-source stats).
    ``open_capture(source) -> capture`` opens a ``Source`` (default: ``cv2.VideoCapture`` with
    clear errors); tests inject fakes. ``on_render(frame, labels, canvas)`` sees every rendered
    frame (``frame.source`` says which). Everything checkable (classes, paths, writer codec, sizes,
    the server's port, the stream output) is checked here, before the loop starts.
    """

    def __init__(
        self,
        runner: Any,
        source: Source | str | int | Sequence[Source | str | int],
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
        specs = list(source) if isinstance(source, (list, tuple)) else [source]
        if not specs:
            raise EdgesegError("no source given")
        self.sources = [s if isinstance(s, Source) else parse_source(s) for s in specs]
        self.source = self.sources[0]
        self.options = opts = options or CameraOptions()
        self.live = any(s.live for s in self.sources) if opts.live is None else bool(opts.live)
        self.open_capture = open_capture or default_open_capture
        self.on_render = on_render
        self.handle_signals = handle_signals
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        if opts.max_frames is not None and opts.max_frames < 1:
            raise EdgesegError(f"--max-frames must be >= 1, found {opts.max_frames}")
        if opts.stale_timeout < 0 or opts.reconnect_timeout < 0:
            raise EdgesegError("--stale-timeout and --reconnect-timeout must be >= 0 seconds")
        ids = class_ids(opts.classes, self.card) if opts.classes is not None else None
        self.renderers = [
            Renderer(
                self.card,
                view=opts.view,
                alpha=opts.alpha,
                classes=ids,
                hud=opts.hud,
                show_legend=opts.legend,
            )
            for _ in self.sources
        ]
        self.renderer = self.renderers[0]
        self.mosaic = Mosaic(len(self.sources)) if len(self.sources) > 1 else None
        self.batch = (
            len(self.sources) if len(self.sources) > 1 and batch_allowed(runner, len(self.sources)) else 1
        )
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
        mode = "newest-frame" if self.live else "every-frame"
        self.stats = LoopStats(source=", ".join(s.spec for s in self.sources), mode=mode)
        if len(self.sources) > 1:
            self.stats.per_source = [LoopStats(source=s.spec, mode=mode) for s in self.sources]
        self.source_stats = self.stats.per_source or [self.stats]
        self.stream_out = StreamOut(opts.stream_out, fps=opts.record_fps or 30.0) if opts.stream_out else None
        self.publisher = None
        if opts.serve is not None:  # last: it binds the port, which must be free before the camera opens
            self.publisher = Publisher(
                opts.serve,
                runner=runner,
                sources=[s.spec for s in self.sources],
                stats=self.stats,
                source_stats=self.source_stats,
                infer_size=self.infer_size,
                draw_hud=self.renderer.draw_hud if opts.hud else None,
            )
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
                    f"--size {size[0]}x{size[1]} does not match the model's fixed input size "
                    f"{fixed[0]}x{fixed[1]} "
                    f"({self.runner.backend} artifact); leave --size out"
                )
            return size
        return tuple(fixed) if fixed is not None else tuple(self.card.input_size)

    def stop(self, reason: str = "stopped") -> None:
        """Ask the loop to finish (thread-safe)."""
        self.stats.exit_reason = self.stats.exit_reason or reason
        self._stop.set()

    def close(self) -> None:
        """Release the server's port when ``run()`` will not be called (``run()`` does this itself)."""
        if self.publisher is not None:
            self.publisher.close()

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> LoopStats:
        """Run until end of file, ``--max-frames``, q, a signal, ``stop()`` or a lost source. Once per
        loop."""
        if self._ran:
            raise EdgesegError("a CameraLoop runs once; create a new one for another run")
        self._ran = True
        stats, stop, opts, n = self.stats, self._stop, self.options, len(self.sources)
        qsize = max(int(opts.queue_size), 1)
        shared = threading.Condition()
        raws = [
            Channel(1, latest=True, name=f"raw{i}", cond=shared)
            if self.live
            else Channel(qsize, name=f"raw{i}", cond=shared)
            for i in range(n)
        ]
        ready = Channel(n, latest=True, name="ready") if self.live else Channel(max(2, n), name="ready")
        results = Channel(n, latest=True, name="results") if self.live else Channel(qsize * n, name="results")
        t0 = time.perf_counter()
        grabbers: list[Grabber] = []
        caps: list[Any] = []
        try:
            for src in self.sources:  # a source that will not open fails here, before any thread
                cap = self.open_capture(src)
                caps.append(cap)
                if not cap.isOpened():
                    raise CaptureOpenError(
                        f"cannot open {src.describe()} (the capture reports isOpened() False)"
                    )
        except BaseException:
            for cap in caps:
                cap.release()
            self.close()
            raise
        if self.recorder is not None and opts.record_fps is None:
            self.recorder.fps = source_fps(caps[0]) or 30.0
        for i, src in enumerate(self.sources):
            grabbers.append(
                Grabber(
                    src,
                    self.open_capture,
                    raws[i],
                    self.source_stats[i],
                    stop,
                    drop_stale=self.live,
                    max_frames=opts.max_frames,
                    stale_timeout=opts.stale_timeout,
                    reconnect_timeout=opts.reconnect_timeout,
                    backoff=opts.backoff,
                    source_id=i,
                )
            )
        workers = [
            threading.Thread(
                target=self._preprocess_worker,
                args=(raws, grabbers, ready),
                name="edgeseg-preprocess",
                daemon=True,
            ),
            threading.Thread(
                target=self._infer_worker, args=(ready, results), name="edgeseg-infer", daemon=True
            ),
        ]
        window = None
        # SIGINT/SIGTERM finish the run cleanly (release, finalise, stats); a second Ctrl-C forces
        old_handlers = install_stop_signals(self.stop, self._stop) if self.handle_signals else {}
        try:
            if self.publisher is not None:
                self.publisher.dropped = lambda i: raws[i].dropped
                self.publisher.start()
                self.log(
                    f"camera: serving {self.publisher.url}"
                    + (" (token required)" if opts.serve.token else "")
                )
            for g in grabbers:
                g.start(caps.pop(0))  # the grabber owns (and releases) it now
            for w in workers:
                w.start()
            if not self.headless:
                window = self.window_factory()
            self._render_loop(results, grabbers, window, lambda: sum(r.dropped for r in raws) + ready.dropped)
        except KeyboardInterrupt:
            stats.exit_reason = stats.exit_reason or "interrupted"
        finally:
            stop.set()
            try:
                for cap in caps:
                    cap.release()
                for g in grabbers:
                    g.close()  # every capture whose read has returned is released
                for ch in (*raws, ready, results):
                    ch.close()
                for w in workers:
                    if w.is_alive():
                        w.join(60.0)  # at most one inference in flight
                if window is not None:
                    window.close()
            finally:
                for sig, handler in old_handlers.items():
                    signal.signal(sig, handler)
                for i, per in enumerate(stats.per_source):
                    per.dropped = raws[i].dropped
                stats.absorb_sources()
                stats.dropped = sum(r.dropped for r in raws) + ready.dropped
                stats.render_dropped = results.dropped
                stats.wall_s = time.perf_counter() - t0
                if self.publisher is not None:
                    self.publisher.close()  # every viewer gets a clean end of stream
                if self.stream_out is not None:
                    self.stream_out.close()
                if self.recorder is not None:
                    stats.recorded = self.recorder.frames
                    self.recorder.close()  # finish and move the video into place, whatever ended the run
        error = next((g.error for g in grabbers if g.error is not None), None) or (
            self._errors[0] if self._errors else None
        )
        if isinstance(error, SourceLostError):
            stats.exit_reason = "source lost"
            error.stats = stats
        if error is not None:
            raise error
        ends = [g.end_reason for g in grabbers if g.end_reason]
        stats.exit_reason = (
            stats.exit_reason or (ends[0] if ends else "") or self._stream_end or "end of stream"
        )
        return stats

    def _render_loop(
        self, results: Channel, grabbers: list[Grabber], window: Any, dropped: Callable[[], int]
    ) -> None:
        stats, opts, pub = self.stats, self.options, self.publisher
        paused, canvas, last, loop_rate = False, None, None, RateMeter()
        labels_by_source: list[np.ndarray | None] = [None] * len(self.sources)
        while not self._stop.is_set():
            for g in grabbers:
                g.check_stale()
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
            renderer = self.renderers[item.source]
            image = renderer.fit(item.image)
            labels = renderer.labels(item.logits, image.shape[:2])
            if not check_finite(item.logits):
                stats.nonfinite += 1
            tile = renderer.compose(image, labels)
            canvas = tile if self.mosaic is None else self.mosaic.update(item.source, tile)
            if self.recorder is not None:
                self.recorder.write(canvas)
            if self.stream_out is not None:
                self.stream_out.write(canvas)
            if self.masks is not None:
                self.masks.save(
                    item.index, labels, prefix=f"s{item.source}_" if self.mosaic is not None else ""
                )
            if self.on_render is not None:
                self.on_render(item, labels, tile)
            last = item
            hud = []
            if window is not None or pub is not None:
                e2e = stats.e2e_ms[-1] if stats.e2e_ms else 0.0
                hud = [
                    f"capture {sum(s.capture_rate.rate for s in self.source_stats):5.1f} fps  loop "
                    f"{loop_rate.rate:5.1f} fps",
                    f"infer {item.infer_ms:6.1f} ms  e2e {e2e:6.1f} ms",
                    f"{self.runner.backend} {self.runner.precision} "
                    f"{self.infer_size[1]}x{self.infer_size[0]}  dropped {dropped()}",
                ]
            if pub is not None:
                labels_by_source[item.source] = labels
                pub.frame(
                    source=item.source,
                    index=item.index,
                    t_capture=item.t_capture,
                    infer_ms=item.infer_ms,
                    labels=labels,
                    picture=canvas,
                    labels_all=labels_by_source.copy(),
                    hud=hud,
                )
            if window is not None:
                shown = canvas.copy()
                self.renderer.draw_hud(shown, hud)
                canvas = shown
                paused = self._handle_key(window.show(shown), item, shown, paused)
            done = time.perf_counter()
            loop_rate.tick(done)
            for s in (stats, *stats.per_source[item.source : item.source + 1]):
                s.note_render(done, item.t_capture)
            if opts.max_frames is not None and stats.rendered >= opts.max_frames:
                stats.exit_reason = stats.exit_reason or "max frames"
                break

    def _handle_key(self, key: int, item: Frame | None, canvas: np.ndarray | None, paused: bool) -> bool:
        return handle_key(
            key,
            index=None if item is None else item.index,
            canvas=canvas,
            paused=paused,
            stop=self.stop,
            snapshot_dir=self.options.snapshot_dir,
            log=self.log,
        )
