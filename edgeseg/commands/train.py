"""edgeseg train: train a registered model on a dataset (CGNet recipe defaults)."""

from __future__ import annotations

import argparse
import json
from edgeseg.commands._policy import Io

from edgeseg.commands._args import deprecated_alias, float_in, int_in, parse_size

HELP = (
    "train a segmentation model (CGNet recipe: Adam 1e-3, poly 0.9, weighted CE, scale 0.5-2 + crop + flip)"
)

IO = Io(inputs=("resume", "data"), run_folder="out", loose=("data",))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", default="cgnet", help="registered model name (see `edgeseg models`; default cgnet)"
    )
    p.add_argument(
        "--data",
        default="synthetic",
        help="camvid:PATH, cityscapes:PATH, folder:PATH or synthetic[:N] (default synthetic)",
    )
    p.add_argument(
        "--out",
        default="runs/train",
        help="output folder for best.pt, last.pt, history.json (default runs/train)",
    )
    p.add_argument(
        "--epochs",
        type=int_in(1),
        default=None,
        help="epochs to train (default 10, or unlimited with --time: then it is a cap)",
    )
    p.add_argument(
        "--time",
        default=None,
        metavar="DURATION",
        help="wall-clock budget, e.g. 2h30m, 90m, 1.5h: the LR schedule ends exactly at the deadline, "
        "final validation and checkpoints included (default: none)",
    )
    p.add_argument(
        "--recipe",
        default="auto",
        metavar="NAME",
        help="schedule defaults: paper (CGNet's: lr 1e-3, poly, full crops), cpu (lr 2e-3, 90 warm-up "
        "steps, crops 0.71x --crop for 80%% of the run), or auto (default: cpu on a CPU, paper on a GPU); "
        "--lr/--schedule/--warmup/--progressive override it",
    )
    p.add_argument(
        "--schedule", choices=("poly", "linear"), default=None, help="LR decay shape (poly: power 0.9)"
    )
    p.add_argument(
        "--warmup", type=int_in(0), default=None, metavar="STEPS", help="linear LR warm-up iterations"
    )
    p.add_argument(
        "--progressive",
        default=None,
        metavar="CROP@FRACTION",
        help="progressive resizing: train on CROP until FRACTION of the run, then on --crop, "
        "e.g. 256x256@0.7, or off",
    )
    p.add_argument("--batch", type=int_in(1), default=8, help="per-process batch size (default 8)")
    p.add_argument("--crop", type=parse_size, default=(360, 360), help="training crop HxW (default 360x360)")
    p.add_argument(
        "--scale",
        type=float_in(0, above=True),
        nargs=2,
        default=(0.5, 2.0),
        metavar=("MIN", "MAX"),
        help="random scale range (default 0.5 2.0)",
    )
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    p.add_argument(
        "--lr", type=float_in(0, above=True), default=None, help="base learning rate (default: the recipe's)"
    )
    p.add_argument("--weight-decay", type=float_in(0), default=5e-4, help="default 5e-4")
    p.add_argument(
        "--no-class-weights", action="store_true", help="plain cross-entropy instead of 1/ln(1.10+p) weights"
    )
    p.add_argument(
        "--val-every", type=int_in(0), default=1, help="validate every K epochs (0: never; default 1)"
    )
    p.add_argument(
        "--val-max-frames", type=int_in(1), default=None, help="validate on the first N val frames only"
    )
    p.add_argument(
        "--train-split", default="train", help="train, or trainval for CamVid train+val (default train)"
    )
    p.add_argument("--seed", type=int_in(0), default=0)
    p.add_argument("--workers", type=int_in(0), default=0, help="data loader workers (default 0)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    p.add_argument(
        "--threads", type=int_in(1), default=None, help="torch CPU threads (default: torch's choice)"
    )
    p.add_argument(
        "--synthetic-size",
        type=parse_size,
        default=(120, 160),
        help="scene size for synthetic data (default 120x160)",
    )
    p.add_argument(
        "--bad-labels",
        choices=("error", "ignore"),
        default="error",
        help="label ids outside the classes: error (default) or map to ignore with a counted warning",
    )
    p.add_argument(
        "--arch-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model builder argument, e.g. output_stride=8 (JSON values)",
    )
    p.add_argument(
        "--max-steps",
        dest="max_steps_per_epoch",
        type=int_in(1),
        default=None,
        metavar="N",
        help="at most N steps per epoch, like quantize --max-steps (smoke runs; default: the whole set)",
    )
    deprecated_alias(
        p, "--max-steps-per-epoch", new="--max-steps", dest="max_steps_per_epoch", type=int_in(1)
    )
    p.add_argument("--resume", default=None, metavar="CHECKPOINT", help="continue exactly from a last.pt")
    p.add_argument("--no-progress", action="store_true")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _arch_args(items: list[str]) -> dict:
    from edgeseg.errors import EdgesegError

    out = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep:
            raise EdgesegError(f"--arch-arg expects KEY=VALUE, found {it!r}")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def run(args: argparse.Namespace) -> int:
    from edgeseg.train.budget import format_duration, parse_crop_schedule, parse_duration
    from edgeseg.train.evaluate import format_table
    from edgeseg.train.loop import TrainConfig, Trainer

    from edgeseg.train.recipes import pick_recipe, recipe_defaults

    budget = parse_duration(args.time) if args.time is not None else None
    parse_crop_schedule(args.progressive)
    device = args.device if args.device != "auto" else ("cuda" if _cuda() else "cpu")
    recipe = pick_recipe(args.recipe, device=device)
    given = {"lr": args.lr, "schedule": args.schedule, "warmup": args.warmup, "progressive": args.progressive}
    sched = {
        k: (given[k] if given[k] is not None else v)
        for k, v in recipe_defaults(recipe, crop=tuple(args.crop)).items()
    }
    epochs = args.epochs if args.epochs is not None or budget is not None else 10
    cfg = TrainConfig(
        model=args.model,
        data=args.data,
        out=args.out,
        epochs=epochs,
        batch=args.batch,
        crop=tuple(args.crop),
        scale=tuple(args.scale),
        optimizer=args.optimizer,
        lr=sched["lr"],
        weight_decay=args.weight_decay,
        schedule=sched["schedule"],
        warmup=sched["warmup"],
        time_budget_s=budget,
        recipe=recipe,
        progressive=None if str(sched["progressive"]).lower() in ("none", "off") else sched["progressive"],
        class_weights=not args.no_class_weights,
        val_every=args.val_every,
        val_max_frames=args.val_max_frames,
        train_split=args.train_split,
        seed=args.seed,
        workers=args.workers,
        device=args.device,
        amp=not args.no_amp,
        threads=args.threads,
        synthetic_size=tuple(args.synthetic_size),
        bad_labels=args.bad_labels,
        arch_args=_arch_args(args.arch_arg),
        max_steps_per_epoch=args.max_steps_per_epoch,
        command=args.command_line,
    )
    if args.resume:  # a checkpoint that cannot be resumed is refused before any data is read
        from edgeseg.train.checkpoint import read_checkpoint
        from edgeseg.train.resume import check_resume

        check_resume(args.resume, read_checkpoint(args.resume), cfg.to_dict())
    trainer = Trainer(cfg, progress=not args.no_progress)
    summary = trainer.run(resume=args.resume)
    best = trainer.out / "best.pt"
    done = trainer.epochs_done()
    spent = (
        f" ({format_duration(summary['budget_spent_s'])} of a {format_duration(budget)} budget, stopped by "
        f"{summary['stopped_by']})"
        if budget is not None
        else ""
    )
    print(
        f"trained {cfg.model} for {done:g} epoch{'' if done == 1 else 's'} ({summary['iterations']} "
        "iterations) in "
        f"{summary['seconds']} s{spent} -> {trainer.out}"
    )
    if summary.get("final_miou") is not None:
        print(f"final checkpoint {trainer.out / 'final.pt'}: val mIoU {100 * summary['final_miou']:.2f}%")
    if best.is_file():
        from edgeseg.train.checkpoint import read_checkpoint

        m = read_checkpoint(best)["card"]["metrics"]
        res = {
            "per_class_iou": m["val_per_class_iou"],
            "miou": m["val_miou"],
            "pixel_accuracy": m["val_pixel_accuracy"],
        }
        print(f"best checkpoint {best} (epoch {m['epoch']}), val:\n{format_table(res)}")
    return 0
