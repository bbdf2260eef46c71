"""Chart colours come from the backend (its place in BACKENDS), not from the order rows arrive in; the
recommended star sits behind its row's marker; the per-class caption mentions hatching only when drawn."""

import matplotlib

matplotlib.use("Agg")

from matplotlib.colors import to_hex  # noqa: E402

from edgeseg.report._plot import backend_color  # noqa: E402
from edgeseg.report.latency_chart import _latency_legend, _latency_panel  # noqa: E402


def _e(backend, p50, miou, prec="int8"):
    from edgeseg.report.entry import ReportEntry

    return ReportEntry(
        id=backend,
        label=backend,
        short=backend,
        backend=backend,
        p50=p50,
        miou=miou,
        precision_base=prec,
        deployable=True,
    )


def _colours(rows, rec=None):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    _latency_panel(ax, rows, rec, backends=sorted({e.backend for e in rows}))
    out = {}
    for coll, e in zip(ax.collections, rows):
        out[e.backend] = to_hex(coll.get_facecolors()[0])
    _latency_legend(ax, rows, rec, sorted({e.backend for e in rows}))
    legend = {
        t.get_text(): to_hex(h.get_color())
        for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles)
    }
    stars = [c for c in ax.collections if c.get_zorder() != 3]
    plt.close(fig)
    return out, legend, stars


def test_a_backend_keeps_its_colour_whatever_the_rows():
    a, legend_a, _ = _colours([_e("openvino", 26.0, 0.72), _e("torch", 90.0, 0.715, "fp32")])
    b, legend_b, _ = _colours(
        [_e("executorch", 27.0, 0.716), _e("onnxruntime", 80.0, 0.72), _e("openvino", 29.0, 0.715)]
    )
    assert a["openvino"] == b["openvino"] == backend_color("openvino")
    assert (
        legend_a["OpenVINO"] == legend_b["OpenVINO"] == backend_color("openvino")
    )  # titled as its spec spells it
    assert "ExecuTorch" in legend_b
    from edgeseg.backends import BACKENDS

    assert len({backend_color(b) for b in BACKENDS}) == len(BACKENDS)


def test_the_star_is_behind_the_recommended_marker():
    rows = [_e("openvino", 26.0, 0.72), _e("torch", 90.0, 0.715, "fp32")]

    class Rec:
        entry = rows[0]

    _, legend, stars = _colours(rows, Rec())
    assert stars and all(s.get_zorder() < 3 for s in stars)
    assert "OpenVINO" in legend and "recommended" in legend
