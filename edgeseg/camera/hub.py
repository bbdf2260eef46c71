"""``FrameHub``: the hand-over from the render thread to any number of viewers, without waiting.

The render thread calls ``publish(canvas, meta, labels=...)``: it stores references and wakes the
viewers, O(1) work, no encoding, no I/O. Viewer threads (HTTP clients) ask for the newest frame:
the first one to want a frame's JPEG (or label PNG) encodes it, once, under that frame's lock; the
others reuse the bytes. A viewer slower than the loop simply skips to the newest frame (what it
could not take is never queued). Per-frame metadata is also kept in a ring of the last
``history`` frames (default 256) so an event stream can send every frame's numbers even when it
skips pictures. ``close()`` ends every viewer's wait (a clean end of stream).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np


@dataclass
class Published:
    """One published picture: its sequence number, the image, per-frame metadata, the label maps."""

    seq: int
    image: np.ndarray
    meta: dict[str, Any]
    labels: Sequence[np.ndarray] = ()
    hud: Sequence[str] = ()
    _jpeg: bytes | None = None
    _pngs: dict[int, bytes] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)


class FrameHub:
    """Newest-frame hand-over; see the module docstring. ``jpeg_quality`` default 80;
    ``draw_hud(image, lines)`` draws the HUD text on the streamed copy (viewer thread, not the loop)."""

    def __init__(
        self,
        *,
        jpeg_quality: int = 80,
        history: int = 256,
        draw_hud: Callable[[np.ndarray, Sequence[str]], None] | None = None,
    ) -> None:
        self.jpeg_quality = int(jpeg_quality)
        self.draw_hud = draw_hud
        self._cond = threading.Condition()
        self._latest: Published | None = None
        self._metas: deque[dict[str, Any]] = deque(maxlen=max(int(history), 1))
        self._seq = 0
        self._closed = False
        self.encoded = 0  # JPEGs encoded (at most one per published frame)

    # -- the render thread --------------------------------------------------------------------
    def publish(
        self,
        image: np.ndarray,
        meta: dict[str, Any],
        *,
        labels: Sequence[np.ndarray] = (),
        hud: Sequence[str] = (),
    ) -> int:
        """Make ``image`` the newest frame (the hub keeps a reference: do not modify it afterwards).
        ``meta`` gets ``seq``; returns it."""
        with self._cond:
            self._seq += 1
            meta = {"seq": self._seq, **meta}
            self._latest = Published(self._seq, image, meta, tuple(labels), tuple(hud))
            self._metas.append(meta)
            self._cond.notify_all()
            return self._seq

    def close(self) -> None:
        """End of stream: every waiting viewer returns None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- viewer threads -----------------------------------------------------------------------
    def latest(self) -> Published | None:
        return self._latest

    def wait_newer(self, seq: int, timeout: float | None = None) -> Published | None:
        """The newest frame with a sequence number above ``seq``; None once closed and that viewer has the
        last frame (end of stream). Raises ``TimeoutError`` when nothing newer came within ``timeout`` s."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._closed or (self._latest is not None and self._latest.seq > seq), timeout
            )
            if self._latest is not None and self._latest.seq > seq:
                return self._latest
            if self._closed:
                return None
            raise TimeoutError

    def metas_after(self, seq: int, timeout: float | None = None) -> tuple[list[dict[str, Any]], int] | None:
        """Every kept metadata record after ``seq`` (waiting up to ``timeout`` s for one) and how many
        were skipped because they already left the ring; None once closed and everything was taken."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or self._seq > seq, timeout)
            if self._closed and self._seq <= seq:
                return None
            out = [m for m in self._metas if m["seq"] > seq]
            first = out[0]["seq"] if out else self._seq + 1
            return out, max(first - seq - 1, 0)

    def jpeg(self, item: Published) -> bytes:
        """The frame as JPEG, encoded once per frame (by whichever viewer asks first)."""
        with item._lock:
            if item._jpeg is None:
                import cv2

                image = item.image
                if item.hud and self.draw_hud is not None:
                    image = image.copy()
                    self.draw_hud(image, item.hud)
                ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
                if not ok:  # pragma: no cover - cv2 encodes any uint8 BGR image
                    raise RuntimeError("JPEG encoding failed")
                item._jpeg = buf.tobytes()
                self.encoded += 1
            return item._jpeg

    def labels_png(self, item: Published, source: int = 0) -> bytes | None:
        """Source ``source``'s label map (class ids, uint8 PNG) of this frame; None when not kept."""
        if not 0 <= source < len(item.labels):
            return None
        with item._lock:
            if source not in item._pngs:
                import cv2

                ok, buf = cv2.imencode(".png", np.ascontiguousarray(item.labels[source]))
                if not ok:  # pragma: no cover
                    raise RuntimeError("PNG encoding failed")
                item._pngs[source] = buf.tobytes()
            return item._pngs[source]
