import os
import signal

import pytest
import torch

from edgeseg.errors import EdgesegError
from edgeseg.train.checkpoint import load_checkpoint, read_checkpoint
from edgeseg.train.loop import TrainConfig, Trainer


def _cfg(root, out, **kw):
    base = dict(
        model="cgnet",
        arch_args={"m": 2, "n": 3},
        data=f"camvid:{root}",
        out=str(out),
        epochs=2,
        batch=2,
        crop=(32, 32),
        val_every=1,
        seed=5,
        threads=1,
    )
    base.update(kw)
    return TrainConfig(**base)


def _weights(path):
    return read_checkpoint(path)["model"]


def test_trains_and_writes_best_with_card(tiny_camvid, tmp_path):
    t = Trainer(_cfg(tiny_camvid, tmp_path / "run"), progress=False)
    summary = t.run()
    assert summary["epochs"] == 2
    model, card, payload = load_checkpoint(tmp_path / "run" / "best.pt", expect_arch="cgnet")
    assert card.num_classes == 11 and card.ignore_index == 11 and card.input_size == (48, 64)
    assert 0.0 <= card.metrics["val_miou"] <= 1.0 and set(card.metrics["val_per_class_iou"]) == set(
        card.class_names
    )
    assert card.training["epochs_done"] >= 1
    assert "optimizer" not in payload and "optimizer" in read_checkpoint(tmp_path / "run" / "last.pt")
    assert (tmp_path / "run" / "history.json").is_file() and (
        tmp_path / "run" / "class_weights.json"
    ).is_file()


def test_sigint_then_resume_equals_uninterrupted(tiny_camvid, tmp_path):
    ref = Trainer(_cfg(tiny_camvid, tmp_path / "ref", val_every=0), progress=False)
    ref.run()
    t = Trainer(_cfg(tiny_camvid, tmp_path / "cut", val_every=0), progress=False)
    calls = [0]
    step = t.opt.step

    def step_then_ctrl_c(*a, **k):
        out = step(*a, **k)
        calls[0] += 1
        if calls[0] == 4:  # mid epoch 2 (3 steps per epoch)
            os.kill(os.getpid(), signal.SIGINT)
        return out

    t.opt.step = step_then_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        t.run()
    assert (t.epoch, t.step) == (1, 1)
    Trainer(_cfg(tiny_camvid, tmp_path / "cut", val_every=0), progress=False).run(
        resume=tmp_path / "cut" / "last.pt"
    )
    a, b = _weights(tmp_path / "ref" / "last.pt"), _weights(tmp_path / "cut" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_and_keeps_good_checkpoints(tiny_camvid, tmp_path, monkeypatch):
    out = tmp_path / "run"
    Trainer(_cfg(tiny_camvid, out, epochs=1), progress=False).run()
    best_before = (out / "best.pt").read_bytes()
    t = Trainer(_cfg(tiny_camvid, out, epochs=3), progress=False)
    import edgeseg.train.loop as loop

    real = loop.weighted_ce
    calls = [0]

    def poisoned(*a, **k):
        calls[0] += 1
        loss = real(*a, **k)
        return loss * float("nan") if calls[0] == 2 else loss

    monkeypatch.setattr(loop, "weighted_ce", poisoned)
    with pytest.raises(EdgesegError, match=r"loss became nan at epoch 1 step 2"):
        t.run()
    assert (out / "best.pt").read_bytes() == best_before


def test_resume_refuses_other_architecture(tiny_camvid, tmp_path):
    out = tmp_path / "run"
    Trainer(_cfg(tiny_camvid, out, epochs=1, val_every=0), progress=False).run()
    from edgeseg.errors import CheckpointError

    with pytest.raises(CheckpointError):
        Trainer(
            _cfg(tiny_camvid, tmp_path / "b", arch_args={"m": 3, "n": 4}, val_every=0), progress=False
        ).run(resume=out / "last.pt")


def test_cli_train_reports_table(tiny_camvid, tmp_path, capsys):
    from edgeseg.cli import main

    rc = main(
        [
            "train",
            "--data",
            f"camvid:{tiny_camvid}",
            "--out",
            str(tmp_path / "c"),
            "--epochs",
            "1",
            "--batch",
            "2",
            "--crop",
            "32",
            "--arch-arg",
            "m=2",
            "--arch-arg",
            "n=3",
            "--threads",
            "1",
            "--no-progress",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "mIoU" in out and "Sky" in out


def test_cli_bad_data_is_one_line_error(tmp_path, capsys):
    from edgeseg.cli import main

    rc = main(
        ["train", "--data", f"camvid:{tmp_path}/missing", "--out", str(tmp_path / "o"), "--no-progress"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "error:" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
