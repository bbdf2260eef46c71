"""Counters and latencies of a camera run, the HUD's moving rates, and the exit summary.

Each counter has one writer thread (capture, inference or render), so plain ints are enough.
Latency samples keep the last ``MAX_SAMPLES`` frames (percentiles of a long run describe its
recent past, memory stays bounded).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_SAMPLES = 100_000


class RateMeter:
    """Events per second, exponentially smoothed (default ``smoothing`` 0.9)."""

    def __init__(self, smoothing: float = 0.9) -> None:
        self.smoothing = smoothing
        self._last: float | None = None
        self._interval: float | None = None

    def tick(self, now: float | None = None) -> None:
        now = time.perf_counter() if now is None else now
        if self._last is not None:
            dt = max(now - self._last, 1e-9)
            self._interval = (
                dt if self._interval is None else self.smoothing * self._interval + (1 - self.smoothing) * dt
            )
        self._last = now

    @property
    def rate(self) -> float:
        return 0.0 if not self._interval else 1.0 / self._interval


def _summary(samples: deque[float]) -> dict[str, float | None]:
    if not samples:
        return {"mean": None, "p50": None, "p99": None}
    a = np.fromiter(samples, float, len(samples))
    return {
        "mean": round(float(a.mean()), 3),
        "p50": round(float(np.percentile(a, 50)), 3),
        "p99": round(float(np.percentile(a, 99)), 3),
    }


def recent(samples: deque[float], n: int) -> dict[str, float | None]:
    """p50/p99 of the last ``n`` samples; safe to call while another thread appends."""
    for _ in range(3):
        try:
            tail = list(itertools.islice(reversed(samples), n))
            break
        except RuntimeError:  # mutated while copying
            continue
    else:
        tail = []
    if not tail:
        return {"p50": None, "p99": None}
    a = np.asarray(tail, float)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p99": round(float(np.percentile(a, 99)), 3)}


@dataclass
class LoopStats:
    """What a run did. ``captured``: valid frames the source delivered; ``corrupt``: reads that
    returned no frame or one of the wrong shape/dtype (skipped); ``dropped``: valid frames replaced
    by a newer one before inference (newest-frame mode only); ``inferred``/``rendered``: frames through
    the model / shown or written; ``render_dropped``: results replaced by a newer one before they
    were shown (newest-frame mode only); ``unfinished``: frames still queued when the run stopped early."""

    source: str = ""
    mode: str = ""
    captured: int = 0
    corrupt: int = 0
    repeated: int = 0
    dropped: int = 0
    inferred: int = 0
    rendered: int = 0
    render_dropped: int = 0
    nonfinite: int = 0
    recorded: int = 0
    stalls: int = 0
    reconnects: int = 0
    reconnect_attempts: int = 0
    exit_reason: str = ""
    wall_s: float = 0.0
    infer_ms: deque = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    e2e_ms: deque = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    capture_rate: RateMeter = field(default_factory=RateMeter)
    render_rate: RateMeter = field(default_factory=RateMeter)
    t_first_capture: float | None = None
    t_last_render: float | None = None
    infer_calls: int = 0
    per_source: list = field(default_factory=list)  # a LoopStats per source when there are several

    def note_render(self, done: float, t_capture: float) -> None:
        """Count one rendered frame (render thread): rate, end-to-end latency, last render time."""
        self.render_rate.tick(done)
        self.e2e_ms.append((done - t_capture) * 1000.0)
        self.rendered += 1
        self.t_last_render = done

    def absorb_sources(self) -> None:
        """Sum the per-source capture counters into this (overall) record."""
        if not self.per_source:
            return
        for name in ("captured", "corrupt", "repeated", "stalls", "reconnects", "reconnect_attempts"):
            setattr(self, name, sum(getattr(s, name) for s in self.per_source))
        firsts = [s.t_first_capture for s in self.per_source if s.t_first_capture is not None]
        self.t_first_capture = min(firsts) if firsts else None

    @property
    def unfinished(self) -> int:
        return max(self.captured - self.dropped - self.inferred, 0)

    @property
    def loop_fps(self) -> float:
        """Rendered frames per second from the first captured frame to the last rendered one."""
        if self.rendered < 1 or self.t_first_capture is None or self.t_last_render is None:
            return 0.0
        span = self.t_last_render - self.t_first_capture
        return self.rendered / span if span > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "mode": self.mode,
            "exit_reason": self.exit_reason,
            "frames": {
                "captured": self.captured,
                "inferred": self.inferred,
                "rendered": self.rendered,
                "dropped": self.dropped,
                "corrupt": self.corrupt,
                "repeated": self.repeated,
                "render_dropped": self.render_dropped,
                "unfinished": self.unfinished,
                "nonfinite": self.nonfinite,
                "recorded": self.recorded,
            },
            "source_faults": {
                "stalls": self.stalls,
                "reconnects": self.reconnects,
                "reconnect_attempts": self.reconnect_attempts,
            },
            "latency_ms": {"inference": _summary(self.infer_ms), "end_to_end": _summary(self.e2e_ms)},
            "loop_fps": round(self.loop_fps, 3),
            "wall_s": round(self.wall_s, 3),
            **(
                {"inference_calls": self.infer_calls, "sources": [s.to_dict() for s in self.per_source]}
                if self.per_source
                else {}
            ),
        }

    def format(self) -> str:
        d = self.to_dict()
        f = d["frames"]
        lat = d["latency_ms"]

        def ms(s: dict[str, float | None]) -> str:
            if s["mean"] is None:
                return "n/a"
            return f"mean {s['mean']:.1f} / p50 {s['p50']:.1f} / p99 {s['p99']:.1f} ms"

        lines = [
            f"camera: {d['source']} ({d['mode']}), stopped: {d['exit_reason'] or 'n/a'}, {d['wall_s']:.1f} s",
            f"  frames: captured {f['captured']}, inferred {f['inferred']}, dropped {f['dropped']}, "
            f"corrupt {f['corrupt']}, rendered {f['rendered']}"
            + (f", recorded {f['recorded']}" if f["recorded"] else ""),
            f"  inference: {ms(lat['inference'])}",
            f"  end-to-end: {ms(lat['end_to_end'])}",
            f"  loop: {d['loop_fps']:.2f} fps",
        ]
        extra = {k: f[k] for k in ("repeated", "render_dropped", "unfinished", "nonfinite") if f[k]}
        faults = {k: v for k, v in d["source_faults"].items() if v}
        if extra or faults:
            lines.append(
                "  also: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in {**extra, **faults}.items())
            )
        for i, src in enumerate(d.get("sources", [])):
            sf = src["frames"]
            lines.append(
                f"  source {i} {src['source']}: captured {sf['captured']}, inferred {sf['inferred']}, "
                f"dropped {sf['dropped']}, "
                f"rendered {sf['rendered']}, {src['loop_fps']:.2f} fps, end-to-end "
                f"{ms(src['latency_ms']['end_to_end'])}"
            )
        if d.get("sources"):
            lines.append(f"  inference calls: {d['inference_calls']} for {f['inferred']} frames")
        return "\n".join(lines)
