"""The training curve of a run: loss per epoch, the learning rate, and the val points, from the run's
``history.json`` (what ``edgeseg train`` writes beside its checkpoints)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

from edgeseg.errors import EdgesegError
from edgeseg.report._plot import _figure, _png


def read_history(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The epoch records of a ``history.json``; a one-line error naming the file when it is not one."""
    p = Path(path)
    try:
        rows = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EdgesegError(f"{p}: expected a training history.json, could not read it ({e})") from None
    ok = isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows)

    def _epoch(v: Any) -> bool:  # a budgeted run's last epoch is fractional (e.g. 408.241)
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if not ok or any(not _epoch(r.get("epoch")) or "loss" not in r for r in rows):
        raise EdgesegError(
            f"{p}: expected a list of epoch records with 'epoch' and 'loss', found {rows!r:.80}"
        )
    return rows


def training_curve_png(
    history: Sequence[dict[str, Any]], *, title: str, val_label: str = "val mIoU"
) -> bytes:
    """PNG of the loss per epoch (left axis), the learning rate (dotted, right axis) and the val mIoU
    points where the run measured them (second panel; ``val_label`` names them, default "val mIoU":
    say "val (in the training set)" for a train+val run)."""
    rows = sorted(history, key=lambda r: r["epoch"])
    ep = [r["epoch"] for r in rows]
    loss = [float(r["loss"]) for r in rows]
    val = [(r["epoch"], 100 * float(r["val_miou"])) for r in rows if r.get("val_miou") is not None]
    fig = _figure(7.5, 5.2 if val else 3.6)
    axes = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1)) if val else [fig.subplots()]
    ax = axes[0]
    ax.plot(ep, loss, color="#1f77b4", lw=1.4, label="training loss (epoch mean)")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    if all("lr" in r and math.isfinite(float(r["lr"])) for r in rows):
        lr_ax = ax.twinx()
        lr_ax.plot(ep, [float(r["lr"]) for r in rows], color="#7f7f7f", ls=":", lw=1.2, label="learning rate")
        lr_ax.set_ylabel("learning rate", color="#7f7f7f")
        lr_ax.tick_params(axis="y", colors="#7f7f7f")
        lr_ax.set_ylim(bottom=0)
        lines = ax.get_legend_handles_labels()[0] + lr_ax.get_legend_handles_labels()[0]
        ax.legend(lines, [str(h.get_label()) for h in lines], loc="upper right", fontsize=8)
    else:
        ax.legend(loc="upper right", fontsize=8)
    if val:
        vax = axes[1]
        vax.plot([e for e, _ in val], [v for _, v in val], "o-", color="#2ca02c", ms=4, label=val_label)
        for e, v in val:
            vax.annotate(
                f"{v:.1f}", (e, v), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7
            )
        vax.set_ylabel("mIoU (%)")
        vax.grid(alpha=0.3)
        vax.legend(loc="lower right", fontsize=8)
        lo, hi = min(v for _, v in val), max(v for _, v in val)
        vax.set_ylim(lo - 3, hi + 4)
    axes[-1].set_xlabel("epoch")
    fig.tight_layout()
    return _png(fig)
