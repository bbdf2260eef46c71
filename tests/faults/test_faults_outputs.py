"""Issue 8, fault table 2: OUTPUTS (issue rows 11, 13, 15, 18, and "earlier good outputs untouched").
Output folders that are missing, in the way or not writable; images too big or empty; file names
full of shell metacharacters; options the backend does not take; failures over an earlier good file.
Same runner as table 1 (faults_table.run_row)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faults_table import Row, copy_file, params, run_row, truncated_copy, work_dir


# ---- 11. output folder missing / in the way ----------------------------------------------------------


def plant_export_missing_dir(tmp, a, P):
    return ["export", str(a.ckpt), "-o", str(tmp / "missing" / "x.onnx")]


def plant_quantize_missing_dir(tmp, a, P):
    return [
        "quantize",
        str(a.ckpt),
        "--method",
        "ptq",
        "--calib",
        "synthetic:2",
        "--num-calib",
        "2",
        "--device",
        "cpu",
        "-o",
        str(tmp / "missing" / "x.onnx"),
        "--no-progress",
    ]


def plant_build_missing_dir(tmp, a, P):
    return ["build", str(a.onnx), "--backend", "onnxruntime", "-o", str(tmp / "missing" / "x.onnx")]


def plant_train_out_is_file(tmp, a, P):
    (tmp / "run").write_text("a file in the way\n")
    return [
        "train",
        "--data",
        "synthetic:2",
        "--synthetic-size",
        "32x48",
        "--crop",
        "32x48",
        "--epochs",
        "1",
        "--batch",
        "2",
        "--device",
        "cpu",
        "--out",
        str(tmp / "run"),
        "--no-progress",
    ]


def read_only_dir(tmp) -> Path:
    (tmp / "ro").mkdir()
    (tmp / "ro" / "keep.txt").write_text("an earlier file\n")
    os.chmod(tmp / "ro", 0o555)
    return tmp / "ro"


def plant_train_out_unwritable(tmp, a, P):
    return [
        "train",
        "--data",
        "synthetic:2",
        "--synthetic-size",
        "32x48",
        "--crop",
        "32x48",
        "--epochs",
        "1",
        "--batch",
        "2",
        "--device",
        "cpu",
        "--out",
        str(read_only_dir(tmp) / "run"),
        "--no-progress",
    ]


def plant_export_out_unwritable(tmp, a, P):
    return ["export", str(a.ckpt), "-o", str(read_only_dir(tmp) / "x.onnx")]


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


def plant_build_trt_threads(tmp, a, P):
    return [
        "build",
        str(a.onnx),
        "--backend",
        "tensorrt",
        "--fp16",
        "--threads",
        "2",
        "-o",
        str(tmp / "x.engine"),
    ]


def plant_build_coreml_calib(tmp, a, P):
    return [
        "build",
        str(a.ckpt),
        "--backend",
        "coreml",
        "--int8",
        "--calib",
        str(a.camvid),
        "--calib-cache",
        "c.cache",
        "-o",
        str(tmp / "x.mlpackage"),
    ]


# ---- earlier good outputs untouched ------------------------------------------------------------------


def plant_export_over_good_parity_fails(tmp, a, P):
    copy_file(a.onnx, tmp / "good.onnx")
    return ["export", str(a.ckpt), "-o", str(tmp / "good.onnx"), "--parity-data", f"camvid:{tmp / 'nowhere'}"]


def plant_build_over_good_truncated(tmp, a, P):
    copy_file(a.onnx, tmp / "good.onnx")
    return [
        "build",
        str(truncated_copy(a.onnx, tmp / "t.onnx")),
        "--backend",
        "onnxruntime",
        "-o",
        str(tmp / "good.onnx"),
    ]


def plant_train_out_under_file(tmp, a, P):
    (tmp / "afile").write_text("a file in the way\n")
    return [
        "train",
        "--data",
        "synthetic:2",
        "--synthetic-size",
        "32x48",
        "--crop",
        "32x48",
        "--epochs",
        "1",
        "--batch",
        "2",
        "--device",
        "cpu",
        "--out",
        str(tmp / "afile" / "run"),
        "--no-progress",
    ]


def plant_export_over_good_parity_mismatch(tmp, a, P):
    copy_file(a.onnx, tmp / "good.onnx")
    return [
        "export",
        str(a.ckpt),
        "-o",
        str(tmp / "good.onnx"),
        "--size",
        "48x64",
        "--parity-data",
        f"camvid:{a.camvid}",
        "--atol",
        "0",
        "--rtol",
        "0",
    ]


def plant_export_over_good_interrupted(tmp, a, P):
    copy_file(a.onnx, tmp / "good.onnx")
    return [
        "export",
        str(a.ckpt),
        "-o",
        str(tmp / "good.onnx"),
        "--size",
        "48x64",
        "--parity-data",
        f"camvid:{a.camvid}",
    ]


def interrupt_parity(monkeypatch):
    import edgeseg.export.parity as parity

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(parity, "check_parity", boom)


ROWS = [
    Row(
        "export-output-dir-missing",
        plant_export_missing_dir,
        r"missing.*(does not exist|not exist|no such|create)",
        (11,),
        absent=("missing",),
    ),
    Row(
        "quantize-output-dir-missing",
        plant_quantize_missing_dir,
        r"missing.*(does not exist|not exist|no such|create)",
        (11,),
        absent=("missing",),
    ),
    Row(
        "build-output-dir-missing",
        plant_build_missing_dir,
        r"missing.*(does not exist|not exist|no such|create)",
        (11,),
        absent=("missing",),
    ),
    Row(
        "train-out-is-a-file",
        plant_train_out_is_file,
        r"run.*(not a folder|not a directory|exists|file)",
        (11,),
        unchanged=("run",),
    ),
    Row(
        "train-out-unwritable-unprivileged",
        plant_train_out_unwritable,
        r"ro/run: Permission denied|ro.*not writable",
        (11,),
        unchanged=("ro",),
        unprivileged=True,
    ),
    Row(
        "export-out-unwritable-unprivileged",
        plant_export_out_unwritable,
        r"output folder \S*ro is not writable",
        (11,),
        unchanged=("ro",),
        unprivileged=True,
    ),
    Row(
        "train-out-under-a-file",
        plant_train_out_under_file,
        r"(?i)afile/run: not a directory",
        (11,),
        unchanged=("afile",),
    ),
    Row(
        "predict-huge-image",
        plant_predict_huge,
        r"huge\.png.*(400,000,000|pixels|limit)",
        (13,),
        empty=("pred",),
    ),
    Row(
        "predict-zero-size-image",
        plant_predict_zero_size,
        r"zero\.png.*(empty|zero|not a readable image)",
        (13,),
        empty=("pred",),
    ),
    Row(
        "predict-shell-metachar-names",
        plant_predict_metachar,
        r"img;touch pwned\.png.*(not found|does not exist|no such)",
        (15,),
        absent=("pwned", "pwned.png"),
        empty=("pred",),
        subprocess=True,
    ),
    Row(
        "camera-shell-metachar-source",
        plant_camera_metachar,
        r"clip;touch pwned\.mp4.*(not found|does not exist|no such)",
        (15,),
        absent=("pwned", "pwned.mp4"),
        subprocess=True,
    ),
    Row("build-ort-dla-core", plant_build_ort_dla, r"--dla-core.*tensorrt", (18,), absent=("x.onnx",)),
    Row(
        "build-tensorrt-threads",
        plant_build_trt_threads,
        r"--backend tensorrt does not take --threads \(accepted by onnxruntime, openvino, executorch\)$",
        (18,),
        absent=("x.engine",),
    ),
    Row(
        "build-coreml-calib-and-calib-cache",
        plant_build_coreml_calib,
        r"--backend coreml does not take --calib "
        r"\(accepted by onnxruntime, openvino, tensorrt, executorch\); "
        r"--calib-cache \(accepted by tensorrt\)$",
        (18,),
        absent=("x.mlpackage", "c.cache"),
    ),
    Row(
        "export-over-good-onnx-parity-fails",
        plant_export_over_good_parity_fails,
        r"nowhere",
        (11,),
        unchanged=("good.onnx",),
    ),
    Row(
        "export-over-good-onnx-parity-mismatch",
        plant_export_over_good_parity_mismatch,
        r"parity check failed",
        (3,),
        unchanged=("good.onnx",),
    ),
    Row(
        "export-over-good-onnx-interrupted",
        plant_export_over_good_interrupted,
        r"^edgeseg export: interrupted$",
        (8,),
        code=130,
        unchanged=("good.onnx",),
        patch=interrupt_parity,
    ),
    Row(
        "build-over-good-onnx-truncated-input",
        plant_build_over_good_truncated,
        r"t\.onnx",
        (3,),
        unchanged=("good.onnx",),
    ),
]


@pytest.mark.parametrize("row", params(ROWS))
def test_fault(row: Row, tmp_path, artifacts, plant, capsys, monkeypatch):
    work = work_dir(tmp_path, monkeypatch)
    run_row(row, work, artifacts, plant, capsys, monkeypatch)
