"""Issue 8, fault table 1: broken INPUTS (issue rows 1-4, 6, 7). Each row plants one fault, runs the
real CLI, and checks that the user gets a one-line error with the right exit code, no traceback, and
that nothing partial is left on disk (see faults_table.run_row)."""

from __future__ import annotations

import importlib.util
import shutil
import warnings

import pytest

from faults_table import Row, copy_file, params, run_row, truncated_copy, work_dir


# ---- 1. broken checkpoints ------------------------------------------------------------------------


def plant_eval_truncated_ckpt(tmp, a, P):
    return [
        "eval",
        str(truncated_copy(a.ckpt, tmp / "t.pt")),
        "--data",
        f"camvid:{a.camvid}",
        "--no-progress",
    ]


def plant_export_truncated_ckpt(tmp, a, P):
    return ["export", str(truncated_copy(a.ckpt, tmp / "t.pt")), "-o", str(tmp / "out.onnx")]


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
    return [
        "train",
        "--resume",
        str(a.ckpt),
        "--arch-arg",
        "m=3",
        "--arch-arg",
        "n=5",
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
        "--out",
        str(tmp / "run"),
        "--no-progress",
    ]


def plant_eval_on_other_classes(tmp, a, P):
    import cv2
    import numpy as np

    root = tmp / "cityscapes"
    for sub, name, arr in (
        ("leftImg8bit", "aachen_000000_000019_leftImg8bit.png", np.zeros((32, 64, 3), np.uint8)),
        ("gtFine", "aachen_000000_000019_gtFine_labelTrainIds.png", np.full((32, 64), 7, np.uint8)),
    ):
        d = root / sub / "val" / "aachen"
        d.mkdir(parents=True)
        cv2.imwrite(str(d / name), arr)
    return ["eval", str(a.ckpt), "--data", f"cityscapes:{root}", "--no-progress"]


# ---- 3. broken ONNX ---------------------------------------------------------------------------------


def plant_eval_truncated_onnx(tmp, a, P):
    return [
        "eval",
        str(truncated_copy(a.onnx, tmp / "t.onnx")),
        "--data",
        f"camvid:{a.camvid}",
        "--no-progress",
    ]


def plant_build_truncated_onnx(tmp, a, P):
    return [
        "build",
        str(truncated_copy(a.onnx, tmp / "t.onnx")),
        "--backend",
        "onnxruntime",
        "-o",
        str(tmp / "out.onnx"),
    ]


def plant_onnx_without_card(tmp, a, P):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is all this needs
        torch.onnx.export(
            torch.nn.Conv2d(3, 11, 1),
            (torch.zeros(1, 3, 16, 16),),
            str(tmp / "plain.onnx"),
            dynamo=False,
            opset_version=17,
        )
    return ["eval", str(tmp / "plain.onnx"), "--data", f"camvid:{a.camvid}", "--no-progress"]


def _edited_onnx(tmp, a, name, edit):
    import onnx

    proto = onnx.load(str(a.onnx))
    edit(proto)
    (tmp / name).write_bytes(proto.SerializeToString())
    return ["eval", str(tmp / name), "--data", f"camvid:{a.camvid}", "--no-progress"]


def plant_onnx_input_renamed(tmp, a, P):
    def edit(proto):
        for node in proto.graph.node:
            node.input[:] = ["images" if i == "input" else i for i in node.input]
        proto.graph.input[0].name = "images"

    return _edited_onnx(tmp, a, "renamed.onnx", edit)


def plant_onnx_size_not_the_cards(tmp, a, P):
    from edgeseg.card import card_to_onnx

    return _edited_onnx(
        tmp, a, "resized.onnx", lambda proto: card_to_onnx(proto, P.tiny_card().replace(input_size=(48, 64)))
    )


def plant_onnx_input_rank_3(tmp, a, P):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgeseg.card import card_to_onnx

    w = numpy_helper.from_array(np.ones((11, 3, 1, 1), np.float32), "w")
    axes = numpy_helper.from_array(np.array([0], np.int64), "axes")
    graph = helper.make_graph(
        [
            helper.make_node("Unsqueeze", ["input", "axes"], ["x4"]),
            helper.make_node("Conv", ["x4", "w"], ["logits"]),
        ],
        "rank3",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [3, 64, 96])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 11, 64, 96])],
        [w, axes],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    card_to_onnx(proto, P.tiny_card())
    onnx.checker.check_model(proto)
    (tmp / "rank3.onnx").write_bytes(proto.SerializeToString())
    return ["eval", str(tmp / "rank3.onnx"), "--data", f"camvid:{a.camvid}", "--no-progress"]


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
_NOT_READABLE = r"(truncated|corrupt|not a|cannot|could not)"
_ONNX_NOT_READABLE = r"(truncated|corrupt|not a valid|cannot|could not|parse)"

ROWS = [
    Row("eval-truncated-ckpt", plant_eval_truncated_ckpt, r"t\.pt.*" + _NOT_READABLE, (1,)),
    Row(
        "export-truncated-ckpt",
        plant_export_truncated_ckpt,
        r"t\.pt.*" + _NOT_READABLE,
        (1,),
        absent=("out.onnx",),
    ),
    Row(
        "eval-foreign-ckpt",
        plant_eval_foreign_ckpt,
        r"foreign\.pt.*(not an edgeseg|edgeseg checkpoint|card)",
        (1,),
    ),
    Row("export-ckpt-carries-code", plant_export_code_ckpt, r"weights_only", (1,), absent=("out.onnx",)),
    Row(
        "train-resume-other-arch-args",
        plant_resume_other_arch_args,
        r"resume with the same",
        (2, 19),
        absent=("run/last.pt",),
    ),
    Row("eval-11-class-model-on-19-class-data", plant_eval_on_other_classes, r"classes", (2,)),
    Row("eval-truncated-onnx", plant_eval_truncated_onnx, r"t\.onnx.*" + _ONNX_NOT_READABLE, (3,)),
    Row(
        "build-ort-truncated-onnx",
        plant_build_truncated_onnx,
        r"t\.onnx.*" + _ONNX_NOT_READABLE,
        (3,),
        absent=("out.onnx",),
    ),
    Row(
        "eval-onnx-without-card",
        plant_onnx_without_card,
        r"plain\.onnx.*(not exported by edgeseg|no edgeseg|model card)",
        (3,),
    ),
    Row(
        "eval-onnx-input-renamed",
        plant_onnx_input_renamed,
        r"renamed\.onnx: graph input is named 'images', expected 'input'",
        (3,),
    ),
    Row(
        "eval-onnx-input-rank-3",
        plant_onnx_input_rank_3,
        r"rank3\.onnx: graph input 'input' has rank 3 .*expected 4",
        (3,),
    ),
    Row(
        "eval-onnx-size-not-the-cards",
        plant_onnx_size_not_the_cards,
        r"resized\.onnx: graph input is 64x96 but its model card says input_size 48x64",
        (3,),
    ),
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
        r"old\.engine was built for a GPU of compute capability 7\.2 \(Xavier\), this GPU has 8\.7.*rebuild it here",
        (4,),
        empty=("pred",),
        patch=fake_tensorrt_10_3_on_8_7,
    ),
    Row(
        "eval-openvino-ir-truncated-bin",
        plant_eval_ir_truncated_bin,
        r"m\.bin is \d+ bytes but the card in m\.xml records \d+: the pair is from different builds or truncated; "
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
