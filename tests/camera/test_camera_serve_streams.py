"""``--serve``: the streams of the HTTP server inside the camera loop. A source that ends or dies with
clients connected, Ctrl-C with clients connected, a client that stops reading, the MJPEG stream
decoding with cv2 (and through cv2.VideoCapture), the JSON / SSE metadata matching what the loop
rendered, and no encoding without viewers. Access rules are test_camera_serve.py."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import numpy as np
import pytest

from camera_fakes import FakeCapture, FakeOpener, SlowRunner, gray
from camera_http import LoopThread, StreamReader, get
from camera_media import N_FRAMES, SIZE
from edgeseg.camera.capture import SourceLostError
from edgeseg.camera.pipeline import CameraLoop, CameraOptions
from edgeseg.camera.publish import ServeOptions
from edgeseg.cli import main
from serve_helpers import gate_until_streams, port_free, serve_opts, wait_for


def test_file_ends_with_clients_connected_clean_end_and_exit_0(runner, tiny_checkpoint, clip, capsys):
    ref: list = []
    loop = CameraLoop(
        SlowRunner(runner, 0.02),
        str(clip),
        serve_opts(),
        on_render=gate_until_streams(ref, 2),
        handle_signals=False,
    )
    ref.append(loop)
    t = LoopThread(loop)
    t.start()
    port = loop.publisher.server.port
    mj, ev = StreamReader(port, "/stream.mjpg"), StreamReader(port, "/events", kind="sse")
    mj.start(), ev.start()
    t.join(20)
    mj.join(5), ev.join(5)
    assert t.error is None and t.stats.exit_reason == "end of file" and t.stats.rendered == N_FRAMES
    assert mj.ended and mj.error is None and len(mj.parts) >= 1  # the closing boundary arrived
    assert ev.ended and ev.events[-1][0] == "end"
    frames = [m["frame"] for e, m in ev.events if e == "frame"]
    assert frames == sorted(frames) and frames[-1] == N_FRAMES - 1  # every frame's numbers, to the last one
    assert port_free(port)  # the listening socket was closed
    # the command: exit 0 for a file, with the server on
    assert (
        main(
            [
                "camera",
                str(tiny_checkpoint),
                "--source",
                str(clip),
                "--headless",
                "--threads",
                "1",
                "--serve",
                "0",
            ]
        )
        == 0
    )
    assert "serving http://127.0.0.1:" in capsys.readouterr().err


def test_camera_that_dies_ends_every_stream_cleanly(runner):
    cam = FakeCapture([gray(i) for i in range(30)], interval=0.02)  # then read() fails; no reopen works
    ref: list = []
    opts = CameraOptions(
        headless=True, serve=ServeOptions(port=0), reconnect_timeout=0.2, backoff=(0.05, 0.1)
    )
    loop = CameraLoop(
        runner,
        "0",
        opts,
        open_capture=FakeOpener([cam]),
        on_render=gate_until_streams(ref, 2),
        handle_signals=False,
    )
    ref.append(loop)
    t = LoopThread(loop)
    t.start()
    mj, ev = (
        StreamReader(loop.publisher.server.port, "/stream.mjpg"),
        StreamReader(loop.publisher.server.port, "/events", kind="sse"),
    )
    mj.start(), ev.start()
    t.join(20)
    mj.join(5), ev.join(5)
    assert isinstance(t.error, SourceLostError)
    assert mj.ended and ev.ended and mj.error is None and ev.error is None
    assert cam.released.is_set()


def test_ctrl_c_with_clients_connected(runner):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers need the main thread")
    live = FakeCapture(lambda i: gray(i), count=None, interval=0.01)
    loop = CameraLoop(runner, "0", serve_opts(), open_capture=FakeOpener([live]))
    port = loop.publisher.server.port
    readers = [
        StreamReader(port, "/stream.mjpg"),
        StreamReader(port, "/stream.mjpg"),
        StreamReader(port, "/events", kind="sse"),
    ]

    def connect_then_interrupt():
        for r in readers:
            r.start()
        if all(r.got_one.wait(5) for r in readers):
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=connect_then_interrupt, daemon=True).start()
    stats = loop.run()
    for r in readers:
        r.join(5)
    assert stats.exit_reason == "SIGINT" and live.released.is_set()
    assert all(r.ended and r.error is None for r in readers)
    assert port_free(port)


def test_mjpeg_decodes_with_cv2_and_json_sse_carry_the_frame_metadata(runner, clip):
    import cv2

    rendered = {}
    ref: list = []
    gate = gate_until_streams(ref, 2)

    def on_render(frame, labels, canvas):
        rendered[frame.index] = (labels.copy(), canvas.copy())
        gate(frame, labels, canvas)

    loop = CameraLoop(
        SlowRunner(runner, 0.02),
        str(clip),
        CameraOptions(headless=True, legend=False, hud=False, serve=ServeOptions(port=0, jpeg_quality=95)),
        on_render=on_render,
        handle_signals=False,
    )
    ref.append(loop)
    t = LoopThread(loop)
    t.start()
    port = loop.publisher.server.port
    mj, ev = StreamReader(port, "/stream.mjpg"), StreamReader(port, "/events?labels=1", kind="sse")
    mj.start(), ev.start()
    assert wait_for(lambda: loop.stats.rendered >= 3)
    status, headers, body = get(port, "/stats.json")
    t.join(20), mj.join(5), ev.join(5)
    assert status == 200 and headers["content-type"] == "application/json"
    import json

    d = json.loads(body)
    assert d["model"]["backend"] == "torch" and d["model"]["input_size"] == list(SIZE)
    assert d["model"]["class_names"] == list(runner.card.class_names)
    assert {"fps", "e2e_ms", "infer_ms", "dropped", "rendered"} <= set(d["loop"]) and d["loop"]["e2e_ms"][
        "p99"
    ] > 0
    assert d["frame"]["frame"] in rendered and d["sources"][0]["source"] == str(clip)
    # MJPEG: every part is a JPEG of the rendered canvas
    assert len(mj.parts) >= 2
    pics = [cv2.imdecode(np.frombuffer(p, np.uint8), cv2.IMREAD_COLOR) for p in mj.parts]
    assert all(p is not None and p.shape == (*SIZE, 3) for p in pics)

    def diff(a, b):
        return np.abs(cv2.blur(a, (5, 5)).astype(int) - cv2.blur(b, (5, 5)).astype(int)).mean()

    nearest = min(rendered, key=lambda i: diff(pics[-1], rendered[i][1]))
    assert (
        nearest == N_FRAMES - 1 and diff(pics[-1], rendered[nearest][1]) < 6
    )  # the newest frame, not a stale or blank one
    # SSE: one event per rendered frame, with timestamps, latency, class areas and the label map
    metas = [m for e, m in ev.events if e == "frame"]
    assert [m["seq"] for m in metas] == list(range(metas[0]["seq"], metas[0]["seq"] + len(metas)))
    for m in metas:
        labels = rendered[m["frame"]][0]
        counts = np.bincount(labels.ravel(), minlength=11)
        for i, name in enumerate(runner.card.class_names):
            assert m["areas"][name] == pytest.approx(counts[i] / labels.size, abs=1e-4)
        assert m["t_published"] >= m["t_capture"] > time.time() - 60 and m["e2e_ms"] >= m["infer_ms"] > 0
    with_png = [m for m in metas if "labels_png" in m]
    assert with_png
    import base64

    lab = cv2.imdecode(
        np.frombuffer(base64.b64decode(with_png[-1]["labels_png"]), np.uint8), cv2.IMREAD_UNCHANGED
    )
    assert (lab == rendered[with_png[-1]["frame"]][0]).all()


def test_client_that_stops_reading_is_dropped_and_the_loop_keeps_going(runner):
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(4)]  # ~250 KB JPEGs
    live = FakeCapture(lambda i: noise[i % 4], count=None, interval=0.005)
    loop = CameraLoop(
        runner, "0", serve_opts(send_timeout=0.3), open_capture=FakeOpener([live]), handle_signals=False
    )
    t = LoopThread(loop)
    t.start()
    port = loop.publisher.server.port
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", port))
    stuck.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")  # ... and never reads
    try:
        assert wait_for(lambda: loop.publisher.server.served >= 1)
        assert wait_for(lambda: loop.publisher.server.dropped >= 1, 15)
        assert loop.publisher.server.streams == 0
        before = loop.stats.rendered
        assert wait_for(lambda: loop.stats.rendered > before + 3)  # the loop never waited for it
    finally:
        stuck.close()
        loop.stop()
        t.join(10)
    assert t.error is None


def test_publishing_costs_the_loop_no_encoding_without_viewers(runner, clip):
    loop = CameraLoop(runner, str(clip), serve_opts(), handle_signals=False)
    stats = loop.run()
    assert stats.rendered == N_FRAMES and loop.publisher.hub.encoded == 0  # JPEGs are made by viewers only
    assert loop.publisher.hub.latest().seq == N_FRAMES


def test_opencv_videocapture_opens_the_mjpeg_url(runner):
    import cv2

    cam = FakeCapture(lambda i: gray(10 * i), count=None, interval=0.02)
    loop = CameraLoop(
        runner, "0", serve_opts(token="t"), open_capture=FakeOpener([cam]), handle_signals=False
    )
    t = LoopThread(loop)
    t.start()
    try:
        assert wait_for(lambda: loop.stats.rendered >= 1)
        cap = cv2.VideoCapture(f"{loop.publisher.url}stream.mjpg?token=t", cv2.CAP_FFMPEG)
        if not cap.isOpened():
            pytest.skip("this OpenCV's FFmpeg does not open http MJPEG streams")
        frames = [cap.read() for _ in range(3)]
        cap.release()
    finally:
        loop.stop()
        t.join(10)
    assert all(ok and f.shape == (*SIZE, 3) for ok, f in frames)
