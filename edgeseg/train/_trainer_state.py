"""The Trainer's state on disk: what a checkpoint's ``state`` holds, saving best/last/final (rank 0),
resuming from ``last.pt``, the epochs done, why the run stopped, and the card of a finished run
(metrics and training facts)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from edgeseg.card import ModelCard
from edgeseg.train.budget import machine_facts
from edgeseg.train.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from edgeseg.train.resume import check_resume


class StateMixin:
    """State methods of ``edgeseg.train.loop.Trainer`` (they read its attributes: ``cfg``, ``model``,
    ``opt``, ``sched``, ``card``, ``out``, ``epoch``, ``step``, ``best``, ``history``, ...)."""

    cfg: Any
    budget: Any

    def _state(self) -> dict[str, Any]:
        st = {
            "step": self.step,
            "best_miou": self.best,
            "history": self.history,
            "config": self.cfg.to_dict(),
        }
        if self.budget is not None:
            st["budget_spent_s"] = round(self._spent, 3)
        return st

    def _save(self, name: str, *, card: ModelCard | None = None, resumable: bool = True) -> Path | None:
        """Write ``name`` in the output folder (rank 0 only). ``resumable=False`` leaves out the
        optimizer and scheduler: a deployable checkpoint a third of the size."""
        if self.rank != 0:
            return None
        extra = {"optimizer": self.opt, "scheduler": self.sched} if resumable else {}
        return save_checkpoint(
            self.out / name,
            model=self.model,
            card=card or self.card,
            epoch=self.epoch,
            state=self._state(),
            **extra,
        )

    def resume(self, path: str | os.PathLike) -> None:
        payload = read_checkpoint(path)
        check_resume(path, payload, self.cfg.to_dict())
        model, _, _ = load_checkpoint(path, expect_arch=self.cfg.model, expect_classes=self.card.num_classes)
        self.model.load_state_dict(model.state_dict())
        self.opt.load_state_dict(payload["optimizer"])
        self.sched.load_state_dict(payload["scheduler"])
        st = payload["state"]
        self.epoch, self.step, self.best, self.history = (
            payload["epoch"],
            st["step"],
            st["best_miou"],
            st["history"],
        )
        if self.budget is not None:  # the budget continues where the resumed run left it
            self.budget.spent_before_s = float(st.get("budget_spent_s", 0.0))

    def epochs_done(self) -> int | float:
        """Epochs run: an int at an epoch boundary, else with the fraction of the partial epoch."""
        return self.epoch if self.step == 0 else round(self.epoch + self.step / self.steps_per_epoch, 3)

    def _stopped_by(self) -> str:
        return (
            "time budget"
            if self._budget_done and not (self.cfg.epochs and self.epoch >= self.cfg.epochs)
            else "epochs"
        )

    def _final_card(self, res: dict[str, Any] | None, t0: float) -> ModelCard:
        cfg = self.cfg
        training = {
            "command": cfg.command,
            "epochs_done": self.epochs_done(),
            "epochs_planned": cfg.epochs,
            "iterations": self.iterations,
            "seed": cfg.seed,
            "batch": cfg.batch,
            "crop": list(cfg.crop),
            "lr": cfg.lr,
            "recipe": cfg.recipe,
            "schedule": cfg.schedule,
            "warmup": cfg.warmup,
            "progressive": cfg.progressive,
            "device": str(self.device),
            "seconds_this_run": round(time.time() - t0, 1),
            "machine": machine_facts(str(self.device)),
        }
        if self.budget is not None:
            training.update(
                budget_s=self.budget.total_s,
                budget_spent_s=round(self._spent, 1),
                stopped_by=self._stopped_by() if self._finished() else None,
            )
        metrics = None
        if res is not None:
            metrics = {
                "val_miou": res["miou"],
                "val_pixel_accuracy": res["pixel_accuracy"],
                "val_per_class_iou": res["per_class_iou"],
                "dataset": res.get("dataset", ""),
                "epoch": training["epochs_done"],
            }
        return (
            self.card.replace(metrics=metrics, training=training)
            if metrics
            else self.card.replace(training=training)
        )
