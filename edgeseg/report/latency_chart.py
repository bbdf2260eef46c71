"""The latency vs mIoU chart: deployment paths, their Pareto front and the recommendation; a zoo
(several models) gets one panel per model on a shared latency axis."""

from __future__ import annotations

from typing import Any, Sequence

from edgeseg.report._plot import (
    MARKERS,
    backend_color,
    Chart,
    Entry,
    _annotate,
    _figure,
    _num,
    _png,
    pareto_front,
)

#: The mIoU axis of the latency chart spans at least this many points, so noise does not look like signal.
MIN_MIOU_SPAN = 4.0


def miou_limits(values: Sequence[float], *, min_span: float = MIN_MIOU_SPAN) -> tuple[float, float]:
    """y limits (mIoU %) around ``values`` spanning at least ``min_span`` points, with a margin."""
    lo, hi = min(values), max(values)
    pad = max(0.15 * (hi - lo), 0.3)
    lo, hi = lo - pad, hi + pad
    if hi - lo < min_span:
        mid = (hi + lo) / 2
        lo, hi = mid - min_span / 2, mid + min_span / 2
    return lo, hi


def latency_vs_miou(entries: Sequence[Entry], rec: Any = None) -> Chart:
    """Every row with latency and mIoU; the Pareto front over the deployment paths; the pick starred."""
    name, title = "latency_vs_miou", "p50 latency vs mIoU (Pareto front of the deployment paths)"
    pts = [e for e in entries if _num(e.p50) and _num(e.miou)]
    if not pts:
        return Chart(
            name,
            title,
            None,
            "No rows with both a latency and an mIoU: chart skipped (run bench with --data).",
        )
    fig = latency_figure(pts, rec, title=title)
    return Chart(
        name,
        title,
        _png(fig),
        "Filled markers are deployment paths on this machine, hollow ones are not; the line joins the "
        "deployment "
        f"paths no faster path beats on mIoU; the star is the recommendation. The mIoU axis spans at least "
        f"{MIN_MIOU_SPAN:g} points.",
    )


def latency_figure(pts: Sequence[Entry], rec: Any, *, title: str):
    """The latency vs mIoU figure of ``pts`` (rows with both), labels placed (tests read its texts).
    Rows of several models (a zoo) get a panel each, stacked on one latency axis, each panel's mIoU
    axis spanning its own rows: one crowded axis hid which point was which once five models shared it."""
    models = sorted(
        {e.model or "-" for e in pts},
        key=lambda m: -max(e.miou for e in pts if (e.model or "-") == m),
    )
    fig = _figure(8.0, 5.0 if len(models) == 1 else 1.0 + 2.3 * len(models))
    axes = fig.subplots(len(models), 1, sharex=True, squeeze=False)[:, 0]
    backends = sorted({e.backend for e in pts})
    lats = [e.p50 for e in pts]
    for k, (ax, model) in enumerate(zip(axes, models)):
        rows = [e for e in pts if (e.model or "-") == model]
        _latency_panel(ax, rows, rec, backends=backends)
        if max(lats) / min(lats) > 8:
            ax.set_xscale("log")
        ax.set_ylabel("mIoU (%)")
        if len(models) > 1:
            params = next((e.params for e in rows if _num(e.params)), None)
            ax.set_title(
                model + (f" ({params / 1e6:.2f} M parameters)" if params else ""), fontsize=9, loc="left"
            )
        if k == 0:
            _latency_legend(ax, pts, rec, backends)
    axes[-1].set_xlabel("p50 latency (ms, batch as benchmarked), lower is better")
    if len(models) == 1:
        axes[0].set_title(title, fontsize=10)
    else:
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
    for ax, model in zip(axes, models):  # after tight_layout: label boxes are measured in the final layout
        _annotate(
            ax,
            [(e.p50, 100 * e.miou, _unprefixed(e.short, model)) for e in pts if (e.model or "-") == model],
        )
    return fig


def _unprefixed(label: str, model: str) -> str:
    """A row's label without its model's name in front (the panel's title says it)."""
    return label[len(model) + 1 :] if label.startswith(f"{model} ") else label


def _latency_panel(ax, pts: Sequence[Entry], rec: Any, *, backends: Sequence[str]) -> None:
    """One model's rows on ``ax``: a marker per row (hollow: not a deployment path here), the Pareto
    front of the deployment paths, the recommendation starred when it is one of ``pts``."""
    for e in pts:
        color = backend_color(e.backend)
        kw = {"c": color} if e.deployable else {"facecolors": "none", "edgecolors": color}
        ax.scatter(
            e.p50,
            100 * e.miou,
            marker=MARKERS.get(e.precision_base, "o"),
            s=60,
            linewidths=1.0,
            zorder=3,
            **({"edgecolors": "black", **kw} if e.deployable else kw),
        )
    deploy = [e for e in pts if e.deployable]
    if deploy:
        front = pareto_front([(e.p50, 100 * e.miou) for e in deploy])
        xs, ys = zip(*front)
        ax.plot(xs, ys, drawstyle="steps-post", color="0.3", lw=1.2, alpha=0.7, zorder=2)
    pick = getattr(rec, "entry", None)
    if pick is not None and pick in pts:
        # behind the pick's own marker (zorder 3), which stays visible in its backend's colour
        ax.scatter(
            pick.p50,
            100 * pick.miou,
            marker="*",
            s=700,
            c="gold",
            edgecolors="black",
            linewidths=0.8,
            zorder=2.5,
        )
    ax.set_ylim(*miou_limits([100 * e.miou for e in pts]))
    ax.grid(alpha=0.3)
    ax.margins(x=0.25)


def _latency_legend(ax, pts: Sequence[Entry], rec: Any, backends: Sequence[str]) -> None:
    """Backends by colour, precisions by marker, hollow = not a deployment path, the front and the star."""
    from matplotlib.lines import Line2D

    from edgeseg.report.paths import backend_words

    handles = [
        Line2D([], [], marker="o", ls="", color=backend_color(b), label=backend_words(b)) for b in backends
    ]
    handles += [
        Line2D([], [], marker=m, ls="", color="gray", label=p.upper())
        for p, m in MARKERS.items()
        if any(e.precision_base == p for e in pts)
    ]
    if any(not e.deployable for e in pts):
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                markerfacecolor="none",
                color="gray",
                label="not a deployment path here",
            )
        )
    if any(e.deployable for e in pts):
        handles.append(
            Line2D([], [], color="0.3", lw=1.2, alpha=0.7, label="Pareto front (deployment paths)")
        )
    if getattr(rec, "entry", None) in pts:
        handles.append(
            Line2D(
                [],
                [],
                marker="*",
                ls="",
                markersize=11,
                color="gold",
                markeredgecolor="black",
                label="recommended",
            )
        )
    ax.legend(handles=handles, fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
