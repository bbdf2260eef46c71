"""Quantization-aware fine-tuning of a calibrated fake-quant model.

Recipe (NVIDIA's pytorch-quantization / ModelOpt guidance: start from the trained FP32 model,
calibrate, then fine-tune for a short time with a small learning rate):

- weights are trained through the straight-through estimator of ``torch.fake_quantize_*``;
  weight ranges follow the weights (per-channel max every step); activation ranges stay at
  their calibrated values;
- BatchNorms that follow convs are already folded into them (``placement.prepare``); the remaining
  ones (after a Concat) are frozen in eval mode, so small batches cannot shift their statistics;
- Adam, default lr 1e-4 (Adam moves a weight by ~lr per step; one int8 weight step is amax/127),
  weight decay 0, poly decay (power 0.9) to zero; the training loss is the
  CGNet recipe's class-weighted cross-entropy (``edgeseg.train.losses.weighted_ce``);
- augmentation as in training (random scale 0.5-2.0, crop, flip) via ``TrainTransform``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from edgeseg.card import ModelCard
from edgeseg.errors import QuantizationError


@dataclass(frozen=True)
class QatSettings:
    """The QAT fine-tune of ``edgeseg quantize --method qat``: ``epochs`` (default 1), ``lr`` (default
    1e-4, Adam, poly decay), ``batch`` (default 8), ``crop`` (default 360x360), ``class_weights``
    (default True: CGNet's weighted CE), at most ``max_steps`` per epoch (default None: all)."""

    epochs: int = 1
    lr: float = 1e-4
    batch: int = 8
    crop: tuple[int, int] = (360, 360)
    class_weights: bool = True
    max_steps: int | None = None


class _Augmented(torch.utils.data.Dataset):
    def __init__(self, base, transform, card: ModelCard, seed: int) -> None:
        self.base, self.transform, self.card, self.seed, self.epoch = base, transform, card, seed, 0

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        from edgeseg.data.preprocess import normalize

        img, lab = self.base[i]
        img, lab = self.transform(img, lab, np.random.default_rng((self.seed, self.epoch, i)))
        return torch.from_numpy(normalize(img, self.card)), torch.from_numpy(lab.astype(np.int64))


def _freeze_bn(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def qat_finetune(
    qmodel: nn.Module,
    card: ModelCard,
    dataset,
    *,
    epochs: int = 1,
    lr: float = 1e-4,
    batch: int = 8,
    crop: tuple[int, int] = (360, 360),
    scale: tuple[float, float] = (0.5, 2.0),
    class_weights: bool = True,
    max_steps_per_epoch: int | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune ``qmodel`` (calibrated) in place on ``dataset`` (items: BGR image, label).

    Defaults: 1 epoch, lr 1e-4, batch 8, crop 360x360, scale 0.5-2.0, class weights on.
    Returns {"epochs", "steps", "loss" (per epoch mean), "seconds"}. A non-finite loss stops with
    QuantizationError (nothing is saved by this function).
    """
    from edgeseg._progress import progress_bar

    from edgeseg.data.transforms import TrainTransform
    from edgeseg.quant.calibrate import is_calibrated
    from edgeseg.train.losses import cached_class_weights, weighted_ce

    if epochs < 1:
        raise QuantizationError(f"QAT needs at least one epoch, found {epochs}")
    if not is_calibrated(qmodel):
        raise QuantizationError("calibrate the model before QAT (activation ranges are still unset)")
    if dataset.info.num_classes != card.num_classes:
        raise QuantizationError(
            f"model predicts {card.num_classes} classes but the QAT data has {dataset.info.num_classes}"
        )
    device = torch.device(device)
    qmodel.to(device)
    weight = None
    if class_weights:
        weight = torch.from_numpy(cached_class_weights(dataset, cache=None, progress=progress)).to(device)
    aug = _Augmented(
        dataset,
        TrainTransform(crop=tuple(crop), scale=tuple(scale), ignore_index=card.ignore_index),
        card,
        seed,
    )
    steps_per_epoch = max(1, len(dataset) // batch)
    if max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, max_steps_per_epoch)
    total = epochs * steps_per_epoch
    params = [p for p in qmodel.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: max(0.0, 1 - it / total) ** 0.9)
    history: list[float] = []
    step = 0
    t0 = time.perf_counter()
    bar = progress_bar(total=total, desc="QAT", unit="step", disable=not progress, leave=False)
    try:
        for epoch in range(epochs):
            aug.epoch = epoch
            g = torch.Generator().manual_seed(seed * 100_003 + epoch)
            order = torch.randperm(len(dataset), generator=g).tolist()[: steps_per_epoch * batch]
            loader = torch.utils.data.DataLoader(aug, batch_size=batch, sampler=order, drop_last=True)
            qmodel.train()
            _freeze_bn(qmodel)
            losses = []
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                loss = weighted_ce(qmodel(x), y, weight=weight, ignore_index=card.ignore_index)
                if not torch.isfinite(loss):
                    raise QuantizationError(
                        f"QAT loss became {loss.item()} at epoch {epoch + 1} step {step + 1}; "
                        "try a lower --lr"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{losses[-1]:.4f}", refresh=False)
            history.append(float(np.mean(losses)) if losses else math.nan)
    finally:
        bar.close()
        qmodel.eval()
    return {
        "epochs": epochs,
        "steps": step,
        "lr": lr,
        "batch": batch,
        "crop": list(crop),
        "loss": history,
        "seconds": round(time.perf_counter() - t0, 2),
    }
