"""``--serve``: the HTTP server inside the camera loop, its access rules. Token, the 127.0.0.1
default, the client bound, connections beyond it, a port in use, and bad serve options as one line.
Streams (ends, deaths, Ctrl-C, slow clients, MJPEG and JSON/SSE contents) are
test_camera_serve_streams.py."""

from __future__ import annotations

import socket

import pytest

from camera_fakes import FakeCapture, FakeOpener, gray
from camera_http import LoopThread, StreamReader, get
from edgeseg.camera.hub import FrameHub
from edgeseg.camera.pipeline import CameraLoop
from edgeseg.camera.publish import ServeOptions
from edgeseg.camera.serve import ServeError, StreamServer, parse_address
from edgeseg.cli import main
from serve_helpers import serve_opts, wait_for


def test_bind_default_is_this_machine_only():
    assert parse_address("8080") == ("127.0.0.1", 8080)
    assert parse_address("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_address("[::1]:81") == ("::1", 81)
    assert ServeOptions().host == "127.0.0.1"
    for bad in ("http://x:80", "70000", ":80", "host:", "a b:80"):
        with pytest.raises(ServeError, match="--serve"):
            parse_address(bad)
    server = StreamServer(FrameHub(), port=0)
    try:
        assert server.httpd.server_address[0] == "127.0.0.1"
    finally:
        server.close()


def test_token_is_required_on_every_endpoint(runner):
    live = FakeCapture(lambda i: gray(i), count=None, interval=0.01)
    loop = CameraLoop(
        runner, "0", serve_opts(token="s3cret"), open_capture=FakeOpener([live]), handle_signals=False
    )
    t = LoopThread(loop)
    t.start()
    port = loop.publisher.server.port
    try:
        assert wait_for(lambda: loop.stats.rendered >= 2)
        for path in ("/", "/stats.json", "/frame.jpg", "/labels.png", "/stream.mjpg", "/events"):
            assert get(port, path)[0] == 401, path
            assert get(port, path + "?token=wrong")[0] == 401, path
        assert get(port, "/stats.json?token=s3cret")[0] == 200
        assert get(port, "/frame.jpg", {"X-Edgeseg-Token": "s3cret"})[0] == 200
        assert get(port, "/labels.png", {"Authorization": "Bearer s3cret"})[0] == 200
        page = get(port, "/?token=s3cret")[2].decode()
        assert "stream.mjpg" in page and "tiny.pt" in page
    finally:
        loop.stop()
        t.join(10)
    assert t.error is None


def test_client_bound_refuses_one_more_stream_and_frees_the_slot(runner):
    live = FakeCapture(lambda i: gray(i), count=None, interval=0.01)
    loop = CameraLoop(
        runner, "0", serve_opts(max_clients=2), open_capture=FakeOpener([live]), handle_signals=False
    )
    t = LoopThread(loop)
    t.start()
    port = loop.publisher.server.port
    a, b = StreamReader(port, "/stream.mjpg"), StreamReader(port, "/events", kind="sse")
    try:
        for r in (a, b):
            r.start()
            assert r.got_one.wait(5)
        extra = StreamReader(port, "/stream.mjpg", limit=1)
        extra.start()
        extra.join(5)
        assert extra.status == 503 and extra.headers["retry-after"] and not extra.parts
        assert get(port, "/stats.json")[0] == 200  # short requests still answered
        a.limit = len(a.parts)  # the first client leaves: its slot is free again
        a.join(5)
        assert wait_for(lambda: loop.publisher.server.streams == 1)
        c = StreamReader(port, "/stream.mjpg", limit=1)
        c.start()
        c.join(5)
        assert c.status == 200 and len(c.parts) == 1
    finally:
        loop.stop()
        t.join(10)
    assert b.ended  # clean end when the loop stopped
    assert loop.publisher.server.busy == 1 and loop.publisher.server.served == 3


def test_port_in_use_is_one_line_before_the_camera_opens(runner, tiny_checkpoint, clip, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        opener = FakeOpener([FakeCapture([gray(1)])])
        with pytest.raises(ServeError, match=f"cannot serve on 127.0.0.1:{port}: port in use"):
            CameraLoop(runner, "0", serve_opts(port=port), open_capture=opener, handle_signals=False)
        assert opener.calls == []  # the camera was never opened
        assert (
            main(["camera", str(tiny_checkpoint), "--source", str(clip), "--headless", "--serve", str(port)])
            == 2
        )
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "port in use" in err and "Traceback" not in err
    with pytest.raises(
        ServeError, match="cannot serve on 192.0.2.1:"
    ):  # an address this machine does not have
        StreamServer(FrameHub(), host="192.0.2.1", port=0)


def test_connections_beyond_the_bound_are_closed_unanswered():
    server = StreamServer(FrameHub(), port=0, max_clients=1, send_timeout=3.0)
    server.start()
    idle = []
    try:
        for _ in range(1 + 8):  # max_clients + the 8 extra: each holds a handler thread, sending nothing
            s = socket.create_connection(("127.0.0.1", server.port))
            idle.append(s)
        assert wait_for(lambda: server.httpd._active == 9)
        with socket.create_connection(("127.0.0.1", server.port), timeout=2) as s:
            s.sendall(b"GET /stats.json HTTP/1.0\r\n\r\n")
            assert s.recv(100) == b""  # closed without an answer
        assert server.refused == 1
        for s in idle:
            s.close()
        assert wait_for(lambda: server.httpd._active == 0)
        assert get(server.port, "/stats.json")[0] == 200  # free again
    finally:
        for s in idle:
            s.close()
        server.close()


def test_port_not_allowed_and_bad_serve_options_are_one_line(tiny_checkpoint, clip, monkeypatch, capsys):
    import edgeseg.camera.serve as serve_mod

    def refuse(self, *a, **k):
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as m:
        m.setattr(serve_mod._Server, "__init__", refuse)
        with pytest.raises(
            ServeError,
            match=r"cannot serve on 127.0.0.1:80: not allowed \(Permission denied; ports below 1024 "
            r"need root\)",
        ):
            StreamServer(FrameHub(), port=80)
    for extra, match in [
        (["--serve", "http://x:80"], "--serve expects [HOST:]PORT"),
        (["--token", "t"], "--token only applies with --serve"),
        (["--serve", "0", "--token", " "], "argument --token: expected a value, found ' '"),  # at parse time
    ]:
        try:
            rc = main(["camera", str(tiny_checkpoint), "--source", str(clip), "--headless", *extra])
        except SystemExit as e:  # a parse-time refusal (argparse exits)
            rc = e.code
        assert rc == 2, extra
        err = capsys.readouterr().err
        assert match in err and err.count("\n") == 1 and "Traceback" not in err, err
