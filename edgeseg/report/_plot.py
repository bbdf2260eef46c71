"""Shared plotting pieces of the report charts: figures, PNG bytes, colours and markers, the Pareto
front, and label placement without overlaps (matplotlib, Agg, no pyplot global state)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any, Dict, Sequence

Entry = Dict[str, Any]  # typing.Dict: evaluated at run time, and JetPack 5 has Python 3.8
COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
MARKERS = {"fp32": "o", "fp16": "s", "int8": "^"}


def backend_color(backend: str) -> str:
    """A backend's colour, fixed by its place in ``BACKENDS`` (OpenVINO is the same colour in every
    report, whatever rows come first); backends outside the registry take the colours after those."""
    from edgeseg.backends import BACKENDS

    names = list(BACKENDS)
    i = (
        names.index(backend)
        if backend in names
        else len(names) + sum(map(ord, backend)) % (len(COLORS) - len(names))
    )
    return COLORS[i % len(COLORS)]


@dataclass(frozen=True)
class Chart:
    name: str  # file stem, e.g. "latency_vs_miou"
    title: str
    png: bytes | None
    note: str = ""  # why the chart is missing, or a caption


def _figure(w: float, h: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=110)
    return fig


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points no other point beats on both lower latency (x) and higher mIoU (y), by latency."""
    front: list[tuple[float, float]] = []
    best = -math.inf
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


#: Label offsets tried in order, (side, points up): beside the marker (right, left), centred above or
#: below it, then further away with a leader line. side 0 = centred on the marker.
_OFFSETS = (
    (1, -3),
    (-1, -3),
    (0, 9),
    (0, -17),
    (1, 16),
    (1, -24),
    (-1, 16),
    (-1, -24),
    (0, 24),
    (0, -32),
    (1, 30),
    (1, -38),
    (-1, 30),
    (-1, -38),
    (0, 40),
    (0, -48),
)


def _annotate(
    ax,
    items: Sequence[tuple[float, float, str]],
    *,
    fontsize: float = 7.0,
    dx: int = 8,
    log_x: bool = False,
    marker_pt: float = 7.0,
    avoid: Sequence[tuple[float, float]] = (),
) -> None:
    """Label points without overlaps: each label takes the first offset in ``_OFFSETS`` whose text box
    (measured by the renderer) overlaps no earlier label and no marker; else the least-crowded one.
    Call it after the axes' limits and margins are final. ``marker_pt``: a marker's half-size in
    points (default 7, a ringed Pareto point); ``avoid``: unlabelled markers' positions (data
    coordinates) labels must not cover either (default none). ``log_x`` is kept for callers (unused)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.transforms import Bbox

    if not items:
        return
    fig = ax.figure
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    ax.autoscale_view()  # final limits now: positions (and "is the point inside the axes") depend on them
    to_px = ax.transData.transform
    pad = marker_pt * fig.dpi / 72.0  # a (ringed) marker's half-size in pixels
    spots = [(x, y) for x, y, _ in items] + list(avoid)
    markers = [
        Bbox.from_extents(px - pad, py - pad, px + pad, py + pad) for px, py in (to_px(p) for p in spots)
    ]
    taken: list[Any] = []
    frame = ax.get_window_extent(renderer)
    legends = [leg.get_window_extent(renderer) for leg in (ax.get_legend(),) if leg is not None]
    for x, y, text in sorted(items, key=lambda t: (-t[1], t[0])):
        best: tuple[int, int, Any] | None = None
        best_hits = None
        for sx, oy in _OFFSETS:
            probe = ax.annotate(
                text,
                (x, y),
                textcoords="offset points",
                xytext=(sx * dx, oy),
                fontsize=fontsize,
                ha={1: "left", -1: "right", 0: "center"}[sx],
                va="bottom",
            )
            box = probe.get_window_extent(renderer)  # measured without a leader line: the text alone
            probe.remove()
            hits = sum(box.overlaps(b) for b in taken) + sum(box.overlaps(b) for b in markers)
            hits += sum(box.overlaps(b) for b in legends)  # a legend beside the axes
            hits += (
                box.y0 < frame.y0 or box.y1 > frame.y1 or box.x0 < frame.x0 - 60
            )  # below, above or far left of the axes
            if best_hits is None or hits < best_hits:
                best, best_hits = (sx, oy, box), hits
            if hits == 0:
                break
        assert best is not None
        sx, oy, box = best
        ax.annotate(
            text,
            (x, y),
            textcoords="offset points",
            xytext=(sx * dx, oy),
            fontsize=fontsize,
            ha={1: "left", -1: "right", 0: "center"}[sx],
            va="bottom",
            arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.45", "shrinkA": 0, "shrinkB": 4}
            if abs(oy) > 17
            else None,
        )
        taken.append(box)
