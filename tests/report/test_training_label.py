"""Our chart points say how the model was trained (budget, device, split), next to the published ones."""

from edgeseg.card import training_label
from edgeseg.report.entry import ReportEntry


def _entries(*fields: dict) -> list[ReportEntry]:
    """Report entries with only the given fields (the rest their defaults)."""
    return [ReportEntry(id=f"row{i}", **f) for i, f in enumerate(fields)]


def test_training_label_from_budget_epochs_and_split():
    assert training_label({}) == ""
    cpu = {
        "command": "edgeseg train --model cgnet --time 2h30m",
        "budget_s": 9000.0,
        "epochs_done": 159.8,
        "device": "cpu",
    }
    assert training_label(cpu) == "2.5 h CPU budget, train"
    gpu = {
        "command": "edgeseg train --model cgnet --train-split trainval --epochs 800",
        "epochs_done": 800,
        "device": "cuda:0",
    }
    assert training_label(gpu) == "800 ep GPU, train+val"
    assert training_label({"command": "x", "device": "cpu"}) == ""  # nothing measurable recorded


def test_params_chart_labels_carry_the_training_budget(monkeypatch):
    """One label per model (name, parameters, a line per precision); the split and budget go in the
    title when every point shares them, else in each model's label."""
    import edgeseg.report.charts as charts

    seen, titles, legends = [], [], []

    def fake_annotate(ax, items, **kw):
        seen.extend(t for _, _, t in items)
        titles.append(ax.get_title())
        legends.append([t.get_text() for t in ax.figure.legends[0].get_texts()])

    monkeypatch.setattr(charts, "_annotate", fake_annotate)
    row = {
        "params": 494258,
        "miou": 0.7156,
        "model": "cgnet",
        "precision": "fp32",
        "precision_base": "fp32",
        "p50": 50.0,
        "backend": "executorch",
        "dataset": "camvid:/data/camvid [val]",
        "trained": "2.5 h CPU budget, train",
    }
    int8 = {
        **row,
        "miou": 0.7214,
        "precision": "int8 qat",
        "precision_base": "int8",
        "p50": 20.0,
        "backend": "openvino",
    }
    slow_int8 = {
        **int8,
        "miou": 0.7300,
        "p50": 90.0,
        "backend": "onnxruntime",
    }  # not the fastest int8 row: not drawn
    chart = charts.params_vs_miou(_entries(row, int8, slow_int8))
    assert chart.png is not None and "training budget" in chart.note
    assert "cgnet" in seen and legends[-1] == [
        "cgnet 0.49 M\nfp32 71.56 % · 50.0 ms (executorch)\nint8 qat 72.14 % · 20.0 ms (openvino)"
    ]
    assert titles[-1].endswith("ours: val; 2.5 h CPU budget, train")

    gpu = {**row, "model": "fcn", "params": 2043163, "miou": 0.75, "trained": "800 ep GPU, train+val"}
    charts.params_vs_miou(_entries(row, gpu))
    assert legends[-1] == [
        "fcn 2.04 M (val; 800 ep GPU, train+val)\nfp32 75.00 % · 50.0 ms (executorch)",  # best mIoU first
        "cgnet 0.49 M (val; 2.5 h CPU budget, train)\nfp32 71.56 % · 50.0 ms (executorch)",
    ]
    assert "ours:" not in titles[-1]


def test_latency_chart_gives_each_model_of_a_zoo_its_own_panel():
    """One model: one axes, labels are the paths. Several: a panel per model (best mIoU first), titled
    with the model and its parameters, each labelling only its own rows, each mIoU axis spanning its own."""
    from edgeseg.report.charts import MIN_MIOU_SPAN, latency_figure

    base = {
        "p50": 10.0,
        "miou": 0.7,
        "backend": "onnxruntime",
        "precision_base": "fp32",
        "deployable": True,
        "short": "ort fp32",
        "params": 494258,
    }
    one = latency_figure(
        _entries({**base, "model": "cgnet"}, {**base, "model": "cgnet", "p50": 20.0, "short": "torch fp32"}),
        None,
        title="t",
    )
    assert len(one.axes) == 1 and sorted(t.get_text() for t in one.axes[0].texts) == [
        "ort fp32",
        "torch fp32",
    ]
    fcn = {**base, "model": "fcn", "params": 2043163, "miou": 0.60}
    two = latency_figure(
        _entries({**base, "model": "cgnet"}, fcn, {**fcn, "p50": 30.0, "short": "fcn torch fp32"}),
        None,
        title="t",
    )
    assert [ax.get_title(loc="left") for ax in two.axes] == [
        "cgnet (0.49 M parameters)",
        "fcn (2.04 M parameters)",
    ]
    assert [sorted(t.get_text() for t in ax.texts) for ax in two.axes] == [
        ["ort fp32"],
        ["ort fp32", "torch fp32"],
    ]
    for ax, miou in zip(two.axes, (70.0, 60.0)):
        lo, hi = ax.get_ylim()
        assert lo < miou < hi and hi - lo < 3 * MIN_MIOU_SPAN
