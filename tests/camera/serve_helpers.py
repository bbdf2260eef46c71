"""Helpers of the ``--serve`` camera tests: camera options with a server on a free port, a
polling wait, a free-port check, and an ``on_render`` that holds the loop until streams connect."""

from __future__ import annotations

import socket
import time

from edgeseg.camera.pipeline import CameraOptions
from edgeseg.camera.publish import ServeOptions


def serve_opts(**serve) -> CameraOptions:
    return CameraOptions(headless=True, legend=False, serve=ServeOptions(**{"port": 0, **serve}))


def wait_for(cond, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def port_free(port: int) -> bool:
    """No socket listens on ``port`` (SO_REUSEADDR: connections in TIME_WAIT do not count, as for the
    server)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen(1)
        except OSError:
            return False
    return True


def gate_until_streams(loop_ref: list, n: int = 1):
    """on_render that holds the loop at its first frame until ``n`` streams are connected (max 5 s)."""

    def on_render(frame, labels, canvas):
        if frame.index == 0:
            wait_for(lambda: loop_ref[0].publisher.server.streams >= n)

    return on_render
