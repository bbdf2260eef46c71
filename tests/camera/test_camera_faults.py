"""Faults: a camera failing mid-stream (reconnect with backoff, give up, recording still valid), a
read that hangs (watchdog), a camera repeating its last frame, corrupt frames, sources that will
not open, outputs that cannot be written, unknown class names -- all before or without losing data."""

from __future__ import annotations

import os

import numpy as np
import pytest

from camera_fakes import FakeCapture, FakeOpener, SlowRunner, gray
from camera_media import read_all
from edgeseg.camera.capture import CaptureOpenError, SourceLostError, backend_facts, open_capture
from edgeseg.camera.pipeline import CameraLoop, CameraOptions
from edgeseg.camera.sources import parse_source
from edgeseg.errors import EdgesegError


def _indices():
    seen = []
    return seen, lambda frame, labels, canvas: seen.append(frame.index)


def test_camera_failing_mid_stream_reconnects_with_backoff_then_gives_up_keeping_the_recording(
    runner, tmp_path
):
    cam1 = FakeCapture([gray(10 * i) for i in range(6)], interval=0.01, name="cam1")  # then read() -> False
    cam2 = FakeCapture([gray(100 + i) for i in range(4)], interval=0.01, name="cam2")
    opener = FakeOpener(
        [cam1, None, None, cam2]
    )  # initial open, two failed reopens, one good, then only failures
    seen, on_render = _indices()
    out = tmp_path / "rec.avi"
    opts = CameraOptions(
        headless=True, legend=False, record=str(out), backoff=(0.1, 0.25), reconnect_timeout=0.8
    )
    with pytest.raises(
        SourceLostError, match=r"index source '0' stopped delivering frames.*within 0.8 s"
    ) as err:
        CameraLoop(runner, "0", opts, open_capture=opener, on_render=on_render, handle_signals=False).run()
    stats = err.value.stats
    assert stats.reconnects == 1 and stats.exit_reason == "source lost"
    assert cam1.released.is_set() and cam2.released.is_set()
    # backoff: the failed attempts after cam1 died came 0.1 s then 0.2 s apart; after cam2 died, 0.1, 0.2,
    # 0.25 ...
    gaps = np.diff(opener.calls)
    assert gaps[1] >= 0.09 and gaps[2] >= 0.18 and gaps[2] > gaps[1]
    assert max(gaps[4:]) <= 0.25 + 0.2  # capped at the maximum (plus scheduling slack)
    assert (
        5 in seen and 9 in seen
    )  # the last frame of each connection reached the screen (nothing queued lost)
    # the recording was finalised: it opens and holds exactly the frames rendered before the failure
    frames = read_all(out)
    assert len(frames) == stats.recorded == stats.rendered >= 2
    assert frames[0].shape == (64, 96, 3)


def test_read_that_hangs_trips_the_watchdog_and_the_stuck_capture_is_released_when_it_returns(runner):
    cam1 = FakeCapture([gray(i) for i in range(3)], after="block", interval=0.01)
    cam2 = FakeCapture([gray(50 + i) for i in range(3)], interval=0.01)
    opener = FakeOpener([cam1, cam2])
    seen, on_render = _indices()
    opts = CameraOptions(headless=True, stale_timeout=0.3, reconnect_timeout=0.3, backoff=(0.05, 0.1))
    loop = CameraLoop(
        runner, "/dev/video0", opts, open_capture=opener, on_render=on_render, handle_signals=False
    )
    with pytest.raises(SourceLostError) as err:
        loop.run()
    stats = err.value.stats
    assert stats.stalls == 1 and stats.reconnects == 1
    assert 5 in seen  # frames from the reopened camera were processed
    assert not cam1.released.is_set()  # never released while its read() is blocked (undefined in OpenCV)
    cam1.unblock()
    assert cam1.released.wait(2.0)  # ... but as soon as the read returns
    assert cam2.released.is_set()


def test_camera_repeating_its_last_frame_counts_as_stalled(runner):
    cam1 = FakeCapture([gray(i) for i in range(3)], after="repeat", interval=0.005)
    opener = FakeOpener([cam1])  # no reopen will work
    opts = CameraOptions(headless=True, stale_timeout=0.3, reconnect_timeout=0.2, backoff=(0.05, 0.1))
    with pytest.raises(SourceLostError) as err:
        CameraLoop(runner, "0", opts, open_capture=opener, handle_signals=False).run()
    stats = err.value.stats
    assert stats.stalls == 1 and stats.repeated > 5 and stats.reconnect_attempts >= 2
    assert cam1.released.wait(2.0)


def test_corrupt_frames_are_skipped_and_counted(runner):
    good = [gray(i * 20) for i in range(4)]
    script = [
        good[0],
        None,
        good[1],
        np.zeros((64, 96, 3), np.float32),
        np.zeros((64, 96), np.uint8),
        good[2],
        np.zeros((32, 48, 3), np.uint8),
        good[3],
    ]
    cam = FakeCapture(script)  # then read() -> False: end of "file"
    seen, on_render = _indices()
    stats = CameraLoop(
        runner,
        "recorded.mp4",
        CameraOptions(headless=True),
        open_capture=FakeOpener([cam]),
        on_render=on_render,
        handle_signals=False,
    ).run()
    assert (stats.captured, stats.corrupt, stats.inferred, stats.dropped) == (4, 4, 4, 0)
    assert seen == [0, 1, 2, 3] and stats.exit_reason == "end of file"


class _FakeVideoCaptureThatWillNotOpen:
    """Test-only: cv2.VideoCapture whose isOpened() is False (no camera there)."""

    def __init__(self, *args):
        self.args = args
        self.released = False

    def isOpened(self):  # noqa: N802
        return False

    def release(self):
        self.released = True


def test_unopenable_source_names_the_source_and_the_backends():
    made = []

    def factory(*args):
        made.append(_FakeVideoCaptureThatWillNotOpen(*args))
        return made[-1]

    with pytest.raises(CaptureOpenError) as err:
        open_capture(parse_source("/dev/video7"), factory=factory)
    msg = str(err.value)
    assert "/dev/video7" in msg and "V4L2" in msg
    for name, present in backend_facts().items():
        assert f"{name} {'yes' if present else 'no'}" in msg
    assert made[0].args == ("/dev/video7", 200) and made[0].released


def test_missing_file_and_gstreamer_without_gstreamer_fail_clearly():
    with pytest.raises(CaptureOpenError, match="no such file"):
        open_capture(parse_source("no_such_clip.mp4"))
    if backend_facts()["GStreamer"]:
        pytest.skip("this OpenCV has GStreamer")
    with pytest.raises(CaptureOpenError, match="GStreamer backend.*lacks"):
        open_capture(parse_source("csi://0"))


def test_loop_reports_an_unopenable_source_before_starting(runner):
    loop = CameraLoop(runner, "missing.mp4", CameraOptions(headless=True), handle_signals=False)
    with pytest.raises(CaptureOpenError, match="cannot open file source 'missing.mp4'"):
        loop.run()
    assert loop.stats.captured == 0 and loop.stats.inferred == 0
    opener = FakeOpener([])  # a custom opener handing back a capture that did not open
    with pytest.raises(CaptureOpenError, match="index source '0'.*isOpened"):
        CameraLoop(runner, "0", CameraOptions(headless=True), open_capture=opener, handle_signals=False).run()
    with pytest.raises(EdgesegError, match="runs once"):
        loop.run()


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda d: {"record": str(d / "no_folder" / "out.mp4")}, "does not exist"),
        (lambda d: {"record": str(d / "out.webm")}, "unsupported video type"),
        (lambda d: (d / "dir.mp4").mkdir() or {"record": str(d / "dir.mp4")}, "is a folder"),
        (lambda d: {"classes": ("road", "truck")}, "unknown class name.*'truck'.*Sky, Building"),
        (lambda d: {"size": (32, 32), "max_frames": 0}, "max-frames"),
    ],
)
def test_bad_outputs_and_options_fail_before_the_source_is_opened(runner, tmp_path, make, match):
    opener = FakeOpener([FakeCapture([gray(0)])])
    with pytest.raises(EdgesegError, match=match):
        CameraLoop(runner, "0", CameraOptions(headless=True, **make(tmp_path)), open_capture=opener).run()
    assert opener.calls == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_record_folder_fails_before_the_loop(runner, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(EdgesegError, match="not writable"):
            CameraLoop(runner, "0", CameraOptions(headless=True, record=str(ro / "x.mp4")))
    finally:
        ro.chmod(0o755)


def test_every_frame_mode_on_a_camera_drops_nothing_and_back_pressure_is_not_a_stall(runner):
    # 12 frames as fast as possible into a model taking 120 ms each: once the queues are full every
    # hand-over waits ~120 ms, longer than the 60 ms watchdog, which must not call that a silent camera
    cam = FakeCapture([gray(i) for i in range(12)])  # then read() -> False; no reopen works
    seen, on_render = _indices()
    opts = CameraOptions(
        headless=True, live=False, stale_timeout=0.06, reconnect_timeout=0.1, backoff=(0.05, 0.05)
    )
    with pytest.raises(SourceLostError) as err:
        CameraLoop(
            SlowRunner(runner, 0.12),
            "0",
            opts,
            open_capture=FakeOpener([cam]),
            on_render=on_render,
            handle_signals=False,
        ).run()
    stats = err.value.stats
    assert (stats.captured, stats.inferred, stats.dropped, stats.stalls) == (12, 12, 0, 0)
    assert seen == list(range(12))  # everything captured before the loss was still processed, in order


class _FailingRunner(SlowRunner):
    """Test-only: a runner that raises on its third frame."""

    def infer(self, batch):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 3:
            raise RuntimeError("device lost")
        return super().infer(batch)


def test_an_inference_error_stops_the_loop_releases_the_camera_and_is_raised(runner, tmp_path):
    cam = FakeCapture(lambda i: gray(i), count=None, interval=0.005)
    rec = tmp_path / "r.avi"
    with pytest.raises(RuntimeError, match="device lost"):
        CameraLoop(
            _FailingRunner(runner, 0.0),
            "0",
            CameraOptions(headless=True, record=str(rec)),
            open_capture=FakeOpener([cam]),
            handle_signals=False,
        ).run()
    assert cam.released.wait(2.0)
    assert len(read_all(rec)) >= 1  # the frames rendered before the error are a playable file
