"""The camera loop's HTTP server: an MJPEG stream, a live page, JSON and Server-Sent Events.

Built on the standard library's ``http.server.ThreadingHTTPServer`` (one thread per connection;
no HTTP parsing of our own). Endpoints (all GET; with a token, every one needs ``?token=T`` or
the header ``X-Edgeseg-Token: T`` or ``Authorization: Bearer T``):

=================  ===========================================================================
``/``              the live page (stream, FPS, latency p50/p99, dropped, class-area bars, card)
``/stream.mjpg``   ``multipart/x-mixed-replace`` JPEG stream of the rendered overlay (mosaic)
``/frame.jpg``     the newest picture, once
``/stats.json``    model card facts, live loop and per-source numbers, the newest frame's metadata
``/events``        ``text/event-stream``: one ``frame`` event per rendered frame (JSON metadata);
                   ``?labels=1`` adds the label map as base64 PNG; an ``end`` event at the end
``/labels.png``    the newest label map (class ids as uint8 PNG; ``?source=N``)
=================  ===========================================================================

Streams (MJPEG and events) are bounded by ``max_clients`` (default 8; one more gets 503); any
connection beyond ``max_clients + 8`` is closed unanswered. Every socket has a ``send_timeout``
(default 5 s) and a 256 KiB send buffer: a client that stops reading is dropped, the loop never
waits for it, and a slow client is not fed seconds-old frames queued in the kernel. The server
binds in ``StreamServer(...)`` so a port in use is an error before the camera opens.
"""

from __future__ import annotations

import base64
import hmac
import json
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from edgeseg.camera.hub import FrameHub
from edgeseg.errors import EdgesegError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAX_CLIENTS = 8
DEFAULT_SEND_TIMEOUT = 5.0
EXTRA_CONNECTIONS = 8  # short requests (page, JSON) allowed beside the streams
BOUNDARY = "edgesegframe"
SEND_BUFFER = 256 * 1024  # bytes of kernel send buffer per client (Linux doubles it)


class ServeError(EdgesegError):
    """The stream server cannot start (bad address, port in use, not allowed)."""


def parse_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` -> (host, port); the host defaults to 127.0.0.1 (this machine only).
    ``0.0.0.0:8080`` serves every interface; ``[::1]:8080`` an IPv6 host; port 0 picks a free one."""
    text = str(text).strip()
    host, sep, port = text.rpartition(":")
    if not sep:
        host = ""
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not port.isdigit() or not 0 <= int(port) <= 65535 or (sep and not host):
        raise ServeError(
            f"--serve expects [HOST:]PORT with PORT in 0..65535, e.g. 8080 or 0.0.0.0:8080, found {text!r}"
        )
    if any(c.isspace() or c in "/?#@" for c in host):
        raise ServeError(
            f"--serve expects [HOST:]PORT, e.g. 8080 or 0.0.0.0:8080; {host!r} is not a host name or address"
        )
    return host or DEFAULT_HOST, int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64  # listen backlog: many viewers (re)connecting at once are not refused

    def __init__(self, addr: tuple[str, int], handler: type, *, family: int) -> None:
        self.address_family = family
        super().__init__(addr, handler)
        self.app: StreamServer | None = None
        self._active = 0
        self._active_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        app = self.app
        with self._active_lock:
            full = app is not None and self._active >= app.max_clients + EXTRA_CONNECTIONS
            if not full:
                self._active += 1
        if full:
            app.refused += 1
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._active_lock:
                self._active -= 1


class StreamServer:
    """Bind at construction (errors are ``ServeError``), ``start()`` serves in a thread, ``close()``
    ends every stream cleanly and stops. ``status()`` returns the ``/stats.json`` body; ``page``
    is the HTML of ``/``."""

    def __init__(
        self,
        hub: FrameHub,
        *,
        host: str = DEFAULT_HOST,
        port: int = 8080,
        token: str | None = None,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        send_timeout: float = DEFAULT_SEND_TIMEOUT,
        status: Callable[[], dict[str, Any]] | None = None,
        page: str = "",
    ) -> None:
        if max_clients < 1:
            raise ServeError(f"--max-clients must be >= 1, found {max_clients}")
        if not send_timeout > 0:
            raise ServeError(f"--send-timeout must be > 0 seconds, found {send_timeout}")
        if token is not None and not token.strip():
            raise ServeError("--token is empty; give a secret string or leave --token out")
        self.hub, self.token, self.max_clients, self.send_timeout = (
            hub,
            token,
            int(max_clients),
            float(send_timeout),
        )
        self.status = status or (lambda: {})
        self.page = page
        self.streams = 0  # streaming clients now
        self.served = 0  # streaming clients ever accepted
        self.busy = 0  # streams refused with 503 (bound reached)
        self.refused = 0  # connections closed unanswered (over max_clients + 8)
        self.dropped = 0  # streams dropped because the client stopped reading (send timeout / reset)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        handler = type("Handler", (_Handler,), {"timeout": self.send_timeout})
        try:
            self.httpd = _Server((host, port), handler, family=family)
        except PermissionError as e:
            raise ServeError(
                f"cannot serve on {host}:{port}: not allowed ({e.strerror}; ports below 1024 need root)"
            ) from None
        except OSError as e:
            why = "port in use" if e.errno in (98, 48, 10048) else (e.strerror or str(e))
            raise ServeError(f"cannot serve on {host}:{port}: {why}") from None
        self.httpd.app = self
        self.host, self.port = self.httpd.server_address[:2]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="edgeseg-serve", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """End every stream (clients get a clean end), stop accepting, release the port."""
        self.hub.close()
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(5.0)
        self.httpd.server_close()

    def counters(self) -> dict[str, int]:
        return {
            "streams": self.streams,
            "served": self.served,
            "busy": self.busy,
            "refused": self.refused,
            "dropped": self.dropped,
            "max_clients": self.max_clients,
        }

    def _enter_stream(self) -> bool:
        with self._lock:
            if self.streams >= self.max_clients:
                self.busy += 1
                return False
            self.streams += 1
            self.served += 1
            return True

    def _leave_stream(self, dropped: bool) -> None:
        with self._lock:
            self.streams -= 1
            self.dropped += int(dropped)


class _Handler(BaseHTTPRequestHandler):
    server_version = "edgeseg"
    sys_version = ""
    timeout = DEFAULT_SEND_TIMEOUT  # per-socket timeout: reads and sends (set per server)

    def setup(self) -> None:
        super().setup()
        try:  # a small kernel send buffer: a slow viewer gets the newest frame, not seconds of queued ones
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        except OSError:  # pragma: no cover - best effort
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the loop prints its own stats
        pass

    @property
    def app(self) -> StreamServer:
        return self.server.app  # type: ignore[attr-defined]

    def do_GET(self) -> None:  # noqa: N802 - http.server's spelling
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if not self._authorised(query):
            self._send(
                HTTPStatus.UNAUTHORIZED,
                b"token required: add ?token=... or the X-Edgeseg-Token header\n",
                "text/plain",
            )
            return
        route = {
            "/": self._page,
            "/index.html": self._page,
            "/stream.mjpg": self._mjpeg,
            "/frame.jpg": self._frame,
            "/stats.json": self._stats,
            "/events": self._events,
            "/labels.png": self._labels,
        }.get(url.path)
        if route is None:
            self._send(
                HTTPStatus.NOT_FOUND,
                b"not found; try / /stream.mjpg /frame.jpg /stats.json /events /labels.png\n",
                "text/plain",
            )
            return
        try:
            route(query)
        except (OSError, ValueError):  # the client went away or stopped reading: nothing to answer
            self.close_connection = True

    def _authorised(self, query: dict[str, list[str]]) -> bool:
        token = self.app.token
        if token is None:
            return True
        given = (query.get("token") or [""])[0] or self.headers.get("X-Edgeseg-Token", "")
        auth = self.headers.get("Authorization", "")
        if not given and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return hmac.compare_digest(given.encode(), token.encode())

    def _send(self, status: HTTPStatus, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _page(self, query: dict[str, list[str]]) -> None:
        self._send(HTTPStatus.OK, self.app.page.encode(), "text/html; charset=utf-8")

    def _stats(self, query: dict[str, list[str]]) -> None:
        body = dict(self.app.status())
        body["server"] = self.app.counters()
        latest = self.app.hub.latest()
        body["frame"] = latest.meta if latest is not None else None
        self._send(HTTPStatus.OK, json.dumps(body).encode(), "application/json")

    def _frame(self, query: dict[str, list[str]]) -> None:
        latest = self.app.hub.latest()
        if latest is None:
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"no frame yet\n", "text/plain", {"Retry-After": "1"})
            return
        self._send(HTTPStatus.OK, self.app.hub.jpeg(latest), "image/jpeg", {"X-Edgeseg-Seq": str(latest.seq)})

    def _labels(self, query: dict[str, list[str]]) -> None:
        latest = self.app.hub.latest()
        src = (query.get("source") or ["0"])[0]
        png = self.app.hub.labels_png(latest, int(src)) if latest is not None and src.isdigit() else None
        if png is None:
            self._send(HTTPStatus.NOT_FOUND, b"no label map for that source yet\n", "text/plain")
            return
        self._send(HTTPStatus.OK, png, "image/png", {"X-Edgeseg-Seq": str(latest.seq)})

    def _stream(self, ctype: str, body: Callable[[], None]) -> None:
        app = self.app
        if not app._enter_stream():
            self._send(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"too many clients (--max-clients {app.max_clients})\n".encode(),
                "text/plain",
                {"Retry-After": "5"},
            )
            return
        dropped = True
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", ctype)
            self.send_header("Cache-Control", "no-store, no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            body()
            dropped = False
        finally:
            self.close_connection = True
            app._leave_stream(dropped)

    def _mjpeg(self, query: dict[str, list[str]]) -> None:
        hub = self.app.hub

        def body() -> None:
            seq = 0
            while True:
                try:
                    item = hub.wait_newer(seq, timeout=1.0)
                except TimeoutError:
                    continue
                if item is None:  # end of stream: the closing boundary, then the connection closes
                    self.wfile.write(f"--{BOUNDARY}--\r\n".encode())
                    return
                seq = item.seq
                jpeg = hub.jpeg(item)
                head = (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: "
                    f"{len(jpeg)}\r\nX-Edgeseg-Seq: {seq}\r\n\r\n"
                )
                self.wfile.write(head.encode() + jpeg + b"\r\n")

        self._stream(f"multipart/x-mixed-replace; boundary={BOUNDARY}", body)

    def _events(self, query: dict[str, list[str]]) -> None:
        hub, with_labels = self.app.hub, (query.get("labels") or ["0"])[0] not in ("0", "", "false")

        def body() -> None:
            latest = hub.latest()
            seq = latest.seq - 1 if latest is not None else 0
            self.wfile.write(b"retry: 1000\n\n")
            while True:
                got = hub.metas_after(seq, timeout=2.0)
                if got is None:
                    self.wfile.write(b"event: end\ndata: {}\n\n")
                    return
                metas, skipped = got
                if not metas:
                    self.wfile.write(b": keep-alive\n\n")  # lets a dead client be noticed
                    continue
                chunks = []
                for m in metas:
                    m = dict(m, skipped=skipped) if skipped else m
                    if with_labels and m is metas[-1]:
                        item = hub.latest()
                        png = (
                            hub.labels_png(item, int(m.get("source", 0)))
                            if item is not None and item.seq == m["seq"]
                            else None
                        )
                        if png is not None:
                            m = dict(m, labels_png=base64.b64encode(png).decode())
                    chunks.append(f"id: {m['seq']}\nevent: frame\ndata: {json.dumps(m)}\n\n")
                    skipped = 0
                seq = metas[-1]["seq"]
                self.wfile.write("".join(chunks).encode())

        self._stream("text/event-stream", body)
