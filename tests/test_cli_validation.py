"""Every numeric option is checked when the command line is parsed: the message names the option and
the range, and nothing (no output folder) is made before it."""

from __future__ import annotations

import pytest

from edgeseg.cli import main

CASES = [
    (["train", "--epochs", "0"], "argument --epochs: expected a whole number >= 1, found 0"),
    (["train", "--batch", "0"], "argument --batch: expected a whole number >= 1, found 0"),
    (["train", "--lr", "-1"], "argument --lr: expected a number > 0, found -1"),
    (["export", "m.pt", "--size", "7x9"], "argument --size: height and width must be in 32..4096, found 7x9"),
    (
        ["export", "m.pt", "--agree-min", "0"],
        "argument --agree-min: expected a number > 0 and <= 100, found 0",
    ),
    (["quantize", "m.pt", "--num-calib", "0"], "argument --num-calib: expected a whole number >= 1, found 0"),
    (["bench", "m.onnx", "--runs", "0"], "argument --runs: expected a whole number >= 1, found 0"),
    (
        ["eval", "m.onnx", "--data", "synthetic", "--threads", "0"],
        "argument --threads: expected a whole number >= 1, found 0",
    ),
    (
        ["predict", "m.onnx", "x.png", "--alpha", "2"],
        "argument --alpha: expected a number >= 0 and <= 1, found 2",
    ),
    (["build", "m.onnx", "--calib-num", "0"], "argument --calib-num: expected a number >= 1, found 0"),
]


@pytest.mark.parametrize("argv,message", CASES, ids=[" ".join(c[0][:1] + c[0][-2:-1]) for c in CASES])
def test_numeric_options_are_checked_at_parse_time(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main([*argv, *(["--out", str(tmp_path / "run")] if argv[0] == "train" else [])])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no output folder, nothing written
