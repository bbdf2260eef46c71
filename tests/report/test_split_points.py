"""The params-vs-mIoU chart draws our test figures beside the published test figures (issue 34), and
keeps val as a second marker only for models that did not train on val."""

import pytest

import edgeseg.report.charts as charts
import edgeseg.report.split_points as sp
from edgeseg.report.entry import ReportEntry
from edgeseg.report.split_points import HeldOutPoint, heldout_miou

ROW = {
    "params": 494258,
    "miou": 0.7156,
    "model": "cgnet",
    "precision": "fp32",
    "precision_base": "fp32",
    "p50": 50.0,
    "backend": "onnxruntime",
    "dataset": "camvid:/data/camvid [val]",
    "trained": "2.5 h CPU budget, train",
}
INT8 = {**ROW, "miou": 0.7214, "precision": "int8 qat trt-qdq", "precision_base": "int8", "p50": 20.0}
POINTS = {("cgnet", "2.5 h CPU budget, train"): HeldOutPoint(fp32=0.6181, int8=0.6202, val_in_training=False)}


def test_heldout_figure_only_for_the_same_model_training_and_a_recorded_precision():
    kw = {"model": "cgnet", "trained": "2.5 h CPU budget, train"}
    assert heldout_miou(POINTS, precision="fp32", **kw) == 0.6181
    assert heldout_miou(POINTS, precision="int8 qat trt-qdq", **kw) == 0.6202
    assert heldout_miou(POINTS, precision="int8 ptq trt-qdq", **kw) is None  # PTQ is not the QAT file
    assert heldout_miou(POINTS, precision="fp16", **kw) is None
    assert (
        heldout_miou(POINTS, precision="fp32", model="cgnet", trained="7.5 h CPU budget, train+val") is None
    )
    assert heldout_miou(POINTS, precision="fp32", model="fcn", trained=kw["trained"]) is None


def _chart(monkeypatch, points, rows):
    seen = {}

    def fake_annotate(ax, items, **kw):
        seen["title"] = ax.get_title()
        seen["legend"] = [t.get_text() for t in ax.figure.legends[0].get_texts()]
        seen["ys"] = sorted(round(y, 2) for _, y, _ in items)

    monkeypatch.setattr(sp, "shipped_test_points", lambda: points)
    monkeypatch.setattr(charts, "_annotate", fake_annotate)
    chart = charts.params_vs_miou([ReportEntry(id=f"r{i}", **r) for i, r in enumerate(rows)])
    return chart, seen


@pytest.mark.shipped_points
def test_chart_draws_test_points_with_val_beside_them(monkeypatch):
    chart, seen = _chart(monkeypatch, POINTS, [ROW, INT8])
    assert "test mIoU" in chart.title and "val figure" in chart.note
    assert seen["title"].endswith("ours: test; 2.5 h CPU budget, train")
    assert seen["legend"] == [
        "cgnet 0.49 M\nfp32 test 61.81 % (val 71.56) · 50.0 ms (onnxruntime)\n"
        "int8 qat trt-qdq test 62.02 % (val 72.14) · 20.0 ms (onnxruntime)"
    ]
    assert 62.02 in seen["ys"] and 72.14 not in seen["ys"]  # the label sits on the test point


@pytest.mark.shipped_points
def test_chart_leaves_val_out_for_a_model_trained_on_val(monkeypatch):
    trained = {k: HeldOutPoint(fp32=p.fp32, int8=p.int8, val_in_training=True) for k, p in POINTS.items()}
    _, seen = _chart(monkeypatch, trained, [ROW])
    assert seen["legend"] == ["cgnet 0.49 M\nfp32 test 61.81 % · 50.0 ms (onnxruntime)"]


@pytest.mark.shipped_points
def test_chart_keeps_val_for_rows_of_another_checkpoint(monkeypatch):
    other = {("cgnet", "7.5 h CPU budget, train+val"): POINTS[("cgnet", "2.5 h CPU budget, train")]}
    chart, seen = _chart(monkeypatch, other, [ROW])
    assert "test mIoU" not in chart.title and seen["title"].endswith("ours: val; 2.5 h CPU budget, train")


@pytest.mark.shipped_points
def test_every_shipped_model_records_its_test_figures_once():
    """The shipped sidecars carry FP32 and QAT INT8 test figures on all 233 frames (issue 34)."""
    from edgeseg._shipped import shipped_models
    from edgeseg.card import read_sidecar

    pts = [p for p in shipped_models().values() if p.suffix == ".pt"]
    assert pts
    for p in pts:
        test = read_sidecar(p).metrics.get("test") or {}
        for slot in ("fp32", "qat_int8_onnxruntime"):
            rec = test.get(slot) or {}
            assert rec.get("frames") == 233 and 0.3 < rec["miou"] < 0.8, (p.name, slot)
            assert "--split test" in rec["command"] and rec["cpu"]
    assert sp.shipped_test_points()  # and the chart finds them


@pytest.mark.shipped_points
def test_answer_across_models_warns_when_one_trained_on_val(monkeypatch):
    """A zoo report ranks models on val: a model trained on val wins there by training fit, so the answer
    says so and gives each model's test figure to compare instead (issue 34)."""
    from edgeseg.report.render import _answer
    from edgeseg.report.recommend import recommend

    tv = "7.5 h CPU budget, train+val"
    points = {
        ("cgnet", tv): HeldOutPoint(fp32=0.6470, int8=0.6410, val_in_training=True),
        ("fcn", "2.5 h CPU budget, train"): HeldOutPoint(fp32=0.5586, int8=0.5639, val_in_training=False),
    }
    monkeypatch.setattr(sp, "shipped_test_points", lambda: points)
    fcn = {**ROW, "model": "fcn", "miou": 0.6571, "trained": "2.5 h CPU budget, train", "ok": True}
    cg = {**ROW, "miou": 0.8414, "trained": tv, "ok": True, "deployable": True}
    entries = [ReportEntry(id=f"r{i}", **r) for i, r in enumerate([cg, fcn])]
    text = "\n".join(_answer(recommend(entries), entries))
    assert "Caution: cgnet trained on val" in text
    assert "cgnet 64.70 %, fcn 55.86 %" in text
    # nobody trained on val, or a single model: no caution
    points[("cgnet", tv)] = HeldOutPoint(fp32=0.6470, int8=0.6410, val_in_training=False)
    assert "Caution" not in "\n".join(_answer(recommend(entries), entries))
    points[("cgnet", tv)] = HeldOutPoint(fp32=0.6470, int8=0.6410, val_in_training=True)
    assert "Caution" not in "\n".join(_answer(recommend(entries[:1]), entries[:1]))
