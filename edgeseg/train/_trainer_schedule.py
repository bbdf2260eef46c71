"""The Trainer's schedule: run progress (iterations, wall-clock budget or both), the LR factor, the
per-step budget clock, whether the run is finished, when to validate, the progressive crop, and the
start-of-run check that the budget holds a step plus the final validation."""

from __future__ import annotations

from typing import Any

import torch

from edgeseg.errors import EdgesegError
from edgeseg.train.budget import format_duration, lr_factor


class ScheduleMixin:
    """Schedule methods of ``edgeseg.train.loop.Trainer`` (they read its attributes: ``cfg``,
    ``budget``, ``epoch``, ``step``, ``steps_per_epoch``, ``total_steps``, ...)."""

    cfg: Any
    budget: Any

    def progress_fraction(self, it: int | None = None) -> float:
        """The run's progress in [0, 1]: iterations of ``--epochs``, time of ``--time``, or the larger."""
        it = self.iterations if it is None else it
        f = it / self.total_steps if self.total_steps else 0.0
        return min(1.0, max(f, self._time_frac))

    def _lr_factor(self, it: int) -> float:
        return lr_factor(
            self.progress_fraction(it),
            schedule=self.cfg.schedule,
            power=self.cfg.poly_power,
            step=it,
            warmup=self.cfg.warmup,
        )

    @property
    def iterations(self) -> int:
        return self.epoch * self.steps_per_epoch + self.step

    def _tick(self) -> None:
        """Read the budget clock once per step (rank 0's, in DDP) and decide whether time is up."""
        if self.budget is None:
            return
        spent = self.budget.spent()
        frac = self.budget.fraction(spent)
        if self.world > 1:  # every rank follows rank 0's clock and reserve, so all stop at the same step
            t = torch.tensor([spent, frac], dtype=torch.float64, device=self.device if self.cuda else "cpu")
            torch.distributed.broadcast(t, 0)
            spent, frac = float(t[0]), float(t[1])
        self._spent, self._time_frac = spent, frac
        self._budget_done = frac >= 1.0

    def _finished(self) -> bool:
        return bool((self.cfg.epochs and self.epoch >= self.cfg.epochs) or self._budget_done)

    def _estimate_val_s(self) -> float:
        """Seconds one validation will take: one val frame timed, times the frames, plus 25 %."""
        if self.val_set is None:
            return 0.0
        from edgeseg.segment import segment
        from edgeseg.module_runner import ModuleRunner

        runner = ModuleRunner.from_model(
            self.model, self.card, device=str(self.device), channels_last=self.channels_last
        )
        img = self.val_set[0][0]
        t = self.budget.clock()
        segment(runner, [img])
        per = self.budget.clock() - t
        n = (
            len(self.val_set)
            if self.cfg.val_max_frames is None
            else min(len(self.val_set), self.cfg.val_max_frames)
        )
        self._val_frame = (per, n, img.shape[0] * img.shape[1])
        return 1.25 * per * n

    def _check_budget_fits(self) -> None:
        """EdgesegError at the start when what is left of the budget cannot hold one training step plus the
        final validation and checkpoint (``--time 20s`` on CamVid would otherwise train 0 steps and write no
        final.pt). One step is estimated as 3 forward passes of the batch at the crop, scaled from the timed
        val frame."""
        per, n, frame_px = getattr(self, "_val_frame", (0.0, 0, 1))
        crop_px = self.cfg.crop[0] * self.cfg.crop[1]
        step_s = 3.0 * per * self.cfg.batch * crop_px / max(frame_px, 1)
        need = self.budget.reserve_s + step_s
        left = self.budget.total_s - self._spent
        if left >= need:
            return
        before = self.budget.spent_before_s
        spent = f" ({format_duration(before)} of it spent by the run resumed)" if before else ""
        raise EdgesegError(
            f"--time {format_duration(self.budget.total_s)} is too short{spent}: here the final "
            f"validation over {n} val "
            f"frames takes about {self.budget.reserve_s - 1:.0f} s, saving about 1 s and one training "
            "step about "
            f"{step_s:.1f} s, so it needs at least {format_duration(self._spent - before + need + 1)}; "
            "give a longer "
            "--time, or fewer validation frames with --val-max-frames N"
        )

    def _crop_now(self) -> tuple[int, int]:
        """The crop for the epoch about to start: the small one before the progressive switch point."""
        if self._small_crop and self.progress_fraction() < self._small_crop[1]:
            return self._small_crop[0]
        return tuple(self.cfg.crop)

    def _val_due(self) -> bool:
        """A periodic validation at this epoch end, unless the budget's window has too little left for it
        (the final validation comes soon)."""
        if self.step != 0 or self.epoch % self.cfg.val_every:
            return False
        if self.budget is None:
            return True
        return self.budget.window() - self._spent > 2 * self.budget.reserve_s
