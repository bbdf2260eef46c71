"""Test-only HTTP clients for the camera server: a plain GET, an MJPEG reader that splits the
multipart stream by its Content-Length headers, an SSE reader, and a loop running in a thread."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any


def get(
    port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 5.0
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


class StreamReader(threading.Thread):
    """Reads ``path`` in a thread. ``kind="mjpeg"``: collects JPEG parts; ``"sse"``: collects events.
    ``ended`` is True when the server closed the stream cleanly (closing boundary / ``end`` event)."""

    def __init__(
        self, port: int, path: str, *, kind: str = "mjpeg", limit: int | None = None, timeout: float = 10.0
    ) -> None:
        super().__init__(daemon=True)
        self.port, self.path, self.kind, self.limit, self.timeout = port, path, kind, limit, timeout
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.parts: list[bytes] = []
        self.events: list[tuple[str, Any]] = []
        self.ended = False
        self.error: BaseException | None = None
        self.connected = threading.Event()
        self.got_one = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            conn.request("GET", self.path)
            r = conn.getresponse()
            self.status, self.headers = r.status, {k.lower(): v for k, v in r.getheaders()}
            self.connected.set()
            if r.status != 200:
                r.read()
                return
            (self._mjpeg if self.kind == "mjpeg" else self._sse)(r)
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            self.error = e
        finally:
            self.connected.set()
            conn.close()

    def _mjpeg(self, r: Any) -> None:
        boundary = self.headers["content-type"].split("boundary=")[1].encode()
        while self.limit is None or len(self.parts) < self.limit:
            line = r.readline()
            if not line:
                return  # closed without the closing boundary
            line = line.strip()
            if not line:
                continue
            if line == b"--" + boundary + b"--":
                self.ended = True
                return
            assert line == b"--" + boundary, line
            head = {}
            while True:
                h = r.readline().strip()
                if not h:
                    break
                k, _, v = h.decode().partition(":")
                head[k.strip().lower()] = v.strip()
            self.parts.append(r.read(int(head["content-length"])))
            self.got_one.set()

    def _sse(self, r: Any) -> None:
        event, data = "message", []
        while self.limit is None or len(self.events) < self.limit:
            line = r.readline()
            if not line:
                return
            line = line.decode().rstrip("\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                self.events.append((event, json.loads("\n".join(data))))
                self.got_one.set()
                if event == "end":
                    self.ended = True
                    return
                event, data = "message", []


class LoopThread(threading.Thread):
    """Runs ``loop.run()`` in a thread; ``stats`` or ``error`` afterwards."""

    def __init__(self, loop: Any) -> None:
        super().__init__(daemon=True)
        self.loop, self.stats, self.error = loop, None, None

    def run(self) -> None:
        try:
            self.stats = self.loop.run()
        except BaseException as e:  # noqa: BLE001
            self.error = e
