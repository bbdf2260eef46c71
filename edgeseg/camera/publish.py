"""What the camera loop shows a browser or a robot: per-frame metadata and the live numbers.

``Publisher`` owns the ``FrameHub`` and the ``StreamServer`` (bound when it is made, so a port in
use fails before the camera opens). The render thread calls ``frame(...)`` once per rendered
frame: it builds the frame's metadata (source, frame index, wall-clock capture and publish times,
inference and end-to-end latency, the share of pixels of each class) and hands the picture to the
hub -- no encoding, no I/O on the loop's thread. ``status()`` is the ``/stats.json`` body, read by
server threads: live numbers over the last ``RECENT`` frames (default 300).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from edgeseg.camera.hub import FrameHub
from edgeseg.camera.page import render_page
from edgeseg.camera.serve import DEFAULT_HOST, DEFAULT_MAX_CLIENTS, DEFAULT_SEND_TIMEOUT, StreamServer
from edgeseg.camera.stats import LoopStats, recent

RECENT = 300


@dataclass(frozen=True)
class ServeOptions:
    """``--serve`` settings. Defaults: 127.0.0.1 (this machine only), no token, 8 streaming clients,
    5 s send timeout, JPEG quality 80, label maps kept for ``/labels.png`` and ``/events?labels=1``."""

    host: str = DEFAULT_HOST
    port: int = 8080
    token: str | None = None
    max_clients: int = DEFAULT_MAX_CLIENTS
    send_timeout: float = DEFAULT_SEND_TIMEOUT
    jpeg_quality: int = 80
    labels: bool = True


class Publisher:
    def __init__(
        self,
        options: ServeOptions,
        *,
        runner: Any,
        sources: Sequence[str],
        stats: LoopStats,
        source_stats: Sequence[LoopStats],
        infer_size: tuple[int, int],
        draw_hud: Callable[[np.ndarray, Sequence[str]], None] | None = None,
    ) -> None:
        if not 1 <= options.jpeg_quality <= 100:
            from edgeseg.errors import EdgesegError

            raise EdgesegError(f"--jpeg-quality must be in 1..100, found {options.jpeg_quality}")
        self.options, self.runner, self.card = options, runner, runner.card
        self.sources, self.stats, self.source_stats = list(sources), stats, list(source_stats)
        self.infer_size = infer_size
        self.dropped: Callable[[int], int] = lambda i: 0  # per-source dropped frames, set by the loop
        self._epoch = time.time() - time.perf_counter()  # perf_counter -> wall clock
        self.hub = FrameHub(jpeg_quality=options.jpeg_quality, draw_hud=draw_hud)
        path = getattr(runner, "path", None)
        self.model_name = getattr(path, "name", None) or str(path or self.card.arch)
        self.server = StreamServer(
            self.hub,
            host=options.host,
            port=options.port,
            token=options.token,
            max_clients=options.max_clients,
            send_timeout=options.send_timeout,
            status=self.status,
            page=render_page(title=self.model_name),
        )

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        self.server.start()

    def close(self) -> None:
        """Clean end of every stream, then the port is released."""
        self.server.close()

    def frame(
        self,
        *,
        source: int,
        index: int,
        t_capture: float,
        infer_ms: float,
        labels: np.ndarray,
        picture: np.ndarray,
        labels_all: Sequence[np.ndarray] = (),
        hud: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Publish one rendered frame (render thread). Returns its metadata."""
        now = time.perf_counter()
        counts = np.bincount(labels.ravel(), minlength=self.card.num_classes)[: self.card.num_classes]
        total = max(int(labels.size), 1)
        meta = {
            "source": source,
            "frame": index,
            "t_capture": round(self._epoch + t_capture, 6),
            "t_published": round(self._epoch + now, 6),
            "infer_ms": round(infer_ms, 3),
            "e2e_ms": round((now - t_capture) * 1000.0, 3),
            "size": [int(labels.shape[0]), int(labels.shape[1])],
            "areas": {name: round(int(c) / total, 5) for name, c in zip(self.card.class_names, counts)},
        }
        self.hub.publish(picture, meta, labels=labels_all if self.options.labels else (), hud=hud)
        return meta

    def status(self) -> dict[str, Any]:
        """The ``/stats.json`` body (server threads): model card facts, live loop and source numbers."""
        card, s = self.card, self.stats
        return {
            "running": not self.hub.closed,
            "model": {
                "name": self.model_name,
                "arch": card.arch,
                "backend": self.runner.backend,
                "precision": self.runner.precision,
                "input_size": list(self.infer_size),
                "class_names": list(card.class_names),
                "palette": [list(c) for c in card.palette],
            },
            "loop": {
                "mode": s.mode,
                "fps": round(s.render_rate.rate, 3),
                "rendered": s.rendered,
                "inferred": s.inferred,
                "captured": sum(x.captured for x in self.source_stats),
                "dropped": sum(self.dropped(i) for i in range(len(self.sources))),
                "e2e_ms": recent(s.e2e_ms, RECENT),
                "infer_ms": recent(s.infer_ms, RECENT),
            },
            "sources": [
                {
                    "source": spec,
                    "fps": round(x.render_rate.rate, 3),
                    "captured": x.captured,
                    "rendered": x.rendered,
                    "dropped": self.dropped(i),
                    "corrupt": x.corrupt,
                    "stalls": x.stalls,
                    "reconnects": x.reconnects,
                    "e2e_ms": recent(x.e2e_ms, RECENT),
                }
                for i, (spec, x) in enumerate(zip(self.sources, self.source_stats))
            ],
        }
