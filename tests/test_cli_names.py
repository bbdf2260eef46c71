"""Default build outputs carry the precision, another precision is never overwritten without --force,
one spelling per concept across commands (old spellings hidden, with a note), non-ONNX input refused."""

from __future__ import annotations

import argparse

import pytest

from edgeseg.cli import main


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    import torch

    from edgeseg.card import ModelCard
    from edgeseg.data.datasets import CAMVID
    from edgeseg.export.onnx import export_onnx
    from edgeseg.models import build_model

    d = tmp_path_factory.mktemp("names")
    torch.manual_seed(0)
    model = build_model("cgnet", num_classes=CAMVID.num_classes, m=2, n=3).eval()
    card = ModelCard(
        arch="cgnet",
        num_classes=CAMVID.num_classes,
        class_names=CAMVID.class_names,
        palette=CAMVID.palette,
        arch_args={"m": 2, "n": 3},
        ignore_index=CAMVID.ignore_index,
        input_size=(32, 48),
    )
    return export_onnx(model, card, d / "tiny.onnx", size=(32, 48))


def test_fp32_and_int8_ort_builds_get_their_own_default_names(tiny_onnx, capsys):
    d = tiny_onnx.parent
    assert main(["build", str(tiny_onnx), "--backend", "onnxruntime", "--threads", "1"]) == 0
    assert (
        main(
            [
                "build",
                str(tiny_onnx),
                "--backend",
                "onnxruntime",
                "--threads",
                "1",
                "--int8",
                "--calib",
                "synthetic:2",
                "--calib-num",
                "2",
            ]
        )
        == 0
    )
    from edgeseg.card import card_from_onnx

    assert card_from_onnx(d / "tiny.fp32.ort.onnx").precision == "fp32"
    assert card_from_onnx(d / "tiny.int8.ort.onnx").precision == "int8"
    assert not (d / "tiny.ort.onnx").exists()


def test_another_precision_is_not_overwritten_without_force(tiny_onnx, tmp_path, capsys):
    out = tmp_path / "model.ort.onnx"
    assert main(["build", str(tiny_onnx), "--backend", "onnxruntime", "--threads", "1", "-o", str(out)]) == 0
    before = out.read_bytes()
    rc = main(
        ["build", str(tiny_onnx), "--backend", "onnxruntime", "--threads", "1", "--fp16", "-o", str(out)]
    )
    err = capsys.readouterr().err
    assert rc != 0 and "is a FP32 model" in err and "--force" in err
    assert out.read_bytes() == before
    assert (
        main(
            [
                "build",
                str(tiny_onnx),
                "--backend",
                "onnxruntime",
                "--threads",
                "1",
                "--fp16",
                "-o",
                str(out),
                "--force",
            ]
        )
        == 0
    )
    from edgeseg.card import card_from_onnx

    assert card_from_onnx(out).precision == "fp16"
    # the same precision again is a plain rebuild
    assert (
        main(
            ["build", str(tiny_onnx), "--backend", "onnxruntime", "--threads", "1", "--fp16", "-o", str(out)]
        )
        == 0
    )


def test_build_of_a_json_file_says_not_an_onnx_model(tmp_path, capsys):
    j = tmp_path / "eval.json"
    j.write_text('{"miou": 0.5}')
    for backend in ("onnxruntime", "openvino", "tensorrt"):
        assert main(["build", str(j), "--backend", backend]) != 0
        err = capsys.readouterr().err
        assert "ParseError" not in err and "found '.json'" in err and ".onnx" in err, err
        assert backend == "openvino" or "not an ONNX model" in err, (
            err
        )  # openvino: its own message, same facts


def _parse(command: str, argv: list[str]) -> argparse.Namespace:
    import importlib

    mod = importlib.import_module(f"edgeseg.commands.{command}")
    p = argparse.ArgumentParser()
    mod.add_arguments(p)
    return p.parse_args(argv)


def test_one_spelling_for_calibration_options_and_old_ones_are_hidden_aliases(capsys):
    from edgeseg.commands import build, quantize

    for mod in (build, quantize):
        p = argparse.ArgumentParser()
        mod.add_arguments(p)
        text = p.format_help()
        assert "--calib-num" in text and "--calib-method" in text
        assert "--num-calib" not in text and "--calib-algo" not in text
    assert _parse("quantize", ["m.pt", "--calib-num", "7"]).calib_num == 7
    assert capsys.readouterr().err == ""
    assert _parse("quantize", ["m.pt", "--num-calib", "7"]).calib_num == 7
    assert "--num-calib is deprecated; use --calib-num" in capsys.readouterr().err
    assert _parse("build", ["m.onnx", "--calib-method", "minmax"]).calib_algo == "minmax"
    assert _parse("build", ["m.onnx", "--calib-algo", "minmax"]).calib_algo == "minmax"
    assert "--calib-algo is deprecated; use --calib-method" in capsys.readouterr().err
    assert _parse("build", ["m.onnx"]).calib_algo is None  # the alias sets no default of its own


def test_train_has_max_steps():
    assert (
        _parse("train", ["--max-steps", "3"]).max_steps_per_epoch == 3
    )  # the same meaning as quantize --max-steps
    assert _parse("quantize", ["m.pt", "--max-steps", "3"]).max_steps == 3
    assert (
        _parse("train", ["--max-steps-per-epoch", "3"]).max_steps_per_epoch == 3
    )  # the old spelling still works


def test_train_says_1_epoch_not_1_epochs(tmp_path, capsys):
    rc = main(
        [
            "train",
            "--data",
            "synthetic:4",
            "--epochs",
            "1",
            "--max-steps",
            "1",
            "--batch",
            "2",
            "--crop",
            "64x96",
            "--arch-arg",
            "m=2",
            "--arch-arg",
            "n=3",
            "--val-every",
            "0",
            "--out",
            str(tmp_path / "t"),
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "for 1 epoch (" in out and "1 epochs" not in out


def test_demo_summary_keeps_long_skip_reasons_whole():
    from edgeseg.commands.demo import _Pipeline

    pipe = _Pipeline()
    reason = (
        "TensorRT is not installed (pip install tensorrt on an NVIDIA GPU machine; Jetson: "
        "JetPack's python3-libnvinfer)"
    )
    pipe.skip("build tensorrt", reason)
    text = pipe.summary()
    assert " ".join(text.split()).count(" ".join(f"skipped: {reason}".split())) == 1, text


def test_quickstart_steps_write_under_out_and_name_no_missing_image():
    import re
    import shlex
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "quickstart.md").read_text()
    assert "street.png" not in doc
    step = doc[doc.index("## Step by step") : doc.index("Dataset specs:")]
    outputs = []
    for line in re.findall(r"^edgeseg .*$", step, re.M):
        words = shlex.split(line.split("#")[0])
        outputs += [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-o", "--out", "--json")]
    assert outputs and all(o.startswith("out/") for o in outputs), outputs
    assert "x86" in step and "Jetson / NVIDIA GPU only" in step  # the last step says which machine it is for


def test_default_name_follows_the_precision_built_not_the_flags(tmp_path, capsys):
    """Issue 30 defect 2: a Q/DQ (INT8) ONNX built without --int8 was named MODEL.fp32.ort.onnx."""
    import shutil
    from pathlib import Path

    src = tmp_path / "qat.onnx"
    shutil.copyfile(Path(__file__).resolve().parents[1] / "edgeseg/weights/cgnet_camvid_qat_int8.onnx", src)
    assert main(["build", str(src), "--backend", "onnxruntime", "--threads", "1"]) == 0
    assert (tmp_path / "qat.int8.ort.onnx").is_file() and not (tmp_path / "qat.fp32.ort.onnx").exists()
