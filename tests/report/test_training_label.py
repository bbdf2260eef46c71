"""Our chart points say how the model was trained (budget, device, split), next to the published ones."""

from edgeseg.card import training_label


def test_training_label_from_budget_epochs_and_split():
    assert training_label({}) == ""
    cpu = {"command": "edgeseg train --model cgnet --time 2h30m", "budget_s": 9000.0, "epochs_done": 159.8, "device": "cpu"}
    assert training_label(cpu) == "2.5 h CPU budget, train"
    gpu = {"command": "edgeseg train --model cgnet --train-split trainval --epochs 800", "epochs_done": 800, "device": "cuda:0"}
    assert training_label(gpu) == "800 ep GPU, train+val"
    assert training_label({"command": "x", "device": "cpu"}) == ""  # nothing measurable recorded


def test_params_chart_labels_carry_the_training_budget(monkeypatch):
    import edgeseg.report.charts as charts

    seen = []
    monkeypatch.setattr(charts, "_annotate", lambda ax, items, **kw: seen.extend(t for _, _, t in items))
    row = {"params": 494258, "miou": 0.7156, "model": "cgnet", "precision": "fp32", "precision_base": "fp32",
           "p50": 50.0, "backend": "executorch", "dataset": "camvid:/data/camvid [val]", "trained": "2.5 h CPU budget, train"}
    chart = charts.params_vs_miou([row])
    assert chart.png is not None and "training budget" in chart.note
    assert any(t.startswith("cgnet fp32 (val; 2.5 h CPU budget, train)") for t in seen)


def test_latency_chart_names_the_model_when_several_are_drawn():
    from edgeseg.report.charts import latency_figure

    base = {"p50": 10.0, "miou": 0.7, "backend": "onnxruntime", "precision_base": "fp32", "deployable": True, "short": "ort fp32"}
    one = latency_figure([{**base, "model": "cgnet"}, {**base, "model": "cgnet", "p50": 20.0, "short": "torch fp32"}], None, title="t")
    assert sorted(t.get_text() for t in one.axes[0].texts) == ["ort fp32", "torch fp32"]
    two = latency_figure([{**base, "model": "cgnet"}, {**base, "model": "fcn", "p50": 30.0}], None, title="t")
    assert sorted(t.get_text() for t in two.axes[0].texts) == ["cgnet ort fp32", "fcn ort fp32"]
