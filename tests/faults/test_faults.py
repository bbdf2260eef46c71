"""Issue 8, fault table 1: broken INPUTS, part 1: checkpoints and ONNX files (issue rows 1-3). Each row
plants one fault, runs the real CLI, and checks that the user gets a one-line error with the right exit
code, no traceback, and that nothing partial is left on disk (see faults_table.run_row). Part 2
(engines, IRs, calibration folders, dataset lists) is test_faults_artifacts.py."""

from __future__ import annotations

import warnings

import pytest

from faults_table import Row, params, run_row, truncated_copy, work_dir


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
]


@pytest.mark.parametrize("row", params(ROWS))
def test_fault(row: Row, tmp_path, artifacts, plant, capsys, monkeypatch):
    work = work_dir(tmp_path, monkeypatch)
    run_row(row, work, artifacts, plant, capsys, monkeypatch)
