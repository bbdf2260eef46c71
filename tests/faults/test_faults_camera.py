"""Issue 8, fault table 7: CAMERAS (issue row 14) through the real ``edgeseg camera`` (headless, in
this process, real OpenCV):

- a camera that cannot be opened: one-line error naming the source and OpenCV's video backends,
  nothing recorded;
- a camera that stops mid-run: a real HTTP video stream served from this process that ends, comes
  back once, then is gone; edgeseg reconnects with exponential backoff (seen from the server), gives
  up after --reconnect-timeout with exit 2, and the recording is finalised and playable;
- corrupt frames: the real clip read through the real capture, with three frames replaced by
  corrupt ones (wrong dtype, gray, other size) by a wrapper: skipped and counted, the rest recorded;
- end of file: clean exit 0 with the stats printed and written.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from faults_table import check_error_line, params, run_cli

N_FRAMES = 12


def _clip(path: Path, image: Path) -> Path:
    """N_FRAMES frames of 64x96 (a dataset image, shifted a little each frame) as an MJPG .avi."""
    import cv2

    base = cv2.resize(cv2.imread(str(image)), (96, 64))
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (96, 64))
    if not w.isOpened():
        pytest.skip("this OpenCV cannot write MJPG .avi files")
    for i in range(N_FRAMES):
        w.write(np.roll(base, 4 * i, axis=1))
    w.release()
    return path


def _frames(path: Path) -> int:
    import cv2

    cap, n = cv2.VideoCapture(str(path)), 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def _stats(work: Path) -> dict:
    return json.loads((work / "stats.json").read_text())


@dataclass(frozen=True)
class CameraRow:
    id: str
    plant: Callable  # (work, artifacts, stack) -> argv after "camera MODEL"; stack: ExitStack for servers
    code: int
    check: Callable  # (work, out, err) -> None
    issue_rows: tuple[int, ...] = (14,)
    patch: Callable | None = None  # (monkeypatch, work) -> None


# ---- cannot be opened --------------------------------------------------------------------------------


def plant_unopenable(spec):
    def plant(work, a, stack):
        device = spec if spec.startswith("/dev/") else f"/dev/video{spec}"
        if Path(device).exists():
            pytest.skip(f"{device} exists on this machine")
        return ["--source", spec, "--record", "rec.avi", "--stats", "stats.json"]

    return plant


def check_unopenable(kind, spec):
    def check(work, out, err):
        line = check_error_line(
            err,
            "camera",
            rf"cannot open {kind} source '{re.escape(spec)}' \(via [^)]+\); OpenCV "
            r"\S+ video backends: GStreamer (yes|no), V4L2 (yes|no), FFMPEG (yes|no); "
            r"check the device exists",
            code=2,
        )
        print(line)
        assert not (work / "rec.avi").exists() and not (work / "stats.json").exists()
        assert not [p for p in work.iterdir() if p.name.startswith(".")]

    return check


# ---- stops mid-run: an HTTP stream that ends, comes back once, then is gone -----------------------------


class _Camera(http.server.BaseHTTPRequestHandler):
    clip: bytes = b""
    connections: list[float] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        self.connections.append(time.monotonic())
        if len(self.connections) > 2:  # the camera is gone
            self.send_error(503)
            return
        self.send_response(200)
        self.send_header("Content-Type", "video/x-msvideo")
        self.send_header("Content-Length", str(len(self.clip)))
        self.end_headers()
        self.wfile.write(self.clip)

    def log_message(self, *args):
        pass


def plant_stream(work, a, stack):
    handler = type(
        "Camera", (_Camera,), {"clip": _clip(work / "clip.avi", a.image).read_bytes(), "connections": []}
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack.callback(server.server_close)
    stack.callback(server.shutdown)
    _STREAMS[str(work)] = handler  # check_stream reads the server's connection times
    url = f"http://127.0.0.1:{server.server_address[1]}/cam.avi"
    return [
        "--source",
        url,
        "--every-frame",
        "--reconnect-timeout",
        "1.5",
        "--record",
        "rec.avi",
        "--stats",
        "stats.json",
    ]


_STREAMS: dict[str, type] = {}


def check_stream(work, out, err):
    print(
        check_error_line(
            err,
            "camera",
            r"url source 'http://127\.0\.0\.1:\d+/cam\.avi' stopped delivering frames and "
            r"could not be reopened within 1\.5 s \(\d+ attempts; last error: cannot open",
            code=2,
        )
    )
    s = _stats(work)
    assert s["exit_reason"] == "source lost" and s["source_faults"]["reconnects"] == 1
    assert s["frames"]["captured"] == 2 * N_FRAMES and s["frames"]["corrupt"] == 0
    assert s["frames"]["recorded"] == s["frames"]["rendered"] >= N_FRAMES
    assert _frames(work / "rec.avi") == s["frames"]["recorded"]  # finalised and playable
    assert "stopped: source lost" in out
    t = _STREAMS.pop(str(work)).connections
    gaps = np.diff(t[2:])  # between the failed reopen attempts once the stream was gone for good
    assert len(t) - 1 == s["source_faults"]["reconnect_attempts"] >= 3, t
    backoff = 0.2 * 2.0 ** np.arange(len(gaps))  # edgeseg's default: 0.2 s, doubling (sleeps never end early)
    assert len(gaps) >= 2 and (gaps >= 0.9 * backoff).all(), (
        f"no exponential backoff: gaps {gaps}, expected {backoff}"
    )


# ---- corrupt frames --------------------------------------------------------------------------------


class _Corrupting:
    """The real capture of the clip, with frames 3, 6 and 9 replaced by corrupt ones."""

    BAD = {3: lambda f: f.astype(np.float32), 6: lambda f: f[:, :, 0], 9: lambda f: f[:32, :48]}

    def __init__(self, cap):
        self.cap, self.i = cap, 0

    def read(self):
        ok, f = self.cap.read()
        self.i += 1
        return (ok, self.BAD[self.i](f)) if ok and self.i in self.BAD else (ok, f)

    def __getattr__(self, name):
        return getattr(self.cap, name)


def patch_corrupting(monkeypatch, work):
    import edgeseg.camera.pipeline as pipeline

    real = pipeline.default_open_capture
    monkeypatch.setattr(pipeline, "default_open_capture", lambda source: _Corrupting(real(source)))


def plant_clip(work, a, stack):
    return [
        "--source",
        str(_clip(work / "clip.avi", a.image)),
        "--record",
        "rec.avi",
        "--stats",
        "stats.json",
    ]


def check_corrupt(work, out, err):
    s = _stats(work)
    assert s["exit_reason"] == "end of file" and s["frames"]["corrupt"] == 3
    assert s["frames"]["captured"] == s["frames"]["rendered"] == s["frames"]["recorded"] == N_FRAMES - 3
    assert _frames(work / "rec.avi") == N_FRAMES - 3
    assert re.search(rf"corrupt 3, rendered {N_FRAMES - 3}, recorded {N_FRAMES - 3}", out), out


def check_end_of_file(work, out, err):
    s = _stats(work)
    assert s["exit_reason"] == "end of file" and s["mode"] == "every-frame"
    assert s["frames"]["captured"] == s["frames"]["rendered"] == s["frames"]["recorded"] == N_FRAMES
    assert s["frames"]["corrupt"] == s["frames"]["dropped"] == 0 and s["latency_ms"]["inference"]["p50"] > 0
    assert _frames(work / "rec.avi") == N_FRAMES
    assert re.search(r"stopped: end of file", out) and f"wrote rec.avi ({N_FRAMES} frames)" in out, out


ROWS = [
    CameraRow("camera-index-that-cannot-be-opened", plant_unopenable("9"), 2, check_unopenable("index", "9")),
    CameraRow(
        "camera-device-that-cannot-be-opened",
        plant_unopenable("/dev/video9"),
        2,
        check_unopenable("device", "/dev/video9"),
    ),
    CameraRow("camera-stream-stops-mid-run-reconnect-backoff", plant_stream, 2, check_stream),
    CameraRow(
        "camera-corrupt-frames-skipped-and-counted", plant_clip, 0, check_corrupt, patch=patch_corrupting
    ),
    CameraRow("camera-end-of-file-clean-exit-with-stats", plant_clip, 0, check_end_of_file),
]


@pytest.mark.parametrize("row", params(ROWS, kind="camera"))
def test_camera_fault(row: CameraRow, tmp_path, artifacts, capsys, monkeypatch):
    import contextlib

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with contextlib.ExitStack() as stack:
        argv = [
            "camera",
            str(artifacts.ckpt),
            *row.plant(work, artifacts, stack),
            "--headless",
            "--threads",
            "1",
        ]
        if row.patch is not None:
            row.patch(monkeypatch, work)
        capsys.readouterr()
        code, out, err = run_cli(argv, child=False, capsys=capsys)
    assert code == row.code, err
    assert "Traceback" not in err, err
    row.check(work, out, err)
