"""Issue 8, fault table 1, part 2: broken INPUTS past the checkpoint and the ONNX (issue rows 4, 6, 7):
engines whose card names another TensorRT or GPU or that have no card, OpenVINO IRs whose weights
are not their card's, bad calibration folders, broken dataset lists. Each row plants one fault, runs
the real CLI, and checks for a one-line error with the right exit code, no traceback, and nothing
partial left on disk (see faults_table.run_row). Part 1 (checkpoints, ONNX) is test_faults.py."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from faults_table import Row, copy_file, params, run_row, truncated_copy, work_dir


# ---- 4. engines whose card says another TensorRT or GPU (FAKE tensorrt/pycuda: our checks only) ----


def _engine_with_card(tmp, P, **extra):
    (tmp / "old.engine").write_bytes(b"\x00" * 64)
    card = P.tiny_card()
    x = {
        "backend": "tensorrt",
        "tensorrt_version": "10.3.0.26",
        "compute_capability": "8.7",
        "gpu_name": "Orin",
        "build_command": "edgeseg build tiny.onnx --fp16 -o old.engine",
        **extra,
    }
    card.replace(extra=x).write_sidecar(tmp / "old.engine")
    return tmp / "old.engine"


def plant_engine_other_tensorrt(tmp, a, P):
    return [
        "eval",
        str(_engine_with_card(tmp, P, tensorrt_version="8.6.1.6")),
        "--data",
        f"camvid:{a.camvid}",
        "--no-progress",
    ]


def plant_engine_other_gpu(tmp, a, P):
    return [
        "predict",
        str(_engine_with_card(tmp, P, compute_capability="7.2", gpu_name="Xavier")),
        str(a.image),
        "-o",
        str(tmp / "pred"),
    ]


def fake_tensorrt_10_3_on_8_7(monkeypatch):
    import _plant

    _plant.install_fake_tensorrt(monkeypatch, "10.3.0.26", compute_capability=(8, 7))


# ---- 4. engine without its sidecar card --------------------------------------------------------------


def plant_engine_without_sidecar(tmp, a, P):
    (tmp / "fake.engine").write_bytes(b"\x00" * 64)
    return ["eval", str(tmp / "fake.engine"), "--data", f"camvid:{a.camvid}", "--no-progress"]


# ---- 4. OpenVINO IRs whose weights are not the ones their card records ------------------------------


def _ir(tmp, onnx, name="m"):
    """A real OpenVINO IR (NAME.xml + NAME.bin, card in rt_info) of ``onnx``, built in ``tmp``."""
    from edgeseg.backends.openvino.build import build_openvino

    return build_openvino(onnx, output=tmp / f"{name}.xml", log=lambda s: None).path


def plant_eval_ir_truncated_bin(tmp, a, P):
    xml = _ir(tmp, a.onnx)
    truncated_copy(xml.with_suffix(".bin"), xml.with_suffix(".bin"))
    return ["eval", str(xml), "--data", f"camvid:{a.camvid}", "--no-progress"]


def plant_predict_ir_bin_of_another_build(tmp, a, P):
    """m.bin replaced by the .bin of a retrained model of the same architecture: same size, other bytes."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(a.onnx))
    w = max(proto.graph.initializer, key=lambda t: len(t.raw_data))
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w) * 1.01, w.name))
    (tmp / "retrained.onnx").write_bytes(proto.SerializeToString())
    xml, other = _ir(tmp, a.onnx), _ir(tmp, tmp / "retrained.onnx", "retrained")
    copy_file(other.with_suffix(".bin"), xml.with_suffix(".bin"))
    return ["predict", str(xml), str(a.image), "-o", str(tmp / "pred")]


def plant_eval_ir_truncated_xml(tmp, a, P):
    xml = _ir(tmp, a.onnx)
    truncated_copy(xml, xml)
    return ["eval", str(xml), "--data", f"camvid:{a.camvid}", "--no-progress"]


def plant_eval_ir_without_bin(tmp, a, P):
    xml = _ir(tmp, a.onnx)
    xml.with_suffix(".bin").unlink()
    return ["eval", str(xml), "--data", f"camvid:{a.camvid}", "--no-progress"]


# ---- 6. bad calibration folders ----------------------------------------------------------------------


def plant_quantize_empty_calib(tmp, a, P):
    (tmp / "calib").mkdir()
    return [
        "quantize",
        str(a.ckpt),
        "--method",
        "ptq",
        "--calib",
        str(tmp / "calib"),
        "--device",
        "cpu",
        "-o",
        str(tmp / "q.onnx"),
        "--no-progress",
    ]


def plant_quantize_unreadable_calib(tmp, a, P):
    (tmp / "calib").mkdir()
    copy_file(a.image, tmp / "calib" / "a.png")
    (tmp / "calib" / "b.png").write_bytes(b"not an image at all")
    return [
        "quantize",
        str(a.ckpt),
        "--method",
        "ptq",
        "--calib",
        str(tmp / "calib"),
        "--device",
        "cpu",
        "-o",
        str(tmp / "q.onnx"),
        "--no-progress",
    ]


def plant_build_int8_empty_calib(tmp, a, P):
    (tmp / "calib").mkdir()
    return [
        "build",
        str(a.onnx),
        "--backend",
        "onnxruntime",
        "--int8",
        "--calib",
        str(tmp / "calib"),
        "-o",
        str(tmp / "q.onnx"),
    ]


def plant_build_int8_unreadable_calib(tmp, a, P):
    (tmp / "calib").mkdir()
    (tmp / "calib" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    return [
        "build",
        str(a.onnx),
        "--backend",
        "onnxruntime",
        "--int8",
        "--calib",
        str(tmp / "calib"),
        "-o",
        str(tmp / "q.onnx"),
    ]


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

    return bad_camvid(
        tmp, a, P, lambda r: cv2.imwrite(str(r / "valannot" / "f001.png"), np.zeros((40, 64), np.uint8))
    )


def plant_list_label_out_of_range(tmp, a, P):
    import cv2
    import numpy as np

    return bad_camvid(
        tmp, a, P, lambda r: cv2.imwrite(str(r / "valannot" / "f001.png"), np.full((48, 64), 40, np.uint8))
    )


def plant_list_escape(tmp, a, P):
    def edit(r):
        copy_file(a.image, tmp / "outside.png")
        (r / "val.txt").write_text("../outside.png valannot/f000.png\n")

    return bad_camvid(tmp, a, P, edit)


def plant_list_empty(tmp, a, P):
    return bad_camvid(tmp, a, P, lambda r: (r / "val.txt").write_text(""))


def plant_predict_engine_without_sidecar(tmp, a, P):
    (tmp / "fake.engine").write_bytes(b"\x00" * 64)
    return ["predict", str(tmp / "fake.engine"), str(a.image), "-o", str(tmp / "pred")]


def plant_engine_with_sidecar_no_tensorrt(tmp, a, P):
    (tmp / "fake.engine").write_bytes(b"\x00" * 64)
    P.tiny_card().replace(extra={"backend": "tensorrt"}).write_sidecar(tmp / "fake.engine")
    return ["eval", str(tmp / "fake.engine"), "--data", f"camvid:{a.camvid}", "--no-progress"]


_HAS_TRT = importlib.util.find_spec("tensorrt") is not None
_HAS_OV = importlib.util.find_spec("openvino") is not None
_NEEDS_OV = (pytest.mark.skipif(not _HAS_OV, reason="openvino is not installed"),)

ROWS = [
    Row(
        "eval-engine-without-sidecar",
        plant_engine_without_sidecar,
        r"fake\.engine: no model card beside it \(fake\.engine\.card\.json\).*rebuild",
        (4,),
    ),
    Row(
        "predict-engine-without-sidecar",
        plant_predict_engine_without_sidecar,
        r"fake\.engine: no model card beside it.*rebuild",
        (4,),
        empty=("pred",),
    ),
    Row(
        "eval-engine-with-sidecar-no-tensorrt",
        plant_engine_with_sidecar_no_tensorrt,
        r"tensorrt is not installed; install it with",
        (4,),
        marks=(pytest.mark.skipif(_HAS_TRT, reason="tensorrt is installed here"),),
    ),
    Row(
        "eval-engine-of-other-tensorrt-fake-trt",
        plant_engine_other_tensorrt,
        r"old\.engine was built with TensorRT 8\.6\.1\.6, this is TensorRT 10\.3\.0\.26.*"
        r"rebuild it here with: edgeseg build tiny\.onnx --fp16",
        (4,),
        patch=fake_tensorrt_10_3_on_8_7,
    ),
    Row(
        "predict-engine-of-other-gpu-fake-trt",
        plant_engine_other_gpu,
        r"old\.engine was built for a GPU of compute capability 7\.2 \(Xavier\), this GPU has "
        r"8\.7.*rebuild it here",
        (4,),
        empty=("pred",),
        patch=fake_tensorrt_10_3_on_8_7,
    ),
    Row(
        "eval-openvino-ir-truncated-bin",
        plant_eval_ir_truncated_bin,
        r"m\.bin is \d+ bytes but the card in m\.xml records \d+: the pair is from different builds or "
        r"truncated; "
        r"rebuild with edgeseg build MODEL\.onnx --backend openvino",
        (4,),
        marks=_NEEDS_OV,
    ),
    Row(
        "predict-openvino-ir-bin-of-another-build",
        plant_predict_ir_bin_of_another_build,
        r"m\.bin does not match the sha256 in the card of m\.xml \(modified or replaced\); rebuild it",
        (4,),
        empty=("pred",),
        unchanged=("m.xml", "m.bin"),
        marks=_NEEDS_OV,
    ),
    Row(
        "eval-openvino-ir-truncated-xml",
        plant_eval_ir_truncated_xml,
        r"m\.xml: OpenVINO cannot read it \(truncated or corrupt\?\)",
        (4,),
        marks=_NEEDS_OV,
    ),
    Row(
        "eval-openvino-ir-without-bin",
        plant_eval_ir_without_bin,
        r"m\.xml: its weights m\.bin are missing beside it; rebuild with edgeseg build --backend openvino",
        (4,),
        marks=_NEEDS_OV,
    ),
    Row(
        "quantize-empty-calib-dir",
        plant_quantize_empty_calib,
        r"calib.*(no images|empty|no .*frames)",
        (6,),
        absent=("q.onnx",),
    ),
    Row(
        "quantize-unreadable-calib-image",
        plant_quantize_unreadable_calib,
        r"b\.png.*(not a readable image|unreadable)",
        (6,),
        absent=("q.onnx",),
    ),
    Row(
        "build-int8-empty-calib-dir",
        plant_build_int8_empty_calib,
        r"calib.*(no images|empty|no .*frames)",
        (6,),
        absent=("q.onnx",),
    ),
    Row(
        "build-int8-unreadable-calib-image",
        plant_build_int8_unreadable_calib,
        r"b\.png.*(not a readable image|unreadable)",
        (6,),
        absent=("q.onnx",),
    ),
    Row("eval-list-missing-file", plant_list_missing_file, r"val\.txt:2: file not found: \S*f001\.png", (7,)),
    Row(
        "eval-list-size-mismatch",
        plant_list_size_mismatch,
        r"f001\.png: label is 64x40 but its image f001\.png is 64x48",
        (7,),
    ),
    Row(
        "eval-list-label-out-of-range",
        plant_list_label_out_of_range,
        r"f001\.png.*(40|out of range|label)",
        (7,),
    ),
    Row("eval-list-escape", plant_list_escape, r"\.\./outside\.png.*(outside|escape)", (7,)),
    Row("eval-list-empty", plant_list_empty, r"val\.txt.*(empty|no pairs|no images)", (7,)),
]


@pytest.mark.parametrize("row", params(ROWS))
def test_fault(row: Row, tmp_path, artifacts, plant, capsys, monkeypatch):
    work = work_dir(tmp_path, monkeypatch)
    run_row(row, work, artifacts, plant, capsys, monkeypatch)
