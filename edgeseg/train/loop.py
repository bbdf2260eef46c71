"""The training loop: weighted CE, Adam/SGD with poly LR, AMP + channels-last on CUDA, DDP under
torchrun, validation mIoU every K epochs, atomic best/last checkpoints, exact step-level resume,
Ctrl-C saves and exits, NaN loss stops without touching good checkpoints.

Exact resume: the sample order of epoch e is a permutation seeded by (seed, e) and each sample's
augmentation by (seed, e, index), so a run resumed from step k of epoch e sees the same batches as
an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgeseg._io import atomic_write_json, ensure_writable_dir
from edgeseg.card import ModelCard
from edgeseg.data.preprocess import normalize
from edgeseg.data.transforms import TrainTransform
from edgeseg.errors import EdgesegError
from edgeseg.train.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from edgeseg.train.losses import cached_class_weights, weighted_ce
from edgeseg.train.resume import check_resume


@dataclass
class TrainConfig:
    """Defaults follow the CGNet recipe: Adam lr 1e-3, weight decay 5e-4, poly 0.9, batch 8, crop 360."""

    model: str = "cgnet"
    data: str = "synthetic"
    out: str = "runs/train"
    epochs: int = 10
    batch: int = 8
    crop: tuple[int, int] = (360, 360)
    scale: tuple[float, float] = (0.5, 2.0)
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 5e-4
    momentum: float = 0.9
    poly_power: float = 0.9
    class_weights: bool = True
    val_every: int = 1
    val_split: str = "val"
    val_max_frames: int | None = None
    train_split: str = "train"
    seed: int = 0
    workers: int = 0
    device: str = "auto"
    amp: bool = True
    threads: int | None = None
    synthetic_size: tuple[int, int] = (120, 160)
    bad_labels: str = "error"
    arch_args: dict[str, Any] = field(default_factory=dict)
    max_steps_per_epoch: int | None = None  # for smoke runs
    command: str = ""

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))


class _AugmentedDataset(torch.utils.data.Dataset):
    """Applies the train transform with a generator seeded by (seed, epoch, index); caches decodes."""

    def __init__(self, base, transform: TrainTransform, card: ModelCard, seed: int, *, cache: bool = True) -> None:
        self.base, self.transform, self.card, self.seed = base, transform, card, seed
        self.epoch = 0
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.base)

    def _raw(self, i: int):
        if self._cache is None:
            return self.base[i]
        if i not in self._cache:
            self._cache[i] = self.base[i]
        return self._cache[i]

    def __getitem__(self, i: int):
        img, lab = self._raw(i)
        img, lab = self.transform(img, lab, np.random.default_rng((self.seed, self.epoch, i)))
        return torch.from_numpy(normalize(img, self.card)), torch.from_numpy(lab.astype(np.int64))


class _StopAtStepBoundary:
    """First SIGINT/SIGTERM sets a flag the loop checks between steps (so a saved checkpoint is
    always at a step boundary and resumes exactly); a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:  # noqa: ANN001
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step (Ctrl-C again to abort at once)...", file=sys.stderr)

    def __enter__(self) -> "_StopAtStepBoundary":
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def _dist_info() -> tuple[int, int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


class Trainer:
    """Train one model as configured. ``run(resume=...)`` returns the final summary dict."""

    def __init__(self, cfg: TrainConfig, *, progress: bool = True) -> None:
        from edgeseg.data.datasets import open_dataset
        from edgeseg.models import build_model

        self.cfg, self.progress = cfg, progress
        self.rank, self.world, local = _dist_info()
        if self.world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            torch.distributed.init_process_group(backend)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        dev = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        self.device = torch.device(f"cuda:{local}" if dev == "cuda" and self.world > 1 else dev)
        self.cuda = self.device.type == "cuda"
        self.out = ensure_writable_dir(cfg.out, create=True)

        size = cfg.synthetic_size
        self.train_set = open_dataset(cfg.data, cfg.train_split, bad_labels=cfg.bad_labels, size=size)
        self.val_set = open_dataset(cfg.data, cfg.val_split, bad_labels=cfg.bad_labels, size=size) if cfg.val_every else None
        info = self.train_set.info
        eval_hw = tuple((self.val_set or self.train_set)[0][0].shape[:2])
        self.card = ModelCard(
            arch=cfg.model, arch_args=dict(cfg.arch_args), num_classes=info.num_classes,
            class_names=info.class_names, palette=info.palette, ignore_index=info.ignore_index,
            input_size=eval_hw,
        )
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg.model, num_classes=info.num_classes, **cfg.arch_args).to(self.device)
        self.channels_last = True
        self.model = self.model.to(memory_format=torch.channels_last)
        params = self.model.parameters()
        if cfg.optimizer == "adam":
            self.opt = torch.optim.Adam(params, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=cfg.weight_decay)
        elif cfg.optimizer == "sgd":
            self.opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        else:
            raise EdgesegError(f"unknown optimizer {cfg.optimizer!r}; expected adam or sgd")
        n = len(self.train_set)
        self.steps_per_epoch = max(1, (n // self.world) // cfg.batch)
        if cfg.max_steps_per_epoch:
            self.steps_per_epoch = min(self.steps_per_epoch, cfg.max_steps_per_epoch)
        total = cfg.epochs * self.steps_per_epoch
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda it: max(0.0, 1 - it / total) ** cfg.poly_power)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.cuda and cfg.amp)
        weights = cached_class_weights(self.train_set, cache=self.out / "class_weights.json", progress=progress) if cfg.class_weights else None
        self.weight = torch.from_numpy(weights).to(self.device) if weights is not None else None
        self.aug = _AugmentedDataset(
            self.train_set, TrainTransform(crop=cfg.crop, scale=cfg.scale, ignore_index=info.ignore_index), self.card, cfg.seed
        )
        self.net = self.model
        if self.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=[local] if self.cuda else None)
        self.epoch, self.step, self.best, self.history = 0, 0, -1.0, []
        self._stop = _StopAtStepBoundary()

    # -- state --------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {"step": self.step, "best_miou": self.best, "history": self.history, "config": self.cfg.to_dict()}

    def _save(self, name: str, *, card: ModelCard | None = None, resumable: bool = True) -> Path | None:
        """Write ``name`` in the output folder (rank 0 only). ``resumable=False`` leaves out the
        optimizer and scheduler: a deployable checkpoint a third of the size."""
        if self.rank != 0:
            return None
        extra = {"optimizer": self.opt, "scheduler": self.sched} if resumable else {}
        return save_checkpoint(self.out / name, model=self.model, card=card or self.card, epoch=self.epoch,
                               state=self._state(), **extra)

    def resume(self, path: str | os.PathLike) -> None:
        payload = read_checkpoint(path)
        check_resume(path, payload, self.cfg.to_dict())
        model, _, _ = load_checkpoint(path, expect_arch=self.cfg.model, expect_classes=self.card.num_classes)
        self.model.load_state_dict(model.state_dict())
        self.opt.load_state_dict(payload["optimizer"])
        self.sched.load_state_dict(payload["scheduler"])
        st = payload["state"]
        self.epoch, self.step, self.best, self.history = payload["epoch"], st["step"], st["best_miou"], st["history"]

    # -- loop ---------------------------------------------------------------------------------
    def _order(self, epoch: int) -> list[int]:
        g = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)
        order = torch.randperm(len(self.train_set), generator=g).tolist()
        return order[self.rank :: self.world][: self.steps_per_epoch * self.cfg.batch]

    def _train_epoch(self, bar) -> float:
        cfg = self.cfg
        self.aug.epoch = self.epoch
        order = self._order(self.epoch)[self.step * cfg.batch :]
        loader = torch.utils.data.DataLoader(
            self.aug, batch_size=cfg.batch, sampler=order, num_workers=cfg.workers, drop_last=True,
            pin_memory=self.cuda, persistent_workers=False,
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
                    f"loss became {loss.item()} at epoch {self.epoch + 1} step {self.step + 1}; stopped without "
                    f"saving these weights (last good checkpoints in {self.out}); try a lower --lr"
                )
            self.opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
            self.sched.step()
            self.step += 1
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(epoch=f"{self.epoch + 1}/{cfg.epochs}", loss=f"{losses[-1]:.3f}", lr=f"{self.sched.get_last_lr()[0]:.2e}", refresh=False)
            if self._stop.requested:
                raise KeyboardInterrupt
        return float(np.mean(losses)) if losses else float("nan")

    def validate(self) -> dict[str, Any]:
        from edgeseg.train.evaluate import evaluate

        from edgeseg.backends.torch.runner import TorchRunner

        runner = TorchRunner.from_model(self.model, self.card, device=str(self.device), channels_last=self.channels_last)
        return evaluate(runner, self.val_set, max_frames=self.cfg.val_max_frames, progress=self.progress, desc="val")

    def run(self, *, resume: str | os.PathLike | None = None) -> dict[str, Any]:
        from edgeseg._progress import progress_bar

        cfg = self.cfg
        if resume:
            self.resume(resume)
        t0 = time.time()
        total = cfg.epochs * self.steps_per_epoch
        done = self.epoch * self.steps_per_epoch + self.step
        bar = progress_bar(total=total, initial=done, desc="train", unit="step", disable=not self.progress or self.rank != 0, file=sys.stderr)
        try:
            with self._stop:
                self._epochs(bar, t0)
        except KeyboardInterrupt:
            bar.close()
            if self.rank == 0:
                self._save("last.pt")
                print(f"interrupted at epoch {self.epoch + 1} step {self.step}; saved {self.out / 'last.pt'} "
                      f"(resume with --resume {self.out / 'last.pt'})", file=sys.stderr)
            raise
        bar.close()
        return {"epochs": self.epoch, "best_miou": self.best, "out": str(self.out), "seconds": round(time.time() - t0, 1)}

    def _epochs(self, bar, t0: float) -> None:
        cfg = self.cfg
        while self.epoch < cfg.epochs:
            loss = self._train_epoch(bar)
            self.epoch, self.step = self.epoch + 1, 0
            rec: dict[str, Any] = {"epoch": self.epoch, "loss": loss, "lr": self.sched.get_last_lr()[0], "time": round(time.time() - t0, 1)}
            if self.val_set is not None and self.rank == 0 and (self.epoch % cfg.val_every == 0 or self.epoch == cfg.epochs):
                res = self.validate()
                rec.update(val_miou=res["miou"], val_pixel_accuracy=res["pixel_accuracy"])
                if res["miou"] > self.best:
                    self.best = res["miou"]
                    self.history.append(rec)
                    self._save("best.pt", card=self._final_card(res, t0), resumable=False)
                    self.history.pop()
                bar.write(f"epoch {self.epoch}: loss {loss:.4f}  val mIoU {100 * res['miou']:.2f}%  (best {100 * self.best:.2f}%)")
            self.history.append(rec)
            self._save("last.pt")
            if self.rank == 0:
                atomic_write_json(self.out / "history.json", self.history)

    def _final_card(self, res: dict[str, Any], t0: float) -> ModelCard:
        return self.card.replace(
            metrics={"val_miou": res["miou"], "val_pixel_accuracy": res["pixel_accuracy"],
                     "val_per_class_iou": res["per_class_iou"], "dataset": res.get("dataset", ""), "epoch": self.epoch},
            training={"command": self.cfg.command, "epochs_done": self.epoch, "epochs_planned": self.cfg.epochs,
                      "seed": self.cfg.seed, "batch": self.cfg.batch, "crop": list(self.cfg.crop),
                      "device": str(self.device), "seconds_this_run": round(time.time() - t0, 1)},
        )
