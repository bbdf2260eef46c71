"""Several sources in one loop: batched inference when the runner takes the batch, interleaved
when it does not, a mosaic, per-source stats; the mosaic layout; --stream-out without GStreamer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from camera_fakes import SlowRunner
from camera_media import N_FRAMES, SIZE
from edgeseg.camera.controls import batch_allowed
from edgeseg.camera.mosaic import Mosaic, grid
from edgeseg.camera.pipeline import CameraLoop, CameraOptions
from edgeseg.camera.streamout import StreamOut, StreamOutError, stream_pipeline
from edgeseg.cli import main


def test_two_files_batched_into_one_inference_with_a_mosaic_and_per_source_stats(runner, clip, tmp_path):
    seen: dict[int, list[int]] = {0: [], 1: []}
    labels = {}
    opts = CameraOptions(headless=True, legend=False, record=str(tmp_path / "m.avi"))
    loop = CameraLoop(
        runner,
        [str(clip), str(clip)],
        opts,
        handle_signals=False,
        on_render=lambda f, l, c: (
            seen[f.source].append(f.index),
            labels.setdefault((f.source, f.index), l.copy()),
        ),
    )
    assert loop.batch == 2 and runner.batch_limits is None
    stats = loop.run()
    assert seen[0] == list(range(N_FRAMES)) and seen[1] == list(
        range(N_FRAMES)
    )  # each file whole and in order
    assert stats.inferred == stats.rendered == 2 * N_FRAMES and stats.exit_reason == "end of file"
    assert stats.infer_calls < stats.inferred  # frames of the two files shared inference calls
    d = stats.to_dict()
    assert [s["frames"]["captured"] for s in d["sources"]] == [N_FRAMES, N_FRAMES]
    assert [s["frames"]["rendered"] for s in d["sources"]] == [N_FRAMES, N_FRAMES]
    assert d["frames"]["captured"] == 2 * N_FRAMES and "source 1" in stats.format()
    # both sources see identical frames: each frame's labels agree between them (batched or not;
    # a batch of 2 may differ from a batch of 1 in the last float bits, so allow a few flipped pixels)
    for i in range(N_FRAMES):
        assert (labels[(0, i)] != labels[(1, i)]).mean() < 0.005
    from camera_media import read_all

    rec = read_all(tmp_path / "m.avi")
    assert rec[0].shape == (SIZE[0], 2 * SIZE[1], 3)  # a 1x2 mosaic was recorded


def test_runner_without_a_batch_gets_the_sources_interleaved(runner, clip):
    slow = SlowRunner(runner, 0.0)  # says nothing about batches
    order = []
    loop = CameraLoop(
        slow,
        [str(clip), str(clip), str(clip)],
        CameraOptions(headless=True, legend=False),
        handle_signals=False,
        on_render=lambda f, l, c: order.append(f.source),
    )
    assert loop.batch == 1
    stats = loop.run()
    assert stats.infer_calls == stats.inferred == 3 * N_FRAMES
    assert sorted(order) == [0] * N_FRAMES + [1] * N_FRAMES + [2] * N_FRAMES
    first = order[: 3 * 4]
    assert set(first) == {0, 1, 2}  # interleaved, not one source after the other


class _Limited:
    def __init__(self, limits):
        self.batch_limits = limits


def test_batch_allowed_follows_the_artifact_limits():
    assert batch_allowed(_Limited(None), 4)
    assert batch_allowed(_Limited((1, 8)), 4)
    assert not batch_allowed(_Limited((1, 1)), 2)  # a static batch of 1: interleave
    assert not batch_allowed(object(), 2)


def test_mosaic_grid_and_tiles():
    assert [grid(n) for n in (1, 2, 3, 4, 5, 7)] == [(1, 1), (1, 2), (2, 2), (2, 2), (2, 3), (3, 3)]
    m = Mosaic(3)
    a = m.update(2, np.full((60, 80, 3), 200, np.uint8))
    assert a.shape == (120, 160, 3) and a[:60].max() == 0 and a[60:, 80:].max() == 0  # no frame yet: black
    assert a[60:90, 30:80].min() == 200  # source 2: row 1, column 0 (its number is drawn bottom-left)
    assert (a[60:, :80] != 200).any()  # ... and there it is
    b = m.update(0, np.full((30, 40, 3), 100, np.uint8))  # another size: resized to the tile
    assert b.shape == (120, 160, 3) and b[:30, 30:80].min() == 100 and b[60:90, 30:80].min() == 200


def test_stream_out_without_gstreamer_is_one_line(tiny_checkpoint, clip, capsys):
    assert "udpsink host=10.0.0.5 port=5000" in stream_pipeline("rtp://10.0.0.5:5000")
    assert "rtspclientsink location=rtsp://srv:8554/cam" in stream_pipeline("rtsp://srv:8554/cam")
    for bad in ("rtp://h:5000/x", "udp://h:1", "rtsp://h:1/a b", "rtp://h ! filesink location=x:5000"):
        with pytest.raises(StreamOutError):
            stream_pipeline(bad)
    with pytest.raises(StreamOutError, match="lacks"):
        StreamOut("rtp://127.0.0.1:5000", build_info="  Video I/O:\n    GStreamer:                   NO\n")
    from edgeseg.camera.capture import backend_facts

    if backend_facts()["GStreamer"]:
        pytest.skip("this OpenCV has GStreamer: --stream-out would start")
    rc = main(
        [
            "camera",
            str(tiny_checkpoint),
            "--source",
            str(clip),
            "--headless",
            "--stream-out",
            "rtp://127.0.0.1:5000",
        ]
    )
    err = capsys.readouterr().err
    assert (
        rc == 2
        and "needs OpenCV's GStreamer backend" in err
        and err.count("\n") == 1
        and "Traceback" not in err
    )


def test_command_with_two_sources_writes_per_source_stats(tiny_checkpoint, clip, tmp_path, capsys):
    out = tmp_path / "s.json"
    assert (
        main(
            [
                "camera",
                str(tiny_checkpoint),
                "--source",
                str(clip),
                "--source",
                str(clip),
                "--headless",
                "--threads",
                "1",
                "--stats",
                str(out),
            ]
        )
        == 0
    )
    d = json.loads(out.read_text())
    assert len(d["sources"]) == 2 and d["inference_calls"] <= d["frames"]["inferred"] == 2 * N_FRAMES
    assert "source 0" in capsys.readouterr().out


def test_two_live_cameras_mosaic_on_the_stream_per_source_drops_and_a_lost_one_ends_the_run(runner):
    from camera_fakes import FakeCapture, FakeOpener, gray
    from edgeseg.camera.capture import SourceLostError
    from edgeseg.camera.publish import ServeOptions

    fast = FakeCapture(lambda i: gray(2 * i), count=150, interval=0.003, name="fast")  # then it dies
    slow = FakeCapture(
        lambda i: gray(150 + i % 50), count=300, interval=0.03, name="slow"
    )  # ~9 s, then dies too
    opts = CameraOptions(
        headless=True, legend=False, serve=ServeOptions(port=0), reconnect_timeout=0.2, backoff=(0.05, 0.1)
    )
    per_source = {0: 0, 1: 0}

    def on_render(frame, labels, canvas):
        per_source[frame.source] += 1

    loop = CameraLoop(
        SlowRunner(runner, 0.02),
        ["0", "1"],
        opts,
        open_capture=FakeOpener([fast, slow]),
        on_render=on_render,
        handle_signals=False,
    )
    with pytest.raises(SourceLostError, match="index source '0'") as err:
        loop.run()
    stats = err.value.stats
    assert per_source[0] >= 3 and per_source[1] >= 3  # neither camera starved the other
    s0, s1 = stats.per_source
    assert s0.dropped > s0.inferred  # the fast camera's stale frames were replaced in its own channel
    assert s0.captured == s0.dropped + s0.inferred + s0.unfinished
    assert (
        stats.dropped == s0.dropped + s1.dropped and stats.captured == s0.captured + s1.captured
    )  # none dropped unattributed
    assert s1.t_last_render - s0.t_last_render < 1.5  # the lost camera ended the run promptly
    assert slow.released.is_set() and fast.released.is_set()
    picture = loop.publisher.hub.latest().image
    assert picture.shape == (SIZE[0], 2 * SIZE[1], 3)  # the stream carried the 1x2 mosaic
