"""Issue 28's examples, through the real CLI: each is refused with one line and nothing is lost.
(The generated cases in test_generated.py sweep the same rules over every command.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _plant import TRAIN_ARGS
from faults_table import child_env

TRAIN = list(TRAIN_ARGS)  # the tiny training of the fault tables (tests/faults/_plant.py)


def _cli(argv, capsys):
    from edgeseg.cli import main

    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    return rc, lines


def _bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_train_into_a_finished_run_needs_resume_or_force(tmp_path, trained, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = _bytes(run)
    rc, lines = _cli(["train", *TRAIN, "--epochs", "1", "--out", run], capsys)
    assert rc == 2 and len(lines) == 1 and "already holds a run" in lines[0] and "--resume" in lines[0]
    assert _bytes(run) == before
    rc, _ = _cli(["train", *TRAIN, "--epochs", "1", "--out", run, "--force"], capsys)
    assert rc == 0


def test_a_second_writer_of_one_run_folder_is_refused(tmp_path, capsys):
    """Two trains into one --out both exited 0 and left a folder mixing two models."""
    run = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "edgeseg", "train", *TRAIN, "--epochs", "40", "--out", str(run)],
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while (
            not (run / "class_weights.json").exists() and time.monotonic() < deadline and first.poll() is None
        ):
            time.sleep(0.2)
        assert first.poll() is None, first.stderr.read()
        rc, lines = _cli(["train", *TRAIN, "--epochs", "1", "--out", run, "--force"], capsys)
        assert rc == 2 and len(lines) == 1
        assert "another edgeseg process" in lines[0] and f"pid {first.pid}" in lines[0]
    finally:
        first.kill()
        first.wait()


def test_quantize_over_an_fp32_export_reads_the_card_on_disk(tmp_path, artifacts, capsys):
    fp32 = tmp_path / "m.onnx"
    shutil.copyfile(artifacts.onnx, fp32)
    before = fp32.read_bytes()
    rc, lines = _cli(
        [
            "quantize",
            artifacts.ckpt,
            "--method",
            "ptq",
            "--calib",
            "synthetic:2",
            "--calib-num",
            "2",
            "--no-progress",
            "-o",
            fp32,
        ],
        capsys,
    )
    assert rc == 2 and len(lines) == 1 and "is a FP32 model; this command writes INT8" in lines[0]
    assert fp32.read_bytes() == before


@pytest.mark.parametrize(
    "argv",
    [
        lambda a, t: ["eval", t / "m.pt", "--data", f"camvid:{a.camvid}", "--json", t / "m.pt"],
        lambda a, t: [
            "quantize",
            t / "m.onnx",
            "--method",
            "ort-cpu",
            "--calib",
            "synthetic:2",
            "-o",
            t / "m.onnx",
        ],
        lambda a, t: [
            "camera",
            t / "m.pt",
            "--source",
            t / "clip.avi",
            "--headless",
            "--record",
            t / "clip.avi",
        ],
        lambda a, t: ["export", t / "m.pt", "-o", t / "m.pt"],
    ],
)
def test_the_issue_examples_of_an_output_that_is_an_input(tmp_path, artifacts, capsys, argv):
    shutil.copyfile(artifacts.ckpt, tmp_path / "m.pt")
    shutil.copyfile(artifacts.onnx, tmp_path / "m.onnx")
    (tmp_path / "clip.avi").write_bytes(b"RIFF" + b"\x00" * 100)
    before = _bytes(tmp_path)
    rc, lines = _cli(argv(artifacts, tmp_path), capsys)
    assert rc == 2 and len(lines) == 1 and "would replace the input" in lines[0]
    assert _bytes(tmp_path) == before


def test_report_commits_its_files_as_a_set(tmp_path, monkeypatch, capsys):
    """A failure while writing the report leaves the folder as it was (it left charts and no REPORT.md)."""
    from edgeseg.report import render

    out = tmp_path / "rep"
    out.mkdir()
    (out / "REPORT.md").write_text("the earlier report\n")
    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "cgnet_cpu.json"

    def broken(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(render, "render_html", broken)
    rc, lines = _cli(["report", results, "-o", out], capsys)
    assert rc == 2 and len(lines) == 1
    assert _bytes(out) == {"REPORT.md": b"the earlier report\n"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rep.")]  # no staging folder left


def test_a_short_recording_never_replaces_an_earlier_one(tmp_path):
    """OpenCV's VideoWriter.write returns nothing: a full disk gave a short file over a good one."""
    import numpy as np

    from edgeseg.camera.record import Recorder, RecordError

    target = tmp_path / "r.avi"
    target.write_bytes(b"an earlier good recording")

    class LosesFrames:  # a real writer that drops every second frame, as a full disk does
        def __init__(self, *a):
            import cv2

            self.w, self.n = cv2.VideoWriter(*a), 0

        def isOpened(self):
            return self.w.isOpened()

        def write(self, img):
            self.n += 1
            if self.n % 2:
                self.w.write(img)

        def release(self):
            self.w.release()

    rec = Recorder(target, fps=10, factory=LosesFrames)
    for i in range(6):
        rec.write(np.full((32, 48, 3), 30 * i, np.uint8))
    with pytest.raises(RecordError, match="3 readable frames of the 6 written"):
        rec.close()
    assert target.read_bytes() == b"an earlier good recording"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.avi"]
