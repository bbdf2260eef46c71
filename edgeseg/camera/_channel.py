"""A bounded channel between two pipeline threads.

``Channel(maxsize)`` is a FIFO whose ``put`` waits for space (nothing is lost, order is kept:
the file mode). ``Channel(1, latest=True)`` keeps only the newest item: a ``put`` into a full
channel replaces the oldest item and counts it in ``dropped`` (the live-camera mode, so the
consumer always takes the freshest frame). ``close()`` ends the stream: ``get`` returns the items
still queued, then raises ``Closed``. Channels built with one shared ``threading.Condition``
(``cond=``) can be read together with ``get_any`` (one channel per camera, one consumer).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any


class Closed(Exception):
    """The producer closed the channel and every queued item has been taken."""


class Empty(Exception):
    """``get`` timed out with nothing queued."""


class Channel:
    def __init__(
        self, maxsize: int, *, latest: bool = False, name: str = "", cond: threading.Condition | None = None
    ) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        self.latest = latest
        self.name = name
        self.dropped = 0
        self._items: deque[Any] = deque()
        self._closed = False
        self._cond = cond or threading.Condition()

    def put(self, item: Any, stop: threading.Event | None = None, *, poll: float = 0.05) -> bool:
        """Queue ``item``. FIFO: wait for space (checking ``stop`` every ``poll`` s); latest: replace
        the oldest. Returns False when the channel is closed or ``stop`` was set (item not queued)."""
        with self._cond:
            while True:
                if self._closed or (stop is not None and stop.is_set()):
                    return False
                if len(self._items) < self.maxsize:
                    break
                if self.latest:
                    self._items.popleft()
                    self.dropped += 1
                    break
                self._cond.wait(poll)
            self._items.append(item)
            self._cond.notify_all()
            return True

    def wait_space(self, stop: threading.Event | None = None, *, poll: float = 0.05) -> bool:
        """Block until a ``put`` would not wait or drop. False when closed or stopped."""
        with self._cond:
            while len(self._items) >= self.maxsize:
                if self._closed or (stop is not None and stop.is_set()):
                    return False
                self._cond.wait(poll)
            return not self._closed

    def get(self, timeout: float | None = None) -> Any:
        """Take the oldest item; raise ``Empty`` after ``timeout`` s, ``Closed`` once closed and drained."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait_for(lambda: self._items or self._closed, timeout)
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return item
            if self._closed:
                raise Closed(self.name)
            raise Empty(self.name)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def drain(self) -> int:
        """Discard everything queued; return how many items were discarded."""
        with self._cond:
            n = len(self._items)
            self._items.clear()
            self._cond.notify_all()
            return n

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._items)


def get_any(channels: list[Channel], start: int = 0, timeout: float | None = None) -> tuple[int, Any]:
    """Take the oldest item of the first non-empty channel, looking from ``start`` round-robin
    (all channels must share one condition). Returns (channel index, item); ``Empty`` after
    ``timeout`` s; ``Closed`` once every channel is closed and drained."""
    cond = channels[0]._cond
    n = len(channels)

    def ready() -> bool:
        return any(c._items for c in channels) or all(c._closed for c in channels)

    with cond:
        if not ready():
            cond.wait_for(ready, timeout)
        for k in range(n):
            i = (start + k) % n
            if channels[i]._items:
                item = channels[i]._items.popleft()
                cond.notify_all()
                return i, item
        if all(c._closed for c in channels):
            raise Closed("all")
        raise Empty("all")
