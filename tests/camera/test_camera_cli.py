"""``edgeseg camera`` end to end over a video file: exit code, printed stats, stats JSON, recording,
and one-line errors for user mistakes (exit code 2, no traceback)."""

from __future__ import annotations

import json

import pytest

from camera_media import N_FRAMES, read_all
from edgeseg.cli import main


def test_camera_command_on_a_file_writes_stats_and_recording(tiny_checkpoint, clip, tmp_path, capsys):
    stats_path, rec = tmp_path / "stats.json", tmp_path / "rec.mp4"
    rc = main(
        [
            "camera",
            str(tiny_checkpoint),
            "--source",
            str(clip),
            "--headless",
            "--threads",
            "1",
            "--record",
            str(rec),
            "--stats",
            str(stats_path),
            "--view",
            "side",
            "--classes",
            "Road,car",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert f"captured {N_FRAMES}, inferred {N_FRAMES}, dropped 0, corrupt 0" in out
    d = json.loads(stats_path.read_text())
    assert d["frames"]["captured"] == d["frames"]["inferred"] == d["frames"]["recorded"] == N_FRAMES
    assert d["frames"]["dropped"] == 0 and d["mode"] == "every-frame" and d["exit_reason"] == "end of file"
    assert d["backend"] == "torch" and d["loop_fps"] > 0
    assert set(d["latency_ms"]["inference"]) == {"mean", "p50", "p99"}
    assert d["latency_ms"]["end_to_end"]["p99"] >= d["latency_ms"]["end_to_end"]["p50"] > 0
    assert len(read_all(rec)) == N_FRAMES


def test_camera_numbers_are_checked_at_parse_time(tiny_checkpoint, capsys):
    with pytest.raises(SystemExit) as e:
        main(["camera", str(tiny_checkpoint), "--source", "csi://0", "--flip", "9"])
    assert (
        e.value.code == 2
        and "argument --flip: expected a whole number in 0..7, found 9" in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "extra,match",
    [
        (
            ["--classes", "road,truck"],
            "unknown class name(s) 'truck' for --classes; this model's classes are: Sky",
        ),
        (["--record", "/no/such/folder/x.mp4"], "output folder /no/such/folder does not exist"),
        (["--source", "missing_clip.mp4"], "cannot open file source 'missing_clip.mp4'"),
        (["--width", "640"], "only apply to csi:// sources"),
        (["--no-spin"], "the TorchRunner does not take spin"),  # an ONNX Runtime option
    ],
)
def test_camera_command_user_errors_are_one_line(tiny_checkpoint, clip, capsys, extra, match):
    args = ["camera", str(tiny_checkpoint), "--source", str(clip), "--headless", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
