"""``edgeseg models``: table and JSON over the whole registry, size parsing errors."""

from __future__ import annotations

import json

import pytest

from edgeseg.cli import main
from edgeseg._validate import parse_size
from edgeseg.errors import EdgesegError
from edgeseg.models import MODELS, build_model, count_parameters


def test_table_lists_every_registered_model_with_numbers(capsys):
    assert main(["models", "--size", "64x96"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "GFLOPs@64x96" in out[0]
    end = next(
        i for i, line in enumerate(out) if line.startswith("(")
    )  # the footnote; the shipped list follows
    rows = {line.split()[0]: line.split()[1:] for line in out[1:end]}
    assert any(line.startswith("cgnet_camvid ") for line in out[end:])
    assert list(rows) == list(MODELS)
    assert rows["cgnet"][0] == "494,258"
    assert all(float(r[1]) > 0 for r in rows.values())


def test_json_output_counts_match_the_built_models(capsys):
    assert main(["models", "--size", "32x48", "--classes", "19", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["size"] == [32, 48] and doc["num_classes"] == 19
    assert [m["name"] for m in doc["models"]] == list(MODELS)
    by_name = {m["name"]: m for m in doc["models"]}
    assert by_name["cgnet"]["params"] == 496_306
    assert by_name["fcn"]["params"] == count_parameters(build_model("fcn", num_classes=19))
    xcep, mnv2 = by_name["deeplabv3plus_xception"], by_name["deeplabv3plus_mobilenetv2"]
    assert xcep["flops"] > 5 * mnv2["flops"]


@pytest.mark.parametrize("bad", ["360x480x3", "360x", "x480", "360,480", "0x480", "-1x4", "axb", "99999x10"])
def test_bad_sizes_give_one_line_errors(bad, capsys):
    assert main(["models", f"--size={bad}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--size" in err and "Traceback" not in err


def test_parse_size_accepts_h_x_w():
    assert parse_size("360x480", where="--size") == (360, 480)
    assert parse_size(" 361X479 ", where="--size") == (361, 479)
    assert parse_size("360", where="--size") == (360, 360)  # a square, as `train --crop 360`
    assert parse_size([360, 480], where="m.yaml") == (360, 480) and parse_size(8, where="m.yaml") == (8, 8)
    with pytest.raises(EdgesegError, match="^--size: expected HEIGHTxWIDTH"):
        parse_size("360*480", where="--size")
    for bad in ([0, 4], [1, 2, 3], [True, 2], ["3", "4"], 2.5):
        with pytest.raises(EdgesegError, match="^m.yaml: "):
            parse_size(bad, where="m.yaml")


def test_bad_class_count_is_refused_at_parse_time(capsys):
    with pytest.raises(SystemExit) as e:
        main(["models", "--classes", "0"])
    assert e.value.code == 2
    assert "argument --classes: expected a whole number >= 1, found 0" in capsys.readouterr().err


def test_models_lists_the_shipped_names_that_load_takes(capsys):
    import json

    from edgeseg._shipped import shipped_models
    from edgeseg.cli import main

    assert main(["models", "--size", "64x64", "--json"]) == 0
    shipped = json.loads(capsys.readouterr().out)["shipped"]
    assert [r["name"] for r in shipped] == list(shipped_models()) and "cgnet_camvid" in shipped_models()
    cg = next(r for r in shipped if r["name"] == "cgnet_camvid")
    assert cg["arch"] == "cgnet" and cg["precision"] == "fp32" and 0.5 < cg["val_miou"] < 1
    # the test figure recorded in the sidecar (FP32 for the .pt, ONNX Runtime's for the QAT file)
    assert all(0.3 < r["test_miou"] < 0.8 for r in shipped), shipped
    qat = next(r for r in shipped if r["name"] == "cgnet_camvid_qat_int8")
    assert qat["test_miou"] != cg["test_miou"]


def test_a_train_val_model_is_marked_as_having_seen_its_val_frames(capsys):
    """The train+val CGNet's val figure is no generalization measure: the row says so, the others do not."""
    from edgeseg.commands.models import shipped_rows

    rows = {r["name"]: r for r in shipped_rows()}
    assert rows["cgnet_camvid"]["val_in_training"] and rows["cgnet_camvid_qat_int8"]["val_in_training"]
    assert not rows["fcn_camvid"]["val_in_training"]
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "* trained on train+val" in out
