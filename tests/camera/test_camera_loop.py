"""The loop over a real video file with a real tiny CGNet: counts, order, recording, colours, masks;
live mode with a fast fake camera: stale frames dropped, the newest one inferred; signals."""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

from camera_fakes import FakeCapture, FakeOpener, SlowRunner, gray
from camera_media import N_FRAMES, SIZE, read_all
from edgeseg.camera.pipeline import CameraLoop, CameraOptions
from edgeseg.data.image import read_label
from edgeseg.segment import segment


def _collect():
    seen = []

    def on_render(frame, labels, canvas):
        seen.append((frame.index, frame.image.copy(), labels.copy(), canvas.copy()))

    return seen, on_render


@pytest.mark.parametrize("view,alpha", [("mask", 0.5), ("overlay", 1.0)])
def test_file_every_frame_in_order_recorded_and_coloured_from_the_card(runner, clip, tmp_path, view, alpha):
    seen, on_render = _collect()
    out = tmp_path / "out.mp4"
    opts = CameraOptions(
        headless=True,
        view=view,
        alpha=alpha,
        legend=False,
        record=str(out),
        save_masks=str(tmp_path / "masks"),
    )
    stats = CameraLoop(runner, str(clip), opts, on_render=on_render, handle_signals=False).run()

    assert (stats.captured, stats.inferred, stats.rendered, stats.recorded) == (N_FRAMES,) * 4
    assert (stats.dropped, stats.corrupt, stats.unfinished) == (0, 0, 0)
    assert stats.exit_reason == "end of file" and stats.mode == "every-frame"
    assert len(stats.infer_ms) == N_FRAMES and stats.loop_fps > 0

    decoded = read_all(clip)
    assert [s[0] for s in seen] == list(range(N_FRAMES))  # file order kept
    assert all((s[1] == f).all() for s, f in zip(seen, decoded))

    palette = np.array(runner.card.palette, np.uint8)
    distinct = set()
    for _, _frame, labels, canvas in seen:
        assert (canvas == palette[labels][..., ::-1]).all()  # every pixel: the card's colour of its label
        distinct |= set(np.unique(labels).tolist())
    assert len(distinct) >= 2  # the check above compared more than one colour
    # the loop's labels are exactly what segment() gives through the same runner and card
    ref = segment(runner, [s[1] for s in seen[:3]])
    assert all((r == s[2]).all() for r, s in zip(ref, seen))

    back = read_all(out)
    assert len(back) == N_FRAMES and back[0].shape == (*SIZE, 3)
    masks = sorted(os.listdir(tmp_path / "masks"))
    assert masks == [f"{i:06d}.png" for i in range(N_FRAMES)]
    assert (read_label(tmp_path / "masks" / masks[5]) == seen[5][2]).all()


def test_max_frames_side_view_and_class_filter(runner, clip, tmp_path):
    seen, on_render = _collect()
    out = tmp_path / "side.avi"
    opts = CameraOptions(
        headless=True, view="side", classes=("road",), max_frames=5, record=str(out), legend=False
    )
    stats = CameraLoop(runner, str(clip), opts, on_render=on_render, handle_signals=False).run()
    assert (stats.captured, stats.inferred, stats.rendered) == (5, 5, 5) and stats.exit_reason == "max frames"
    back = read_all(out)
    assert len(back) == 5 and back[0].shape == (SIZE[0], 2 * SIZE[1], 3)
    road = np.array(runner.card.palette[3][::-1], np.uint8)
    for _, frame, labels, canvas in seen:
        assert (canvas[:, : SIZE[1]] == frame).all()
        right = canvas[:, SIZE[1] :]
        assert (right[labels == 3] == road).all() and (right[labels != 3] == 0).all()


def test_live_source_infers_the_newest_frame_and_counts_dropped(runner):
    # a fast fake camera (a frame every 4 ms) and a model taking 40 ms: most frames must be dropped
    std, mean = runner.card.std[2], runner.card.mean[2]
    cam = FakeCapture(lambda i: gray(i), count=10_000, interval=0.004)
    gaps, seen = [], []

    def on_infer(batch):
        value = int(round(float(batch[0, 2, 0, 0]) * std + mean))  # which grey frame this is
        gaps.append((cam.reads - 1 - value) % 256)

    slow = SlowRunner(runner, 0.04, on_infer)
    opts = CameraOptions(headless=True, max_frames=8)
    stats = CameraLoop(
        slow,
        "0",
        opts,
        open_capture=FakeOpener([cam]),
        on_render=lambda f, l, c: seen.append(f.index),
        handle_signals=False,
    ).run()
    assert stats.mode == "newest-frame" and stats.inferred == 8 and stats.exit_reason == "max frames"
    assert stats.dropped > stats.inferred  # stale frames were skipped, not queued
    assert stats.captured == stats.dropped + stats.inferred + stats.unfinished
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert (
        np.median(gaps) <= 3
    )  # inference took a frame at most a few reads old (FIFO would lag ~10 per frame)
    assert cam.released.is_set()


def test_sigterm_stops_cleanly_and_releases_the_camera(runner):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers need the main thread")
    cam = FakeCapture(lambda i: gray(i), count=None, interval=0.01)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    before = signal.getsignal(signal.SIGTERM)
    timer.start()
    try:
        stats = CameraLoop(runner, "0", CameraOptions(headless=True), open_capture=FakeOpener([cam])).run()
    finally:
        timer.cancel()
    assert stats.exit_reason == "SIGTERM" and stats.inferred >= 1
    assert cam.released.is_set()
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored


class FakeWindow:
    """Test-only stand-in for the OpenCV window: records what is shown and answers scripted keys."""

    def __init__(self, keys):
        self.keys = dict(keys)  # shown-frame number -> key
        self.shown, self.polls, self.closed = [], 0, False

    def show(self, image, wait_ms=1):
        self.shown.append(image.copy())
        return self.keys.get(len(self.shown), -1)

    def poll(self, wait_ms=10):
        self.polls += 1
        return ord(" ") if self.polls == 3 else -1  # resume after a few polls

    def close(self):
        self.closed = True


def test_keys_snapshot_pause_and_quit_with_the_hud_on_screen_only(runner, clip, tmp_path):
    win = FakeWindow({2: ord("s"), 3: ord(" "), 5: ord("q")})
    rec = tmp_path / "rec.avi"
    opts = CameraOptions(headless=False, snapshot_dir=str(tmp_path / "snaps"), record=str(rec), legend=False)
    logs = []
    stats = CameraLoop(
        runner, str(clip), opts, window_factory=lambda: win, handle_signals=False, log=logs.append
    ).run()
    assert stats.exit_reason == "quit key" and stats.rendered == 5 and win.closed
    assert win.polls >= 3  # paused after frame 3 until the third poll answered space
    snaps = sorted((tmp_path / "snaps").iterdir())
    assert [p.name for p in snaps] == ["snapshot_000001.png"] and any("saved" in m for m in logs)
    # the HUD (darkened box + text) is drawn on the shown picture, not into the recording
    recorded = read_all(rec)
    assert len(recorded) == 5
    top_left_shown = win.shown[0][:20, :40].astype(int).mean()
    top_left_recorded = recorded[0][:20, :40].astype(int).mean()
    assert abs(top_left_shown - top_left_recorded) > 10
