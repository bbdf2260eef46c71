"""Time-budgeted training (``--time``) with an injected fake clock: no test here waits on real time.

The fake clock advances by one second per optimizer step (and by what a test says a validation
costs), so the budget's arithmetic is exact and independent of this machine's speed.
"""

import os
import signal

import pytest

from edgeseg.errors import EdgesegError
from edgeseg.train.budget import format_duration, lr_factor, parse_crop_schedule, parse_duration
from edgeseg.train.checkpoint import read_checkpoint
from edgeseg.train.loop import TrainConfig, Trainer


class FakeClock:
    """A monotonic clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _cfg(root, out, **kw):
    base = dict(
        model="cgnet",
        arch_args={"m": 2, "n": 3},
        data=f"camvid:{root}",
        out=str(out),
        epochs=None,
        batch=2,
        crop=(32, 32),
        val_every=1,
        seed=5,
        threads=1,
        time_budget_s=10.0,
    )
    base.update(kw)
    return TrainConfig(**base)


def _trainer(cfg, clock, *, step_s=1.0, val_s=0.0, lrs=None, shapes=None):
    """A Trainer whose optimizer step costs ``step_s`` fake seconds and whose validation ``val_s``."""
    t = Trainer(cfg, progress=False, clock=clock)
    step, validate, forward = t.opt.step, t.validate, t.net.forward

    def timed_step(*a, **k):
        out = step(*a, **k)
        clock.now += step_s
        if lrs is not None:
            lrs.append(t.opt.param_groups[0]["lr"])
        return out

    def timed_validate():
        res = validate()
        clock.now += val_s
        return res

    def recording_forward(x):
        if shapes is not None:
            shapes.append(tuple(x.shape[-2:]))
        return forward(x)

    t.opt.step, t.validate, t.net.forward = timed_step, timed_validate, recording_forward
    return t


def test_budget_ends_the_schedule_at_the_deadline(tiny_camvid, tmp_path):
    clock, lrs = FakeClock(), []
    t = _trainer(_cfg(tiny_camvid, tmp_path / "run", val_every=0), clock, lrs=lrs)
    summary = t.run()
    # 10 s budget, 1 s reserve (no validation: save estimate only) -> a 9 s window, one step per second
    assert summary["iterations"] == 9 and summary["stopped_by"] == "time budget"
    assert lrs[0] == pytest.approx(1e-3) and all(a > b for a, b in zip(lrs, lrs[1:]))
    assert t.opt.param_groups[0]["lr"] == 0.0  # the schedule reached its end exactly at the deadline
    card = read_checkpoint(tmp_path / "run" / "final.pt")["card"]["training"]
    assert card["budget_s"] == 10.0 and card["budget_spent_s"] == 9.0 and card["iterations"] == 9
    assert card["stopped_by"] == "time budget" and card["epochs_done"] == 3  # 3 steps per epoch
    assert card["machine"]["cpu_count"] == os.cpu_count() and card["machine"]["torch_threads"] == 1


def test_epochs_cap_a_budget(tiny_camvid, tmp_path):
    t = _trainer(_cfg(tiny_camvid, tmp_path / "run", epochs=1, time_budget_s=100.0, val_every=0), FakeClock())
    summary = t.run()
    assert summary["iterations"] == 3 and summary["stopped_by"] == "epochs"
    # the schedule followed the larger of the two fractions: the epochs', 3 of 3 steps
    assert t.opt.param_groups[0]["lr"] == 0.0


def test_validation_and_final_checkpoint_fit_inside_the_budget(tiny_camvid, tmp_path):
    clock = FakeClock()
    t = _trainer(_cfg(tiny_camvid, tmp_path / "run", time_budget_s=20.0), clock, val_s=3.0)
    start = clock.now
    summary = t.run()
    assert clock.now - start <= 20.0  # training, periodic validations and the final one
    assert summary["final_miou"] is not None and (tmp_path / "run" / "final.pt").is_file()
    hist = t.history
    assert "val_miou" in hist[-1]  # the final (partial) epoch was validated
    final = read_checkpoint(tmp_path / "run" / "final.pt")["card"]
    assert final["metrics"]["val_miou"] == summary["final_miou"]


def test_resume_continues_the_budget(tiny_camvid, tmp_path):
    clock = FakeClock()
    t = _trainer(_cfg(tiny_camvid, tmp_path / "run", val_every=0), clock)
    calls, step = [0], t.opt.step

    def step_then_ctrl_c(*a, **k):
        out = step(*a, **k)
        calls[0] += 1
        if calls[0] == 4:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    t.opt.step = step_then_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        t.run()
    assert read_checkpoint(tmp_path / "run" / "last.pt")["state"]["budget_spent_s"] == 4.0
    t2 = _trainer(_cfg(tiny_camvid, tmp_path / "run", val_every=0), FakeClock())
    summary = t2.run(resume=tmp_path / "run" / "last.pt")
    assert summary["iterations"] == 9 and summary["budget_spent_s"] == 9.0  # 5 more steps, not 9 more


def test_progressive_resizing_switches_crop(tiny_camvid, tmp_path):
    shapes = []
    cfg = _cfg(
        tiny_camvid,
        tmp_path / "run",
        epochs=4,
        time_budget_s=None,
        crop=(48, 48),
        progressive="32x32@0.5",
        val_every=0,
    )
    _trainer(cfg, FakeClock(), shapes=shapes).run()
    assert shapes == [(32, 32)] * 6 + [(48, 48)] * 6


def test_lr_factor_shapes():
    assert lr_factor(0.5, schedule="linear") == 0.5
    assert lr_factor(0.5, schedule="poly", power=0.9) == pytest.approx(0.5**0.9)
    assert lr_factor(1.2, schedule="poly") == 0.0
    assert lr_factor(0.0, step=0, warmup=4) == 0.25 and lr_factor(0.0, step=3, warmup=4) == 1.0
    with pytest.raises(EdgesegError, match="--schedule"):
        lr_factor(0.1, schedule="cosine")


@pytest.mark.parametrize(
    "text,seconds", [("2h30m", 9000), ("90m", 5400), ("45s", 45), ("1.5h", 5400), ("120", 120)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2x", "0s", "-5", "h", "nan"])
def test_parse_duration_refuses(text):
    with pytest.raises(EdgesegError, match="--time"):
        parse_duration(text)


def test_crop_schedule_parsing():
    assert parse_crop_schedule("256@0.7") == ((256, 256), 0.7)
    assert parse_crop_schedule("192x256@0.5") == ((192, 256), 0.5)
    for bad in ("256", "256@1.5", "16@0.5", "ax@0.5"):
        with pytest.raises(EdgesegError, match="--progressive"):
            parse_crop_schedule(bad)
    assert format_duration(9000) == "2h30m00s" and format_duration(75) == "1m15s"


def test_cli_bad_time_is_one_line_error_before_any_folder(tiny_camvid, tmp_path, capsys):
    from edgeseg.cli import main

    out = tmp_path / "never"
    rc = main(
        ["train", "--data", f"camvid:{tiny_camvid}", "--out", str(out), "--time", "2 hours", "--no-progress"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "--time" in err and "'2 hours'" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_budget_summary_line(tiny_camvid, tmp_path, capsys):
    from edgeseg.cli import main

    rc = main(
        [
            "train",
            "--data",
            f"camvid:{tiny_camvid}",
            "--out",
            str(tmp_path / "c"),
            "--time",
            "1h",
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
    out = capsys.readouterr().out
    assert rc == 0 and "for 1 epoch (3 iterations)" in out and "budget, stopped by epochs" in out
    assert "final checkpoint" in out


def test_recipes_fill_only_what_was_not_given():
    from edgeseg.train.recipes import pick_recipe, recipe_defaults, small_crop

    assert pick_recipe("auto", device="cpu") == "cpu" and pick_recipe("auto", device="cuda") == "paper"
    assert recipe_defaults("cpu", crop=(360, 360))["progressive"] == "256x256@0.8"
    assert recipe_defaults("paper", crop=(360, 360)) == {
        "lr": 1e-3,
        "schedule": "poly",
        "warmup": 0,
        "progressive": None,
    }
    assert small_crop((32, 32), 0.711) is None  # nothing smaller than the crop to start from
    with pytest.raises(EdgesegError, match="--recipe"):
        pick_recipe("fast", device="cpu")


def test_cli_recipe_and_overrides_reach_the_card(tiny_camvid, tmp_path, capsys):
    from edgeseg.cli import main

    common = [
        "train",
        "--data",
        f"camvid:{tiny_camvid}",
        "--epochs",
        "1",
        "--batch",
        "2",
        "--crop",
        "48",
        "--arch-arg",
        "m=2",
        "--arch-arg",
        "n=3",
        "--threads",
        "1",
        "--no-progress",
        "--val-every",
        "0",
    ]
    assert main([*common, "--out", str(tmp_path / "a"), "--device", "cpu"]) == 0
    tr = read_checkpoint(tmp_path / "a" / "final.pt")["card"]["training"]
    assert (tr["recipe"], tr["lr"], tr["warmup"], tr["progressive"]) == ("cpu", 2e-3, 90, "32x32@0.8")
    # the card's command is the argv this call parsed (not pytest's sys.argv)
    assert tr["command"] == "edgeseg " + " ".join([*common, "--out", str(tmp_path / "a"), "--device", "cpu"])
    assert (
        main(
            [*common, "--out", str(tmp_path / "b"), "--recipe", "cpu", "--lr", "5e-4", "--progressive", "off"]
        )
        == 0
    )
    tr = read_checkpoint(tmp_path / "b" / "final.pt")["card"]["training"]
    assert (tr["recipe"], tr["lr"], tr["warmup"], tr["progressive"]) == ("cpu", 5e-4, 90, None)


def test_progressive_crop_must_be_smaller(tiny_camvid, tmp_path):
    with pytest.raises(EdgesegError, match="--progressive: the first crop must be smaller"):
        Trainer(_cfg(tiny_camvid, tmp_path / "r", crop=(32, 32), progressive="48@0.5"), progress=False)


def _slow_val_frames(monkeypatch, clock, seconds):
    """The start-of-run estimate times one val frame: make it cost ``seconds`` on the fake clock."""
    import edgeseg.segment

    real = edgeseg.segment.segment

    def slow(runner, frames):
        clock.now += seconds
        return real(runner, frames)

    monkeypatch.setattr(edgeseg.segment, "segment", slow)


def test_a_budget_too_small_for_one_step_and_the_final_validation_is_refused_at_the_start(
    tiny_camvid, tmp_path, monkeypatch
):
    # CamVid's `--time 20s` trained 0 steps, wrote no final.pt and exited 0: the estimate of the final
    # validation (101 full frames) was larger than the whole budget
    clock = FakeClock()
    _slow_val_frames(monkeypatch, clock, 10.0)
    t = _trainer(_cfg(tiny_camvid, tmp_path / "run", time_budget_s=20.0), clock)
    with pytest.raises(
        EdgesegError,
        match=r"--time 20s is too short: .* val frames takes about \d+ s.*needs at least "
        r"\d+s; give a longer --time, or fewer validation frames",
    ) as e:
        t.run()
    assert "\n" not in str(e.value)
    assert not (tmp_path / "run" / "final.pt").exists() and t.iterations == 0


def test_a_budget_that_fits_trains_and_writes_final(tiny_camvid, tmp_path, monkeypatch):
    clock = FakeClock()
    _slow_val_frames(monkeypatch, clock, 1.0)
    t = _trainer(_cfg(tiny_camvid, tmp_path / "run", time_budget_s=60.0), clock)
    summary = t.run()
    assert summary["iterations"] > 0 and (tmp_path / "run" / "final.pt").is_file()


def test_machine_facts_come_from_the_one_machine_function(monkeypatch):
    import edgeseg._env as env
    from edgeseg.train.budget import machine_facts

    fake = {"os": "FakeOS-1", "arch": "fake64", "cpu": "Fake CPU 9000", "logical_cores": 3}
    monkeypatch.setattr(env, "machine_info", lambda: fake)
    m = machine_facts("cpu")
    assert (m["platform"], m["machine"], m["processor"], m["cpu_count"]) == (
        "FakeOS-1",
        "fake64",
        "Fake CPU 9000",
        3,
    )
