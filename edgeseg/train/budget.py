"""Wall-clock training budgets (``edgeseg train --time 2h30m``) and the LR schedule they drive.

A run's *progress* is a fraction in [0, 1]: the iteration fraction (``--epochs``), the time
fraction of the training window (``--time``), or the larger of the two when both are given (the
budget caps the epochs, and whichever ends first ends the run). The LR factor, the crop phase of
progressive resizing and the stop decision all read this one number, so a budgeted run reaches
the end of its schedule exactly at its deadline on any machine.

The training window is the budget less a reserve for what must still happen after the last step:
the final validation and the final checkpoints. The reserve starts from a measured estimate (one
val frame timed at start x frames) and follows the measured durations afterwards.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Callable

from edgeseg.errors import EdgesegError

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")

#: LR decay shapes: progress f in [0, 1] -> factor.
SCHEDULES: dict[str, Callable[[float, float], float]] = {
    "poly": lambda f, power: max(0.0, 1.0 - f) ** power,
    "linear": lambda f, power: max(0.0, 1.0 - f),
}


def parse_duration(text: str, *, option: str = "--time") -> float:
    """Seconds in ``text``: ``2h30m``, ``90m``, ``45s``, ``1.5h`` or a bare number of seconds."""
    s = str(text).strip().lower().replace(" ", "")
    try:
        seconds = float(s)
    except ValueError:
        m = _DURATION.match(s)
        if not s or m is None or not any(m.groups()):
            raise EdgesegError(
                f"{option}: expected a duration such as 2h30m, 90m, 45s or 1.5h, found {text!r}"
            ) from None
        seconds = sum(float(v) * u for v, u in zip(m.groups(), _UNITS.values()) if v)
    if not math.isfinite(seconds) or seconds <= 0:
        raise EdgesegError(f"{option}: expected a positive duration, found {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """``9000 -> '2h30m00s'``; ``75 -> '1m15s'``."""
    s = int(round(max(0.0, seconds)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else (f"{m}m{sec:02d}s" if m else f"{sec}s")


def lr_factor(
    progress: float, *, schedule: str = "poly", power: float = 0.9, step: int = 0, warmup: int = 0
) -> float:
    """LR multiplier at ``progress``: the decay shape times a linear warm-up over the first
    ``warmup`` iterations (default none)."""
    if schedule not in SCHEDULES:
        raise EdgesegError(f"--schedule: expected one of {', '.join(SCHEDULES)}, found {schedule!r}")
    f = SCHEDULES[schedule](min(max(progress, 0.0), 1.0), power)
    if warmup > 0 and step < warmup:
        f *= (step + 1) / warmup
    return f


@dataclass
class TimeBudget:
    """A wall-clock budget of ``total_s`` seconds, of which ``spent_before_s`` were spent by the
    runs this one resumes. ``clock`` is injectable (tests use a fake; default ``time.monotonic``)."""

    total_s: float
    spent_before_s: float = 0.0
    clock: Callable[[], float] = time.monotonic
    reserve_s: float = 0.0
    _t0: float = field(default=0.0, init=False)

    def start(self) -> "TimeBudget":
        self._t0 = self.clock()
        return self

    def spent(self) -> float:
        """Seconds spent so far, earlier runs included."""
        return self.spent_before_s + (self.clock() - self._t0)

    def window(self) -> float:
        """The training window: the budget less the reserve (at least 1 % of the budget)."""
        return max(self.total_s - self.reserve_s, 0.01 * self.total_s)

    def fraction(self, spent: float | None = None) -> float:
        """Fraction of the training window spent, in [0, 1]."""
        s = self.spent() if spent is None else spent
        return min(max(s / self.window(), 0.0), 1.0)


def parse_crop_schedule(
    text: str | None, *, option: str = "--progressive"
) -> tuple[tuple[int, int], float] | None:
    """``'256x256@0.7'`` (or ``'256@0.7'``) -> ((256, 256), 0.7): train on that crop until 70 % of
    the run, then on ``--crop``. None for None, '', 'none' or 'off'."""
    if not text or str(text).lower() in ("none", "off"):
        return None
    size, sep, frac = str(text).partition("@")
    try:
        parts = [int(p) for p in size.lower().split("x")]
        f = float(frac)
    except ValueError:
        parts, f = [], -1.0
    if not sep or len(parts) not in (1, 2) or not 0.0 < f < 1.0 or min(parts or [0]) < 32:
        raise EdgesegError(
            f"{option}: expected CROP@FRACTION such as 256x256@0.7 (crop >= 32, 0 < fraction < 1), "
            f"found {text!r}"
        )
    return ((parts[0], parts[-1]), f)


def machine_facts(device: str) -> dict[str, object]:
    """What the card records about the machine a budget was spent on: these keys, read from the one
    machine-facts function (``edgeseg._env.machine_info``)."""
    import torch

    from edgeseg._env import machine_info

    m = machine_info()
    facts: dict[str, object] = {
        "platform": m["os"],
        "machine": m["arch"],
        "processor": m["cpu"],
        "cpu_count": m["logical_cores"],
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        facts["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return facts
