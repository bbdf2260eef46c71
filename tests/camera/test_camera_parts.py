"""The loop's parts on their own: channels, frame checks, backend facts, display detection,
rendering (LUT colours, class filter, views), the recorder's atomic file and its probe."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edgeseg.camera._channel import Channel, Closed, Empty
from edgeseg.camera.capture import backend_facts, check_frame
from edgeseg.camera.display import gui_reason
from edgeseg.camera.record import Recorder, RecordError
from edgeseg.camera.render import Renderer, class_ids
from edgeseg.errors import EdgesegError

from camera_media import read_all


# -- channels -----------------------------------------------------------------------------------
def test_latest_channel_keeps_the_newest_and_counts_drops():
    ch = Channel(1, latest=True)
    for i in range(5):
        assert ch.put(i)
    assert ch.dropped == 4 and ch.get(0) == 4
    with pytest.raises(Empty):
        ch.get(0.01)


def test_fifo_channel_keeps_order_and_applies_back_pressure():
    ch = Channel(2)
    got = []
    go = threading.Event()

    def consume():
        go.wait(5)
        time.sleep(
            0.1
        )  # starts after t0, so nothing is taken before t0 + 0.1 s however the threads are scheduled
        while True:
            try:
                got.append(ch.get(1.0))
            except Closed:
                return

    t = threading.Thread(target=consume)
    t.start()
    t0 = time.monotonic()
    go.set()
    for i in range(5):
        assert ch.put(i)
    waited = time.monotonic() - t0
    ch.close()
    t.join(5)
    assert got == [0, 1, 2, 3, 4] and ch.dropped == 0
    assert waited >= 0.09  # the third put had to wait for the consumer


def test_closed_channel_drains_then_raises_and_stop_unblocks_put():
    ch = Channel(1)
    ch.put("a")
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    assert ch.put("b", stop) is False  # full; returned when stop was set
    ch.close()
    assert ch.get(0) == "a"
    with pytest.raises(Closed):
        ch.get(0)
    assert ch.put("c") is False


# -- frames and backends ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "frame,why",
    [
        (None, "no frame"),
        (np.zeros((4, 6, 3), np.float32), "dtype"),
        (np.zeros((4, 6), np.uint8), "shape"),
        (np.zeros((4, 6, 4), np.uint8), "shape"),
        (np.zeros((0, 6, 3), np.uint8), "shape"),
        ("not a frame", "not an array"),
    ],
)
def test_check_frame_names_the_problem(frame, why):
    assert why in check_frame(frame)


def test_check_frame_accepts_bgr_and_catches_size_change():
    f = np.zeros((4, 6, 3), np.uint8)
    assert check_frame(f) is None and check_frame(f, (4, 6)) is None
    assert "changed mid-stream" in check_frame(f, (8, 6))


BUILD = """
  GUI:                           {gui}
  Video I/O:
    FFMPEG:                      YES
      avcodec:                   YES (62.28.101)
    GStreamer:                   {gst}
    v4l/v4l2:                    YES (linux/videodev2.h)
"""


def test_backend_facts_read_build_information():
    assert backend_facts(BUILD.format(gui="QT5", gst="NO")) == {
        "GStreamer": False,
        "V4L2": True,
        "FFMPEG": True,
    }
    assert backend_facts(BUILD.format(gui="QT5", gst="YES (1.20.3)"))["GStreamer"] is True
    real = backend_facts()
    assert set(real) == {"GStreamer", "V4L2", "FFMPEG"}


def test_gui_reason_headless_builds_and_missing_display():
    assert "no GUI" in gui_reason(BUILD.format(gui="NONE", gst="NO"), env={"DISPLAY": ":0"}, platform="linux")
    assert "DISPLAY" in gui_reason(BUILD.format(gui="QT5", gst="NO"), env={}, platform="linux")
    assert (
        gui_reason(BUILD.format(gui="QT5", gst="NO"), env={"WAYLAND_DISPLAY": "wayland-0"}, platform="linux")
        is None
    )
    assert gui_reason(BUILD.format(gui="COCOA", gst="NO"), env={}, platform="darwin") is None


# -- rendering ----------------------------------------------------------------------------------
def _card():
    from edgeseg.card import ModelCard
    from edgeseg.data.datasets import CAMVID

    return ModelCard(
        arch="cgnet", num_classes=11, class_names=CAMVID.class_names, palette=CAMVID.palette, ignore_index=11
    )


def _logits_for(labels: np.ndarray, c: int = 11) -> np.ndarray:
    lg = np.zeros((1, c, *labels.shape), np.float32)
    np.put_along_axis(lg[0], labels[None].astype(np.int64), 5.0, axis=0)
    return lg


def test_class_names_resolve_case_insensitively_and_unknown_ones_list_valid_names():
    card = _card()
    assert class_ids(["road", "Car", "ROAD"], card) == (3, 8)
    with pytest.raises(EdgesegError, match="unknown class name.*'truck'.*Sky, Building, Pole, Road"):
        class_ids(["road", "truck"], card)
    with pytest.raises(EdgesegError, match="empty"):
        class_ids([" "], card)


@pytest.mark.parametrize("view", ["mask", "overlay"])
def test_mask_and_opaque_overlay_use_the_card_palette(view):
    card = _card()
    rng = np.random.default_rng(0)
    small = rng.integers(0, 11, (8, 12)).astype(np.uint8)
    frame = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
    r = Renderer(card, view=view, alpha=1.0, show_legend=False)
    labels = r.labels(_logits_for(small), frame.shape[:2])
    assert labels.shape == (32, 48) and (labels[::4, ::4] == small).all()  # nearest resize
    canvas = r.compose(frame, labels)
    want = np.array(card.palette, np.uint8)[labels][..., ::-1]  # RGB palette -> BGR image
    assert (canvas == want).all()


def test_class_filter_keeps_the_frame_elsewhere_and_side_view_doubles_width():
    card = _card()
    labels = np.zeros((16, 16), np.uint8)
    labels[8:] = 3
    frame = np.full((16, 16, 3), 77, np.uint8)
    r = Renderer(card, view="overlay", alpha=1.0, classes=(3,), show_legend=False)
    out = r.compose(frame, labels)
    assert (out[:8] == 77).all() and (out[8:] == card.palette[3][::-1]).all()
    side = Renderer(card, view="side", show_legend=False)
    assert side.canvas_hw((16, 16)) == (16, 32)
    s = side.compose(frame, labels)
    assert s.shape == (16, 32, 3) and (s[:, :16] == 77).all() and (s[8:, 16:] == card.palette[3][::-1]).all()


def test_output_size_is_fixed_by_the_first_frame_and_legend_fits_or_is_left_out():
    r = Renderer(_card())
    assert r.fit(np.zeros((40, 60, 3), np.uint8)).shape == (40, 60, 3)
    assert r.fit(np.zeros((80, 120, 3), np.uint8)).shape == (40, 60, 3)
    r.compose(np.zeros((40, 60, 3), np.uint8), np.zeros((40, 60), np.uint8))
    assert r.show_legend is False  # an 11-row legend cannot be read at 40 px
    big = Renderer(_card())
    canvas = big.compose(np.zeros((360, 480, 3), np.uint8), np.zeros((360, 480), np.uint8))
    assert big.show_legend and (canvas[6:20, -140:] == 255).any()  # a white legend box top-right
    plain = Renderer(_card(), show_legend=False).compose(
        np.zeros((360, 480, 3), np.uint8), np.zeros((360, 480), np.uint8)
    )
    ys, xs = np.nonzero((canvas != plain).any(axis=2))  # the legend's box
    box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    assert box < 0.10 * 360 * 480, f"the camera legend covers {box / (360 * 480):.0%} of a 480x360 frame"


@pytest.mark.parametrize("view,alpha", [("overlay", 1.5), ("bogus", 0.5)])
def test_bad_view_or_alpha_is_refused(view, alpha):
    with pytest.raises(EdgesegError):
        Renderer(_card(), view=view, alpha=alpha)


# -- recording ----------------------------------------------------------------------------------
def test_recorder_writes_every_frame_at_the_opened_size(tmp_path):
    rec = Recorder(tmp_path / "out.avi", fps=10)
    rec.probe()
    assert list(tmp_path.iterdir()) == []  # the probe leaves nothing behind
    rec.write(np.full((32, 48, 3), 100, np.uint8))
    rec.write(np.full((64, 96, 3), 200, np.uint8))  # another size: resized, not dropped
    assert not (tmp_path / "out.avi").exists()  # only renamed into place on close
    assert rec.close() == tmp_path / "out.avi"
    frames = read_all(tmp_path / "out.avi")
    assert len(frames) == 2 and all(f.shape == (32, 48, 3) for f in frames)
    assert [name.name for name in tmp_path.iterdir()] == ["out.avi"]


def test_recorder_without_frames_leaves_no_file(tmp_path):
    rec = Recorder(tmp_path / "none.mp4")
    assert rec.close() is None and list(tmp_path.iterdir()) == []


class _FakeWriterThatWillNotOpen:
    """Test-only: a VideoWriter whose isOpened() is False (codec missing)."""

    def __init__(self, *args):
        pass

    def isOpened(self):  # noqa: N802
        return False

    def release(self):
        pass


def test_recorder_probe_reports_a_writer_that_will_not_open(tmp_path):
    rec = Recorder(tmp_path / "x.mp4", factory=_FakeWriterThatWillNotOpen)
    with pytest.raises(RecordError, match="cannot open a video writer.*mp4v.*writer backends"):
        rec.probe()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "name,match", [("missing/out.mp4", "does not exist"), ("out.gif", "unsupported video type")]
)
def test_recorder_refuses_bad_paths(tmp_path, name, match):
    with pytest.raises(EdgesegError, match=match):
        Recorder(tmp_path / name)
