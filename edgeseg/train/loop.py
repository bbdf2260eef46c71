"""The training loop: weighted CE, Adam/SGD with a poly (or linear) LR schedule and optional warm-up,
an optional wall-clock budget (``--time``) that drives the schedule, progressive resizing, AMP +
channels-last on CUDA, DDP under torchrun, validation mIoU every K epochs, atomic best/last/final
checkpoints, exact step-level resume, Ctrl-C saves and exits, NaN loss stops without touching good
checkpoints.

Exact resume: the sample order of epoch e is a permutation seeded by (seed, e) and each sample's
augmentation by (seed, e, index), so a run resumed from step k of epoch e sees the same batches as
an uninterrupted one (epoch-driven runs end with the same weights; a budgeted run's schedule follows
the wall clock, so it cannot be bit-exact).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable

import numpy as np
import torch

from edgeseg._io import atomic_write_json, ensure_writable_dir
from edgeseg.card import ModelCard
from edgeseg.data.transforms import TrainTransform
from edgeseg.errors import EdgesegError
from edgeseg.train._loop_parts import AugmentedDataset, StopAtStepBoundary, dist_info
from edgeseg.train._trainer_schedule import ScheduleMixin
from edgeseg.train._trainer_state import StateMixin
from edgeseg.train.budget import TimeBudget, format_duration, parse_crop_schedule
from edgeseg.train.config import TrainConfig, check_batch_fits
from edgeseg.train.losses import cached_class_weights, weighted_ce

__all__ = ["TrainConfig", "Trainer", "check_batch_fits"]


class Trainer(ScheduleMixin, StateMixin):
    """Train one model as configured. ``run(resume=...)`` returns the final summary dict.
    ``clock`` (default ``time.monotonic``) times the budget; tests inject a fake one. The schedule
    (progress, LR, budget) is ``ScheduleMixin`` (``_trainer_schedule.py``), the state on disk (save,
    resume, the final card) ``StateMixin`` (``_trainer_state.py``); the settings are ``TrainConfig``
    (``config.py``)."""

    def __init__(
        self, cfg: TrainConfig, *, progress: bool = True, clock: Callable[[], float] = time.monotonic
    ) -> None:
        from edgeseg.data.datasets import open_dataset
        from edgeseg.models import build_model

        if cfg.epochs is None and cfg.time_budget_s is None:
            raise EdgesegError("train: give --epochs, --time, or both")
        self._small_crop = parse_crop_schedule(cfg.progressive)
        if self._small_crop and any(s >= c for s, c in zip(self._small_crop[0], cfg.crop)):
            raise EdgesegError(
                f"--progressive: the first crop must be smaller than --crop {cfg.crop[0]}x{cfg.crop[1]}, "
                f"found {cfg.progressive!r}"
            )
        self.cfg, self.progress = cfg, progress
        self.rank, self.world, local = dist_info()
        if self.world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            torch.distributed.init_process_group(backend)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        dev = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        self.device = torch.device(f"cuda:{local}" if dev == "cuda" and self.world > 1 else dev)
        self.cuda = self.device.type == "cuda"
        size = cfg.synthetic_size
        self.train_set = open_dataset(cfg.data, cfg.train_split, bad_labels=cfg.bad_labels, size=size)
        self.val_set = (
            open_dataset(cfg.data, cfg.val_split, bad_labels=cfg.bad_labels, size=size)
            if cfg.val_every
            else None
        )
        check_batch_fits(len(self.train_set), batch=cfg.batch, world=self.world)
        self.out = ensure_writable_dir(
            cfg.out, create=True
        )  # after the data opened: a bad --data leaves no folder
        info = self.train_set.info
        eval_hw = tuple((self.val_set or self.train_set)[0][0].shape[:2])
        self.card = ModelCard(
            arch=cfg.model,
            arch_args=dict(cfg.arch_args),
            num_classes=info.num_classes,
            class_names=info.class_names,
            palette=info.palette,
            ignore_index=info.ignore_index,
            input_size=eval_hw,
        )
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg.model, num_classes=info.num_classes, **cfg.arch_args).to(self.device)
        self.channels_last = True
        self.model = self.model.to(memory_format=torch.channels_last)
        params = self.model.parameters()
        if cfg.optimizer == "adam":
            self.opt = torch.optim.Adam(
                params, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=cfg.weight_decay
            )
        elif cfg.optimizer == "sgd":
            self.opt = torch.optim.SGD(
                params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
            )
        else:
            raise EdgesegError(f"unknown optimizer {cfg.optimizer!r}; expected adam or sgd")
        n = len(self.train_set)
        self.steps_per_epoch = max(1, (n // self.world) // cfg.batch)
        if cfg.max_steps_per_epoch:
            self.steps_per_epoch = min(self.steps_per_epoch, cfg.max_steps_per_epoch)
        self.total_steps = cfg.epochs * self.steps_per_epoch if cfg.epochs else None
        self.budget = TimeBudget(cfg.time_budget_s, clock=clock) if cfg.time_budget_s else None
        self._time_frac, self._budget_done, self._spent = 0.0, False, 0.0
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda it: self._lr_factor(it))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.cuda and cfg.amp)
        weights = (
            cached_class_weights(self.train_set, cache=self.out / "class_weights.json", progress=progress)
            if cfg.class_weights
            else None
        )
        self.weight = torch.from_numpy(weights).to(self.device) if weights is not None else None
        self.aug = AugmentedDataset(self.train_set, self._transform(cfg.crop), self.card, cfg.seed)
        self.net = self.model
        if self.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[local] if self.cuda else None
            )
        self.epoch, self.step, self.best, self.history = 0, 0, -1.0, []
        self._stop = StopAtStepBoundary()

    # -- epochs ---------------------------------------------------------------------------------
    def _transform(self, crop: tuple[int, int]) -> TrainTransform:
        return TrainTransform(crop=tuple(crop), scale=self.cfg.scale, ignore_index=self.card.ignore_index)

    def _order(self, epoch: int) -> list[int]:
        g = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)
        order = torch.randperm(len(self.train_set), generator=g).tolist()
        return order[self.rank :: self.world][: self.steps_per_epoch * self.cfg.batch]

    def _train_epoch(self, bar) -> float:
        cfg = self.cfg
        self.aug.epoch = self.epoch
        self.aug.transform = self._transform(self._crop_now())
        order = self._order(self.epoch)[self.step * cfg.batch :]
        loader = torch.utils.data.DataLoader(
            self.aug,
            batch_size=cfg.batch,
            sampler=order,
            num_workers=cfg.workers,
            drop_last=True,
            pin_memory=self.cuda,
            persistent_workers=False,
        )
        self.net.train()
        losses = []
        for x, y in loader:
            x = x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            y = y.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.cuda and cfg.amp):
                loss = weighted_ce(self.net(x), y, weight=self.weight, ignore_index=self.card.ignore_index)
            if not torch.isfinite(loss):
                raise EdgesegError(
                    f"loss became {loss.item()} at epoch {self.epoch + 1} step {self.step + 1}; "
                    "stopped without "
                    f"saving these weights (last good checkpoints in {self.out}); try a lower --lr"
                )
            self.opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
            self._tick()
            self.sched.step()
            self.step += 1
            losses.append(loss.item())
            self._bar_update(bar, losses[-1])
            if self._stop.requested:
                raise KeyboardInterrupt
            if self._budget_done:
                break
        return float(np.mean(losses)) if losses else float("nan")

    def _bar_update(self, bar, loss: float) -> None:
        epoch = f"{self.epoch + 1}" + (f"/{self.cfg.epochs}" if self.cfg.epochs else "")
        post = {"epoch": epoch, "loss": f"{loss:.3f}", "lr": f"{self.sched.get_last_lr()[0]:.2e}"}
        if self.budget is not None:
            bar.update(max(0, int(self._spent) - bar.n))
            post["left"] = format_duration(self.budget.total_s - self._spent)
        else:
            bar.update(1)
        bar.set_postfix(post, refresh=False)

    def validate(self) -> dict[str, Any]:
        from edgeseg.train.evaluate import evaluate

        from edgeseg.module_runner import ModuleRunner

        runner = ModuleRunner.from_model(
            self.model, self.card, device=str(self.device), channels_last=self.channels_last
        )
        return evaluate(
            runner, self.val_set, max_frames=self.cfg.val_max_frames, progress=self.progress, desc="val"
        )

    def run(self, *, resume: str | os.PathLike | None = None) -> dict[str, Any]:
        from edgeseg._progress import progress_bar

        if resume:
            self.resume(resume)
        t0 = time.time()
        if self.budget is not None:
            self.budget.start()
            self.budget.reserve_s = self._estimate_val_s() + 1.0
            self._tick()
            self._check_budget_fits()
            bar = progress_bar(
                total=int(self.budget.window()),
                initial=int(self._spent),
                desc="train",
                unit="s",
                disable=not self.progress or self.rank != 0,
                file=sys.stderr,
            )
        else:
            bar = progress_bar(
                total=self.total_steps,
                initial=self.iterations,
                desc="train",
                unit="step",
                disable=not self.progress or self.rank != 0,
                file=sys.stderr,
            )
        try:
            with self._stop:
                final = self._epochs(bar, t0)
        except KeyboardInterrupt:
            bar.close()
            if self.rank == 0:
                self._save("last.pt")
                print(
                    f"interrupted at epoch {self.epoch + 1} step {self.step}; saved {self.out / 'last.pt'} "
                    f"(resume with --resume {self.out / 'last.pt'})",
                    file=sys.stderr,
                )
            raise
        bar.close()
        return {
            "epochs": self.epoch,
            "iterations": self.iterations,
            "best_miou": self.best,
            "final_miou": final.get("miou") if final else None,
            "out": str(self.out),
            "seconds": round(time.time() - t0, 1),
            "stopped_by": self._stopped_by(),
            "budget_spent_s": round(self._spent, 1) if self.budget is not None else None,
        }

    def _epochs(self, bar, t0: float) -> dict[str, Any] | None:
        """Train until the epochs or the budget run out; the last pass validates and writes final.pt."""
        final = None
        while not self._finished():
            loss = self._train_epoch(bar)
            if self.step >= self.steps_per_epoch:
                self.epoch, self.step = self.epoch + 1, 0
            last = self._finished()
            rec: dict[str, Any] = {
                "epoch": self.epochs_done(),
                "loss": loss,
                "lr": self.sched.get_last_lr()[0],
                "time": round(time.time() - t0, 1),
            }
            if self.val_set is not None and self.rank == 0 and (last or self._val_due()):
                tv = self.budget.clock() if self.budget is not None else 0.0
                res = self.validate()
                if self.budget is not None:  # the reserve follows what validation really costs
                    self.budget.reserve_s = 1.1 * (self.budget.clock() - tv) + 1.0
                rec.update(val_miou=res["miou"], val_pixel_accuracy=res["pixel_accuracy"])
                if res["miou"] > self.best:
                    self.best = res["miou"]
                    self.history.append(rec)
                    self._save("best.pt", card=self._final_card(res, t0), resumable=False)
                    self.history.pop()
                bar.write(
                    f"epoch {rec['epoch']:g}: loss {loss:.4f}  val mIoU {100 * res['miou']:.2f}%  "
                    f"(best {100 * self.best:.2f}%)"
                )
                final = res if last else None
            self.history.append(rec)
            if last:
                self._save("final.pt", card=self._final_card(final, t0), resumable=False)
            self._save("last.pt")
            if self.rank == 0:
                atomic_write_json(self.out / "history.json", self.history)
        return final
