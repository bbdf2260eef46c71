"""Issue 8, fault table 3: TRAINING (issue rows 8, 12, 19) through the real ``edgeseg train``.

- REFUSALS (faults_table.run_row): a loss that turns NaN/Inf stops with the epoch and step named
  and leaves the run folder byte-identical; a resume with other model/data options is refused with
  every difference shown, before any data is read.
- INTERRUPTS (own runner): a CLI child is paused inside a chosen training step by the test hook
  (hooks/sitecustomize.py), gets a real SIGINT or SIGTERM from this process, must save last.pt at the
  step boundary and exit 130; ``--resume`` then has to end with the same weights, bit for bit, as an
  uninterrupted run with the same seed.
- TOLERATED: a batch without one labelled pixel is not a divergence.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

import pytest

from faults_table import Row, check_error_line, params, run_cli, run_row, work_dir

# ---- 12. NaN / Inf loss -----------------------------------------------------------------------------


def plant_nan_huge_lr(tmp, a, P):
    P.copy_run(P.trained_run, tmp / "run")
    return ["train", *P.TRAIN_ARGS, "--epochs", "1", "--lr", "1e30", "--out", str(tmp / "run"), "--force"]


def plant_nan_after_resume(tmp, a, P):
    P.copy_run(P.trained_run, tmp / "run")
    return [
        "train",
        *P.TRAIN_ARGS,
        "--epochs",
        "2",
        "--resume",
        str(tmp / "run" / "last.pt"),
        "--out",
        str(tmp / "run"),
    ]


def loss_nan_at_call(n: int):
    """A patch: the n-th loss of the run is NaN (the network's output is not touched)."""

    def patch(monkeypatch):
        import edgeseg.train.loop as loop

        real, calls = loop.weighted_ce, [0]

        def weighted_ce(*args, **kwargs):
            calls[0] += 1
            loss = real(*args, **kwargs)
            return loss * float("nan") if calls[0] == n else loss

        monkeypatch.setattr(loop, "weighted_ce", weighted_ce)

    return patch


# ---- 19. resume with another model / data configuration ----------------------------------------------


def _resume(tmp, P, *changed):
    P.copy_run(P.trained_run, tmp / "run")
    args = list(P.TRAIN_ARGS)
    for opt, value in zip(changed[::2], changed[1::2]):
        if opt in args:
            args[args.index(opt) + 1] = value
        else:
            args += [opt, value]
    return [
        "train",
        *args,
        "--epochs",
        "2",
        "--resume",
        str(tmp / "run" / "last.pt"),
        "--out",
        str(tmp / "run"),
    ]


def plant_resume_other_data(tmp, a, P):
    return _resume(tmp, P, "--data", "synthetic:6")


def plant_resume_other_crop_and_batch(tmp, a, P):
    return _resume(tmp, P, "--crop", "24x32", "--batch", "1")


def plant_resume_other_arch_arg(tmp, a, P):
    return _resume(tmp, P, "--arch-arg", "m=3")  # replaces the first --arch-arg (m=2)


def plant_resume_other_model(tmp, a, P):
    return _resume(tmp, P, "--model", "fcn")


def plant_resume_from_best(tmp, a, P):
    P.copy_run(P.trained_run, tmp / "run")
    return [
        "train",
        *P.TRAIN_ARGS,
        "--epochs",
        "2",
        "--resume",
        str(tmp / "run" / "best.pt"),
        "--out",
        str(tmp / "run"),
    ]


ROWS = [
    Row(
        "train-nan-loss-huge-lr",
        plant_nan_huge_lr,
        r"loss became (nan|inf) at epoch 1 step \d+; stopped without saving these weights.*try a lower --lr",
        (12,),
        unchanged=("run",),
    ),
    Row(
        "train-nan-loss-after-resume-keeps-best",
        plant_nan_after_resume,
        r"loss became nan at epoch 2 step 2; stopped without saving",
        (12,),
        unchanged=("run",),
        patch=loss_nan_at_call(2),
    ),
    Row(
        "train-resume-other-data",
        plant_resume_other_data,
        r"last\.pt: was written by a run with other model/data settings: --data synthetic:4 \(this "
        r"run: synthetic:6\)",
        (19,),
        unchanged=("run",),
    ),
    Row(
        "train-resume-other-crop-and-batch",
        plant_resume_other_crop_and_batch,
        r"--crop 32x48 \(this run: 24x32\); --batch 2 \(this run: 1\).*resume with the same",
        (19,),
        unchanged=("run",),
    ),
    Row(
        "train-resume-other-arch-arg-from-a-run",
        plant_resume_other_arch_arg,
        r"--arch-arg m=2 n=3 \(this run: m=3 n=3\)",
        (19, 2),
        unchanged=("run",),
    ),
    Row(
        "train-resume-other-model",
        plant_resume_other_model,
        r"--model cgnet \(this run: fcn\)",
        (19, 2),
        unchanged=("run",),
    ),
    Row(
        "train-resume-from-best-pt",
        plant_resume_from_best,
        r"best\.pt: has no optimizer/scheduler state.*resume from the run's last\.pt$",
        (19,),
        unchanged=("run",),
    ),
]


@pytest.fixture
def P(plant, trained):
    from types import SimpleNamespace

    return SimpleNamespace(**vars(plant), trained_run=trained)


@pytest.mark.parametrize("row", params(ROWS))
def test_fault(row: Row, tmp_path, artifacts, P, capsys, monkeypatch):
    work = work_dir(tmp_path, monkeypatch)
    run_row(row, work, artifacts, P, capsys, monkeypatch)


# ---- 8. SIGINT / SIGTERM during training, then --resume -----------------------------------------------


@dataclass(frozen=True)
class InterruptRow:
    id: str
    sig: int
    step: int  # the training step (1-based, whole run) during which the signal arrives
    issue_rows: tuple[int, ...] = (8,)


#: 4 synthetic scenes, batch 1: 4 steps per epoch, 2 epochs. Step 6 is epoch 2 step 2.
INTERRUPT_ARGS = (
    "--data",
    "synthetic:4",
    "--synthetic-size",
    "32x48",
    "--crop",
    "32x48",
    "--batch",
    "1",
    "--device",
    "cpu",
    "--arch-arg",
    "m=2",
    "--arch-arg",
    "n=3",
    "--threads",
    "1",
    "--epochs",
    "2",
    "--val-every",
    "0",
    "--seed",
    "3",
    "--no-progress",
)

INTERRUPT_ROWS = [
    InterruptRow("train-sigint-mid-epoch-2-then-resume", signal.SIGINT, 6),
    InterruptRow("train-sigterm-in-epoch-1-then-resume", signal.SIGTERM, 2),
]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Weights of the same run, never interrupted (in this process, one thread)."""
    from edgeseg.cli import main
    from edgeseg.train.checkpoint import read_checkpoint

    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    assert main(["train", *INTERRUPT_ARGS, "--out", str(out)]) == 0
    return read_checkpoint(out / "last.pt")["model"]


@pytest.mark.parametrize("row", params(INTERRUPT_ROWS, kind="interrupt"))
def test_interrupt_then_resume(row: InterruptRow, tmp_path, uninterrupted, capsys):
    import torch

    from edgeseg.train.checkpoint import read_checkpoint
    from faults_proc import finish, start_hooked, wait_for

    out, marker = tmp_path / "run", tmp_path / "in-step"
    proc = start_hooked(
        ["train", *INTERRUPT_ARGS, "--out", str(out)],
        {"kind": "pause-step", "step": row.step, "marker": str(marker)},
        cwd=tmp_path,
    )
    wait_for(marker, proc)  # the child is inside training step `row.step`
    os.kill(proc.pid, row.sig)
    time.sleep(0.2)  # the signal is handled while the step is still paused
    marker.unlink()  # lets the step finish
    code, _, err = finish(proc)
    assert code == 130, err
    print(check_error_line(err, "train", "interrupted", code=130))
    epoch, step = divmod(row.step, 4)
    assert f"interrupted at epoch {epoch + 1} step {step}; saved {out / 'last.pt'}" in err, err
    payload = read_checkpoint(out / "last.pt")
    assert (payload["epoch"], payload["state"]["step"]) == (epoch, step)  # saved at the step boundary
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]

    code, _, err = run_cli(
        ["train", *INTERRUPT_ARGS, "--out", str(out), "--resume", str(out / "last.pt")],
        child=False,
        capsys=capsys,
    )
    assert code == 0, err
    resumed = read_checkpoint(out / "last.pt")["model"]
    assert resumed.keys() == uninterrupted.keys()
    differ = [k for k in resumed if not torch.equal(resumed[k], uninterrupted[k])]
    assert not differ, f"resumed weights differ from the uninterrupted run in {differ[:5]}"


# ---- tolerated: a batch with no labelled pixel -------------------------------------------------------


@dataclass(frozen=True)
class ToleratedRow:
    id: str
    issue_rows: tuple[int, ...]


@pytest.mark.parametrize(
    "row", params([ToleratedRow("train-batch-of-only-ignore-labels", (12,))], kind="tolerated")
)
def test_batch_without_labelled_pixels_is_not_a_divergence(row, tmp_path, media, capsys):
    """A frame whose label is all ignore (an unlabelled frame; a crop of a void region) gives a batch
    with nothing to learn: a zero loss, not the NaN of a mean over no pixel that stops the run."""
    import cv2
    import numpy as np

    root = media.write_pairs(tmp_path / "camvid", 2, split="train")
    cv2.imwrite(
        str(root / "trainannot" / "f001.png"), np.full((48, 64), 11, np.uint8)
    )  # 11 = CamVid's ignore id
    argv = [
        "train",
        "--data",
        f"camvid:{root}",
        "--crop",
        "32x48",
        "--batch",
        "1",
        "--epochs",
        "1",
        "--val-every",
        "0",
        "--device",
        "cpu",
        "--arch-arg",
        "m=2",
        "--arch-arg",
        "n=3",
        "--threads",
        "1",
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
    ]
    code, _, err = run_cli(argv, child=False, capsys=capsys)
    assert code == 0, err
    from edgeseg.train.checkpoint import read_checkpoint

    payload = read_checkpoint(tmp_path / "run" / "last.pt")
    assert payload["epoch"] == 1 and payload["state"]["history"][-1]["loss"] >= 0
