"""Report charts as PNG bytes (matplotlib, Agg, no pyplot global state).

Every chart function takes report entries (``edgeseg.report.data``) and returns a ``Chart``;
when the entries lack what a chart needs, ``png`` is None and ``note`` says what is missing.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from edgeseg.report._plot import (  # noqa: F401
    COLORS,
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
from edgeseg.report.latency_chart import MIN_MIOU_SPAN, latency_figure, latency_vs_miou, miou_limits  # noqa: F401

#: Non-FP32 rows (distinct precision x backend) shown per model in the per-class chart.
MAX_VARIANTS = 7


def _split(dataset: Any) -> str:
    """'camvid:/data/camvid [val]' -> 'val' ('' when the spec names none)."""
    text = str(dataset or "")
    return text[text.rfind("[") + 1 : text.rfind("]")] if text.endswith("]") and "[" in text else ""


def _fastest(entries: Sequence[Entry]) -> dict[tuple[str, str], Entry]:
    """The fastest row (lowest p50; a row without latency only when none has one) of each model x
    precision base (fp32 / fp16 / int8) among rows with a parameter count and an mIoU."""
    groups: dict[tuple[str, str], Entry] = {}
    for e in entries:
        if not (_num(e.params) and _num(e.miou)):
            continue
        k = (e.model, e.precision_base)
        cur = groups.get(k)
        if cur is None or (_num(e.p50) and (not _num(cur.p50) or e.p50 < cur.p50)):
            groups[k] = e
    return groups


def _where(e: Entry, tests: dict | None = None) -> str:
    """'val; 2.5 h CPU budget, train': the split a row is drawn at (test where ``tests`` has the row) and
    how its model was trained."""
    split = "test" if tests and id(e) in tests else _split(e.dataset)
    return "; ".join(x for x in (split, e.trained or "") if x)


def _model_label(model: str, rows: Sequence[Entry], *, where: str, tests: dict | None = None) -> str:
    """One label per model: its name and parameters (and ``where``, when given), then a line per
    precision: mIoU (test, with val in brackets, where ``tests`` has it), p50 and the path that gave it."""
    tests = tests or {}
    head = f"{model} {rows[0].params / 1e6:.2f} M" + (f" ({where})" if where else "")
    lines = []
    for e in sorted(
        rows, key=lambda r: tuple(MARKERS).index(r.precision_base) if r.precision_base in MARKERS else 9
    ):
        lat = f"{e.p50:.1f} ms" if _num(e.p50) else "no latency"
        if id(e) in tests:
            test, val = tests[id(e)]
            fig = f"test {100 * test:.2f} %" + (f" (val {100 * val:.2f})" if val is not None else "")
        elif tests:  # beside test figures, say which split this one is
            fig = f"{_split(e.dataset) or 'mIoU'} {100 * e.miou:.2f} %"
        else:
            fig = f"{100 * e.miou:.2f} %"
        lines.append(f"{e.precision} {fig} · {lat} ({e.backend})")
    return "\n".join([head, *lines])


def _test_figures(groups: dict[tuple[str, str], Entry]) -> dict[int, tuple[float, float | None]]:
    """id(row) -> (its test mIoU, its val mIoU or None when its model trained on val), for the rows
    whose shipped model records a test figure (``edgeseg.report.split_points``)."""
    from edgeseg.report.split_points import heldout_miou, shipped_test_points

    points = shipped_test_points()
    out = {}
    for e in groups.values():
        t = heldout_miou(points, model=e.model, trained=e.trained, precision=e.precision)
        if t is not None:
            out[id(e)] = (t, None if points[(e.model, e.trained)].val_in_training else e.miou)
    return out


def _y(e: Entry, tests: dict[int, tuple[float, float | None]]) -> float:
    """The mIoU a row is drawn at: its test figure where recorded, else its own."""
    return tests[id(e)][0] if id(e) in tests else e.miou


def params_vs_miou(entries: Sequence[Entry], rec: Any = None) -> Chart:
    """One point per model x precision base (its fastest row), marker area growing with p50 latency,
    labelled with the model's name, its figures in a legend beside the axes; published results for the
    dataset (``edgeseg.report.published``) are hollow grey circles. When all our rows share a split and
    training budget, the title says it once."""
    from edgeseg.report.published import published_points

    name, title = "params_vs_miou", "Parameters vs mIoU (marker size = p50 latency; hollow = published)"
    groups = _fastest(entries)
    if not groups:
        return Chart(
            name,
            title,
            None,
            "No rows with both a parameter count and an mIoU: chart skipped (run bench with --data).",
        )
    dataset = next((g.dataset for g in groups.values() if g.dataset), "")
    pubs = published_points(str(dataset).split(":", 1)[0])
    models = sorted(
        {m for m, _ in groups}, key=lambda m: (-max(e.miou for (k, _), e in groups.items() if k == m), m)
    )
    if len(models) < 2 and not pubs:
        return Chart(
            name,
            title,
            None,
            "One model in this report (one parameter count): see the latency vs mIoU chart.",
        )
    tests = _test_figures(groups)
    if tests:
        mixed = len(tests) < len(groups)
        title = "Parameters vs test mIoU" + (" where recorded, val elsewhere" if mixed else "")
        title += " (marker size = p50 latency; hollow = published)"
    fig = _figure(8.5, 5.6)
    ax = fig.add_subplot()
    lats = [g.p50 for g in groups.values() if _num(g.p50)]
    lo, hi = (min(lats), max(lats)) if lats else (1.0, 1.0)
    wheres = {_where(e, tests) for e in groups.values()}
    common = wheres.pop() if len(wheres) == 1 else ""
    labels: list[tuple[float, float, str]] = []
    others: list[tuple[float, float]] = []
    details = []  # (colour, the model's legend text)
    for model in models:
        rows = [e for (m, _), e in groups.items() if m == model]
        color = COLORS[models.index(model) % len(COLORS)]
        for e in rows:
            lat = e.p50 if _num(e.p50) else lo
            size = 60 + 540 * ((lat - lo) / (hi - lo) if hi > lo else 0.5)
            if id(e) in tests and tests[id(e)][1] is not None:  # its val figure, small and hollow
                ax.scatter(e.params / 1e6, 100 * e.miou, s=28, facecolors="none", edgecolors=color)
                ax.plot([e.params / 1e6] * 2, [100 * e.miou, 100 * _y(e, tests)], c=color, lw=0.6, ls=":")
            ax.scatter(
                e.params / 1e6,
                100 * _y(e, tests),
                s=size,
                c=color,
                alpha=0.55,
                edgecolors="black",
                marker=MARKERS.get(e.precision_base, "o"),
                linewidths=0.8,
            )
        tested = [r for r in rows if id(r) in tests]  # the label sits on a test point when there is one
        anchor = max(tested or rows, key=lambda r: _y(r, tests))
        labels.append((anchor.params / 1e6, 100 * _y(anchor, tests), model))
        details.append(
            (color, _model_label(model, rows, where="" if common else _where(anchor, tests), tests=tests))
        )
        others += [(e.params / 1e6, 100 * _y(e, tests)) for e in rows if e is not anchor]
    for pub in pubs:
        ax.scatter(
            pub.params_m, pub.miou, s=70, facecolors="none", edgecolors="0.35", marker="o", linewidths=1.2
        )
        labels.append((pub.params_m, pub.miou, f"{pub.name} {pub.miou:g} ({pub.split}, paper)"))
    xs = [x for x, _, _ in labels]
    if xs and min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("parameters (millions)")
    ax.set_ylabel("mIoU (%)")
    ax.set_title(title + (f"\nours: {common}" if common else ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.margins(x=0.35, y=0.25)
    _legend_models(ax, details)
    _legend_markers(ax, val=any(v is not None for _, v in tests.values()))
    _annotate(ax, labels, fontsize=7.5, dx=16, marker_pt=14.0, avoid=others)
    note = (
        "Fastest row of each model x precision (fp32 / fp16 / int8); circle fp32, square fp16, triangle int8."
    )
    if tests:
        note += (
            " Our filled markers are CamVid test figures where the shipped model's card records them (FP32"
            " and the QAT INT8 file, measured once, scripts/record_test_figures.py); a small hollow marker"
            " joined by a dotted line is the same row's val figure, drawn only for models that did not"
            " train on val."
        )
    if pubs:
        note += (
            " Hollow grey circles: published results on the test split, each paper's own training "
            "(sources in "
            "edgeseg/report/published.py); ours say their split and training budget."
        )
    return Chart(name, title, _png(fig), note)


def _legend_models(ax, details: Sequence[tuple[str, str]]) -> None:
    """Beside the axes: each of our models in its colour, with its parameters and figures per precision
    (the points themselves carry only the model's name: five multi-line labels did not fit)."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="o", ls="", color=c, alpha=0.7, markersize=9, label=text) for c, text in details
    ]
    # a figure legend (an axes' second legend would be clipped to the axes and cut from the PNG)
    ax.figure.legend(
        handles=handles,
        fontsize=7.5,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        bbox_transform=ax.transAxes,
        borderaxespad=0.0,
        labelspacing=1.0,
        title="ours (mIoU · p50, fastest path)",
        title_fontsize=8,
    )


def _legend_markers(ax, *, val: bool = False) -> None:
    """The precision markers; ``val`` (default False) adds the small hollow marker of a row's val figure."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker=m, ls="", color="gray", label=p) for p, m in MARKERS.items()]
    if val:
        handles.append(
            Line2D([], [], marker="o", ls=":", color="gray", mfc="none", markersize=5, label="val (same row)")
        )
    ax.legend(handles=handles, fontsize=8, loc="lower right", title="precision", title_fontsize=8)


def class_deltas(ref: Entry, e: Entry, classes: Sequence[str]) -> list[float]:
    """IoU of ``e`` minus IoU of ``ref`` per class, in points (a class missing from either counts 0)."""
    return [100 * ((e.per_class_iou.get(c) or 0.0) - (ref.per_class_iou.get(c) or 0.0)) for c in classes]


def per_class_iou(entries: Sequence[Entry], rec: Any = None) -> Chart:
    """INT8 minus FP32 IoU per class, in points, for each INT8 row against its model's best FP32 row."""
    name, title = "per_class_iou", "Per-class IoU change of each INT8 row vs FP32 (points)"
    by_model: dict[str, list[Entry]] = {}
    for e in entries:
        if e.per_class_iou and e.ok:
            by_model.setdefault(e.model, []).append(e)
    panels, notes = [], []
    for model, es in sorted(by_model.items()):
        fp32 = [e for e in es if e.precision_base == "fp32" and _num(e.miou)]
        int8 = [e for e in es if e.precision_base == "int8"]
        if not fp32 or not int8:
            notes.append(f"{model}: needs an FP32 and an INT8 row with per-class IoU")
            continue
        ref = max(fp32, key=lambda e: e.miou)
        int8 = sorted(int8, key=lambda e: (not e.deployable, e.label))[:MAX_VARIANTS]
        panels.append((model, ref, int8))
    if not panels:
        return Chart(
            name,
            title,
            None,
            "; ".join(notes) or "No rows with per-class IoU: chart skipped (run bench with --data).",
        )
    import numpy as np

    classes_n = max(len(ref.per_class_iou) for _, ref, _ in panels)
    fig = _figure(9.0, sum(0.30 * classes_n * max(1.0, len(v) / 3) + 1.2 for _, _, v in panels) + 0.6)
    for k, (model, ref, int8) in enumerate(panels):
        ax = fig.add_subplot(len(panels), 1, k + 1)
        classes = list(ref.per_class_iou)
        height = 0.8 / len(int8)
        lo, hi = 0.0, 0.0
        for j, e in enumerate(int8):
            d = class_deltas(ref, e, classes)
            lo, hi = min(lo, *d), max(hi, *d)
            ys = np.arange(len(classes)) + (j - (len(int8) - 1) / 2) * height
            ax.barh(
                ys,
                d,
                height,
                color=COLORS[j % len(COLORS)],
                hatch=None if e.deployable else "//",
                label=f"{e.short} (mIoU {100 * (e.miou - ref.miou):+.2f})" if _num(e.miou) else e.short,
            )
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(len(classes)))
        ax.set_yticklabels(classes, fontsize=8)
        ax.invert_yaxis()
        span = max(1.0, hi - lo)
        ax.set_xlim(min(lo, -0.5) - 0.08 * span, max(hi, 0.5) + 0.08 * span)
        ax.set_xlabel(f"IoU change vs {ref.short} (points); left of 0: INT8 lost accuracy on that class")
        ax.set_title(f"{model}: INT8 - FP32 per class", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(
        rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight())
    )  # room for the suptitle above the first panel
    hatched = any(not e.deployable for _, _, int8 in panels for e in int8)
    return Chart(
        name,
        title,
        _png(fig),
        "; ".join(notes + (["hatched bars: not a deployment path on this machine"] if hatched else [])),
    )


def latency_distribution(entries: Sequence[Entry], rec: Any = None) -> Chart:
    """Box plots of the raw per-run timings of every row (first batch size)."""
    name, title = "latency_distribution", "Latency distribution per row (raw timed runs)"
    import numpy as np

    rows = [e for e in entries if len(e.timings) >= 1]
    if not rows:
        return Chart(name, title, None, "No rows with raw timings: chart skipped.")
    fig = _figure(8.0, 0.45 * len(rows) + 1.4)
    ax = fig.add_subplot()
    data = [e.timings for e in rows]
    labels = [f"{e.short} (b{e.batch}, n={len(e.timings)})" for e in rows]
    kw = dict(widths=0.6, showfliers=True, patch_artist=True, whis=(5, 95))
    try:
        bp = ax.boxplot(data, orientation="horizontal", **kw)  # matplotlib >= 3.10
    except TypeError:
        bp = ax.boxplot(data, vert=False, **kw)
    backends = sorted({e.backend for e in rows})
    for patch, e in zip(bp["boxes"], rows):
        patch.set_facecolor(backend_color(e.backend))
        patch.set_alpha(0.5)
    from matplotlib.patches import Patch

    ax.legend(
        handles=[Patch(facecolor=backend_color(b), alpha=0.5, label=b) for b in backends],
        fontsize=8,
        loc="best",
    )
    ax.set_yticks(range(1, len(rows) + 1))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    lo = min(float(np.percentile(d, 5)) for d in data)
    hi = max(float(np.percentile(d, 95)) for d in data)
    if lo > 0 and hi / lo > 20:  # rows an order of magnitude apart: a linear axis would hide the fast ones
        ax.set_xscale("log")
    ax.set_xlabel("latency (ms); box = quartiles, whiskers = p5..p95, dots = outliers")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return Chart(name, title, _png(fig))


#: The charts a report contains, in order.
CHARTS: dict[str, Callable[..., Chart]] = {
    "params_vs_miou": params_vs_miou,
    "latency_vs_miou": latency_vs_miou,
    "per_class_iou": per_class_iou,
    "latency_distribution": latency_distribution,
}


def make_charts(entries: Sequence[Entry], *, rec: Any = None) -> list[Chart]:
    """Every chart in ``CHARTS`` (``rec``: the report's Recommendation, starred where a chart shows it);
    a chart that raises becomes a note instead of failing the report."""
    out = []
    for name, fn in CHARTS.items():
        try:
            out.append(fn(entries, rec))
        except Exception as e:  # noqa: BLE001 - one bad chart must not lose the whole report
            out.append(Chart(name, name.replace("_", " "), None, f"chart failed: {type(e).__name__}: {e}"))
    return out
