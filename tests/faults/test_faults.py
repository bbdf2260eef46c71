"""Issue 8: the fault table. Each row plants one fault, runs the real CLI, and checks that the user
gets a one-line error with the right exit code, no traceback, and that nothing partial is left on disk
while earlier good files stay byte-identical."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Row:
    id: str
    plant: Callable  # (tmp_path, artifacts, plant_module) -> argv (without "edgeseg")
    stderr: str  # regex searched in stderr
    code: int = 2
    absent: tuple[str, ...] = ()  # paths (relative to tmp_path) that must not exist afterwards
    empty: tuple[str, ...] = ()  # folders that may be created (checked writable up front) but must hold no file
    unchanged: tuple[str, ...] = ()  # paths (relative to tmp_path) whose bytes must not change
    subprocess: bool = False  # run `python -m edgeseg` in a child process instead of cli.main
    marks: tuple = ()  # pytest marks (xfail for known gaps, skipif)
    patch: Callable | None = None  # (monkeypatch) -> None, for faults that cannot be planted on disk (interrupts)


def _copy(src: Path, dst: Path) -> str:
    shutil.copyfile(src, dst)
    return str(dst)


# ---- 1. broken checkpoints ------------------------------------------------------------------------

def truncated_ckpt(tmp, a, P):
    data = a.ckpt.read_bytes()
    (tmp / "t.pt").write_bytes(data[: len(data) // 2])
    return tmp / "t.pt"


def plant_eval_truncated_ckpt(tmp, a, P):
    return ["eval", str(truncated_ckpt(tmp, a, P)), "--data", f"camvid:{a.camvid}", "--no-progress"]


def plant_export_truncated_ckpt(tmp, a, P):
    return ["export", str(truncated_ckpt(tmp, a, P)), "-o", str(tmp / "out.onnx")]


def plant_eval_foreign_ckpt(tmp, a, P):
    import torch

    torch.save({"a": 1}, tmp / "foreign.pt")
    return ["eval", str(tmp / "foreign.pt"), "--data", f"camvid:{a.camvid}", "--no-progress"]


def plant_export_code_ckpt(tmp, a, P):
    import torch

    torch.save({"model": P.CarriesCode()}, tmp / "code.pt")
    return ["export", str(tmp / "code.pt"), "-o", str(tmp / "out.onnx")]


# ---- 2. checkpoint of another architecture / class count -------------------------------------------

def plant_resume_other_arch_args(tmp, a, P):
    return ["train", "--resume", str(a.ckpt), "--arch-arg", "m=3", "--arch-arg", "n=5", "--data", "synthetic:2",
            "--synthetic-size", "32x48", "--crop", "32x48", "--epochs", "1", "--batch", "2", "--out", str(tmp / "run"),
            "--no-progress"]


def plant_eval_on_other_classes(tmp, a, P):
    import cv2
    import numpy as np

    root = tmp / "cityscapes"
    for sub, name, arr in (("leftImg8bit", "aachen_000000_000019_leftImg8bit.png", np.zeros((32, 64, 3), np.uint8)),
                           ("gtFine", "aachen_000000_000019_gtFine_labelTrainIds.png", np.full((32, 64), 7, np.uint8))):
        d = root / sub / "val" / "aachen"
        d.mkdir(parents=True)
        cv2.imwrite(str(d / name), arr)
    return ["eval", str(a.ckpt), "--data", f"cityscapes:{root}", "--no-progress"]


# ---- 3. broken ONNX ---------------------------------------------------------------------------------

def truncated_onnx(tmp, a, P):
    data = a.onnx.read_bytes()
    (tmp / "t.onnx").write_bytes(data[: len(data) // 2])
    return tmp / "t.onnx"


def plant_eval_truncated_onnx(tmp, a, P):
    return ["eval", str(truncated_onnx(tmp, a, P)), "--data", f"camvid:{a.camvid}", "--no-progress"]


def plant_build_truncated_onnx(tmp, a, P):
    return ["build", str(truncated_onnx(tmp, a, P)), "--backend", "onnxruntime", "-o", str(tmp / "out.onnx")]


def plant_onnx_without_card(tmp, a, P):
    import torch

    torch.onnx.export(torch.nn.Conv2d(3, 11, 1), (torch.zeros(1, 3, 16, 16),), str(tmp / "plain.onnx"),
                      dynamo=False, opset_version=17)
    return ["eval", str(tmp / "plain.onnx"), "--data", f"camvid:{a.camvid}", "--no-progress"]


# ---- 4. engine without its sidecar card --------------------------------------------------------------

def plant_engine_without_sidecar(tmp, a, P):
    (tmp / "fake.engine").write_bytes(b"\x00" * 64)
    return ["eval", str(tmp / "fake.engine"), "--data", f"camvid:{a.camvid}", "--no-progress"]


# ---- 6. bad calibration folders ----------------------------------------------------------------------

def plant_quantize_empty_calib(tmp, a, P):
    (tmp / "calib").mkdir()
    return ["quantize", str(a.ckpt), "--method", "ptq", "--calib", str(tmp / "calib"), "--device", "cpu",
            "-o", str(tmp / "q.onnx"), "--no-progress"]


def plant_quantize_unreadable_calib(tmp, a, P):
    (tmp / "calib").mkdir()
    _copy(a.image, tmp / "calib" / "a.png")
    (tmp / "calib" / "b.png").write_bytes(b"not an image at all")
    return ["quantize", str(a.ckpt), "--method", "ptq", "--calib", str(tmp / "calib"), "--device", "cpu",
            "-o", str(tmp / "q.onnx"), "--no-progress"]


def plant_build_int8_empty_calib(tmp, a, P):
    (tmp / "calib").mkdir()
    return ["build", str(a.onnx), "--backend", "onnxruntime", "--int8", "--calib", str(tmp / "calib"),
            "-o", str(tmp / "q.onnx")]


def plant_build_int8_unreadable_calib(tmp, a, P):
    (tmp / "calib").mkdir()
    (tmp / "calib" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return ["build", str(a.onnx), "--backend", "onnxruntime", "--int8", "--calib", str(tmp / "calib"),
            "-o", str(tmp / "q.onnx")]


# ---- 7. broken dataset lists -------------------------------------------------------------------------

def bad_camvid(tmp, a, P, edit):
    root = tmp / "camvid"
    shutil.copytree(a.camvid, root)
    edit(root)
    return ["eval", str(a.ckpt), "--data", f"camvid:{root}", "--no-progress"]


def plant_list_missing_file(tmp, a, P):
    return bad_camvid(tmp, a, P, lambda r: (r / "val" / "f001.png").unlink())


def plant_list_size_mismatch(tmp, a, P):
    import cv2
    import numpy as np

    return bad_camvid(tmp, a, P, lambda r: cv2.imwrite(str(r / "valannot" / "f001.png"), np.zeros((40, 64), np.uint8)))


def plant_list_label_out_of_range(tmp, a, P):
    import cv2
    import numpy as np

    return bad_camvid(tmp, a, P, lambda r: cv2.imwrite(str(r / "valannot" / "f001.png"), np.full((48, 64), 40, np.uint8)))


def plant_list_escape(tmp, a, P):
    def edit(r):
        _copy(a.image, tmp / "outside.png")
        (r / "val.txt").write_text("../outside.png valannot/f000.png\n")

    return bad_camvid(tmp, a, P, edit)


def plant_list_empty(tmp, a, P):
    return bad_camvid(tmp, a, P, lambda r: (r / "val.txt").write_text(""))


# ---- 11. output folder missing / in the way ----------------------------------------------------------

def plant_export_missing_dir(tmp, a, P):
    return ["export", str(a.ckpt), "-o", str(tmp / "missing" / "x.onnx")]


def plant_quantize_missing_dir(tmp, a, P):
    return ["quantize", str(a.ckpt), "--method", "ptq", "--calib", "synthetic:2", "--num-calib", "2",
            "--device", "cpu", "-o", str(tmp / "missing" / "x.onnx"), "--no-progress"]


def plant_build_missing_dir(tmp, a, P):
    return ["build", str(a.onnx), "--backend", "onnxruntime", "-o", str(tmp / "missing" / "x.onnx")]


def plant_train_out_is_file(tmp, a, P):
    (tmp / "run").write_text("a file in the way\n")
    return ["train", "--data", "synthetic:2", "--synthetic-size", "32x48", "--crop", "32x48", "--epochs", "1",
            "--batch", "2", "--device", "cpu", "--out", str(tmp / "run"), "--no-progress"]


def plant_train_out_unwritable(tmp, a, P):
    (tmp / "ro").mkdir()
    os.chmod(tmp / "ro", 0o555)
    return ["train", "--data", "synthetic:2", "--synthetic-size", "32x48", "--crop", "32x48", "--epochs", "1",
            "--batch", "2", "--device", "cpu", "--out", str(tmp / "ro" / "run"), "--no-progress"]


# ---- 13. zero-size / huge images ---------------------------------------------------------------------

def plant_predict_huge(tmp, a, P):
    P.png_header_only(tmp / "huge.png", 20000, 20000)
    return ["predict", str(a.ckpt), str(tmp / "huge.png"), "-o", str(tmp / "pred")]


def plant_predict_zero_size(tmp, a, P):
    (tmp / "zero.png").write_bytes(b"")
    return ["predict", str(a.ckpt), str(tmp / "zero.png"), "-o", str(tmp / "pred")]


# ---- 15. shell metacharacters are file names ---------------------------------------------------------

def plant_predict_metachar(tmp, a, P):
    return ["predict", str(a.ckpt), "img;touch pwned.png", "$(touch pwned).png", "-o", str(tmp / "pred")]


def plant_camera_metachar(tmp, a, P):
    return ["camera", str(a.ckpt), "--source", "clip;touch pwned.mp4", "--headless", "--max-frames", "1"]


# ---- 18. option the backend does not support ---------------------------------------------------------

def plant_build_ort_dla(tmp, a, P):
    return ["build", str(a.onnx), "--backend", "onnxruntime", "--dla-core", "0", "-o", str(tmp / "x.onnx")]


# ---- earlier good outputs untouched ------------------------------------------------------------------

def plant_export_over_good_parity_fails(tmp, a, P):
    _copy(a.onnx, tmp / "good.onnx")
    return ["export", str(a.ckpt), "-o", str(tmp / "good.onnx"), "--parity-data", f"camvid:{tmp / 'nowhere'}"]


def plant_build_over_good_truncated(tmp, a, P):
    _copy(a.onnx, tmp / "good.onnx")
    return ["build", str(truncated_onnx(tmp, a, P)), "--backend", "onnxruntime", "-o", str(tmp / "good.onnx")]


def plant_predict_engine_without_sidecar(tmp, a, P):
    (tmp / "fake.engine").write_bytes(b"\x00" * 64)
    return ["predict", str(tmp / "fake.engine"), str(a.image), "-o", str(tmp / "pred")]


def plant_engine_with_sidecar_no_tensorrt(tmp, a, P):
    (tmp / "fake.engine").write_bytes(b"\x00" * 64)
    P.tiny_card().replace(extra={"backend": "tensorrt"}).write_sidecar(tmp / "fake.engine")
    return ["eval", str(tmp / "fake.engine"), "--data", f"camvid:{a.camvid}", "--no-progress"]


def plant_train_out_under_file(tmp, a, P):
    (tmp / "afile").write_text("a file in the way\n")
    return ["train", "--data", "synthetic:2", "--synthetic-size", "32x48", "--crop", "32x48", "--epochs", "1",
            "--batch", "2", "--device", "cpu", "--out", str(tmp / "afile" / "run"), "--no-progress"]


def plant_export_over_good_parity_mismatch(tmp, a, P):
    _copy(a.onnx, tmp / "good.onnx")
    return ["export", str(a.ckpt), "-o", str(tmp / "good.onnx"), "--size", "48x64", "--parity-data", f"camvid:{a.camvid}",
            "--atol", "0", "--rtol", "0"]


def plant_export_over_good_interrupted(tmp, a, P):
    _copy(a.onnx, tmp / "good.onnx")
    return ["export", str(a.ckpt), "-o", str(tmp / "good.onnx"), "--size", "48x64", "--parity-data", f"camvid:{a.camvid}"]


def interrupt_parity(monkeypatch):
    import edgeseg.export.parity as parity

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(parity, "check_parity", boom)


_HAS_TRT = importlib.util.find_spec("tensorrt") is not None

ROWS = [
    Row("eval-truncated-ckpt", plant_eval_truncated_ckpt, r"t\.pt.*(truncated|corrupt|not a|cannot|could not)"),
    Row("export-truncated-ckpt", plant_export_truncated_ckpt, r"t\.pt.*(truncated|corrupt|not a|cannot|could not)",
        absent=("out.onnx",)),
    Row("eval-foreign-ckpt", plant_eval_foreign_ckpt, r"foreign\.pt.*(not an edgeseg|edgeseg checkpoint|card)"),
    Row("export-ckpt-carries-code", plant_export_code_ckpt, r"weights_only", absent=("out.onnx",)),
    Row("train-resume-other-arch-args", plant_resume_other_arch_args, r"resume with the same", absent=("run/last.pt",)),
    Row("eval-11-class-model-on-19-class-data", plant_eval_on_other_classes, r"classes"),
    Row("eval-truncated-onnx", plant_eval_truncated_onnx, r"t\.onnx.*(truncated|corrupt|not a valid|cannot|could not|parse)"),
    Row("build-ort-truncated-onnx", plant_build_truncated_onnx,
        r"t\.onnx.*(truncated|corrupt|not a valid|cannot|could not|parse)", absent=("out.onnx",)),
    Row("eval-onnx-without-card", plant_onnx_without_card, r"plain\.onnx.*(not exported by edgeseg|no edgeseg|model card)"),
    Row("eval-engine-without-sidecar", plant_engine_without_sidecar,
        r"fake\.engine: no model card beside it \(fake\.engine\.card\.json\).*rebuild"),
    Row("predict-engine-without-sidecar", plant_predict_engine_without_sidecar,
        r"fake\.engine: no model card beside it.*rebuild", empty=("pred",)),
    Row("eval-engine-with-sidecar-no-tensorrt", plant_engine_with_sidecar_no_tensorrt,
        r"tensorrt is not installed; install it with",
        marks=(pytest.mark.skipif(_HAS_TRT, reason="tensorrt is installed here"),)),
    Row("quantize-empty-calib-dir", plant_quantize_empty_calib, r"calib.*(no images|empty|no .*frames)", absent=("q.onnx",)),
    Row("quantize-unreadable-calib-image", plant_quantize_unreadable_calib, r"b\.png.*(not a readable image|unreadable)",
        absent=("q.onnx",)),
    Row("build-int8-empty-calib-dir", plant_build_int8_empty_calib, r"calib.*(no images|empty|no .*frames)",
        absent=("q.onnx",)),
    Row("build-int8-unreadable-calib-image", plant_build_int8_unreadable_calib,
        r"b\.png.*(not a readable image|unreadable)", absent=("q.onnx",)),
    Row("eval-list-missing-file", plant_list_missing_file, r"val\.txt:2: file not found: \S*f001\.png"),
    Row("eval-list-size-mismatch", plant_list_size_mismatch, r"f001\.png: label is 64x40 but its image f001\.png is 64x48"),
    Row("eval-list-label-out-of-range", plant_list_label_out_of_range, r"f001\.png.*(40|out of range|label)"),
    Row("eval-list-escape", plant_list_escape, r"\.\./outside\.png.*(outside|escape)"),
    Row("eval-list-empty", plant_list_empty, r"val\.txt.*(empty|no pairs|no images)"),
    Row("export-output-dir-missing", plant_export_missing_dir, r"missing.*(does not exist|not exist|no such|create)",
        absent=("missing",)),
    Row("quantize-output-dir-missing", plant_quantize_missing_dir, r"missing.*(does not exist|not exist|no such|create)",
        absent=("missing",)),
    Row("build-output-dir-missing", plant_build_missing_dir, r"missing.*(does not exist|not exist|no such|create)",
        absent=("missing",)),
    Row("train-out-is-a-file", plant_train_out_is_file, r"run.*(not a folder|not a directory|exists|file)",
        unchanged=("run",)),
    Row("train-out-unwritable", plant_train_out_unwritable, r"ro.*(writ|permission)", absent=("ro/run",),
        marks=(pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions"),)),
    Row("train-out-under-a-file", plant_train_out_under_file, r"(?i)afile/run: not a directory",
        unchanged=("afile",)),
    Row("predict-huge-image", plant_predict_huge, r"huge\.png.*(400,000,000|pixels|limit)", empty=("pred",)),
    Row("predict-zero-size-image", plant_predict_zero_size, r"zero\.png.*(empty|zero|not a readable image)",
        empty=("pred",)),
    Row("predict-shell-metachar-names", plant_predict_metachar, r"img;touch pwned\.png.*(not found|does not exist|no such)",
        absent=("pwned", "pwned.png"), empty=("pred",), subprocess=True),
    Row("camera-shell-metachar-source", plant_camera_metachar, r"clip;touch pwned\.mp4.*(not found|does not exist|no such)",
        absent=("pwned", "pwned.mp4"), subprocess=True),
    Row("build-ort-dla-core", plant_build_ort_dla, r"--dla-core.*tensorrt", absent=("x.onnx",)),
    Row("export-over-good-onnx-parity-fails", plant_export_over_good_parity_fails, r"nowhere",
        unchanged=("good.onnx",)),
    Row("export-over-good-onnx-parity-mismatch", plant_export_over_good_parity_mismatch, r"parity check failed",
        unchanged=("good.onnx",)),
    Row("export-over-good-onnx-interrupted", plant_export_over_good_interrupted, r"^edgeseg export: interrupted$",
        code=130, unchanged=("good.onnx",), patch=interrupt_parity),
    Row("build-over-good-onnx-truncated-input", plant_build_over_good_truncated, r"t\.onnx", unchanged=("good.onnx",)),
]


def _run(argv: list[str], *, child: bool, capsys) -> tuple[int, str]:
    if child:
        p = subprocess.run([sys.executable, "-m", "edgeseg", *argv], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
        return p.returncode, p.stderr
    from edgeseg.cli import main

    try:
        code = main(argv)
    except SystemExit as e:  # argparse errors
        code = e.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("row", [pytest.param(r, id=r.id, marks=r.marks) for r in ROWS])
def test_fault(row: Row, tmp_path, artifacts, plant, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # anything a command writes by default (or a shell would create) lands here
    argv = [str(x) for x in row.plant(work, artifacts, plant)]
    before = {p: (work / p).read_bytes() for p in row.unchanged if (work / p).is_file()}
    listing = sorted(p.name for p in work.iterdir())
    if row.patch is not None:
        row.patch(monkeypatch)
    capsys.readouterr()
    try:
        code, err = _run(argv, child=row.subprocess, capsys=capsys)
    finally:
        for p in work.rglob("*"):  # undo read-only planting so tmp_path can be cleaned
            if p.is_dir():
                os.chmod(p, 0o755)
    assert code == row.code, f"exit {code}, stderr:\n{err}"
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert lines, "no error message at all"
    head = f"edgeseg {argv[0]}: interrupted" if row.code == 130 else f"edgeseg {argv[0]}: error:"
    assert lines[-1].startswith(head), err
    print(lines[-1])
    assert re.search(row.stderr, lines[-1]), f"{row.stderr!r} not in the error line:\n{lines[-1]}"
    for p in row.absent:
        assert not (work / p).exists(), f"{p} was written"
    for p in row.empty:
        assert not [f for f in (work / p).rglob("*") if f.is_file()], f"{p} holds files"
    for p, data in before.items():
        assert (work / p).read_bytes() == data, f"{p} changed"
    stray = sorted(p.name for p in work.iterdir() if p.name not in listing and not p.name.startswith("."))
    assert not [s for s in stray if s.endswith((".onnx", ".pt", ".tmp", ".part"))], f"stray outputs: {stray}"
