"""The budget checked on a built artifact (``quant.budget_check.extend_until_met``): build, check, and
while the artifact misses, 1, 2, 4, ... more layers of the proxy's ranking float. A fake build (the
"artifact" is its list of float layers) and a fake check test the loop's glue only; the real builds are
the ExecuTorch one (``tests/quant/test_mixed_build.py``, ``-m slow``) and ONNX Runtime's
(``test_ort_cpu_program_is_checked``)."""

from __future__ import annotations

from edgeseg.quant import budget_check

RANKING = ["a", "b", "c", "d.residual_quantizer", "e", "f", "g", "h"]


def _run(need: int, start: list[str], ranking=RANKING):
    """The fake artifact meets the budget once ``need`` layers are float."""
    record = {"ranking": list(ranking), "float_layers": list(start)}
    built = []

    def build(layers):
        built.append(list(layers))
        return list(layers)

    def check(artifact):
        n = len(artifact)
        return {"drop": 5.0 - n, "worst_class": "Pole", "worst_class_drop": 1.0, "met": n >= need}

    _, layers = budget_check.extend_until_met(
        build, check, float_layers=list(start), record=record, log=lambda s: None
    )
    return layers, record, built


def test_an_artifact_that_meets_the_budget_is_built_once():
    layers, record, built = _run(1, ["a"])
    assert layers == ["a"] and built == [["a"]]
    assert record["program_budget_met"] and len(record["program_checks"]) == 1
    assert "proxy_float_layers" not in record and record["float_layers"] == ["a"]


def test_a_missing_artifact_gets_1_2_4_more_ranked_layers_skipping_residual_quantizers():
    layers, record, built = _run(5, ["a"])
    # +1 (b), +2 (c, e): residual quantizers are not layers of the artifact
    assert built == [["a"], ["a", "b"], ["a", "b", "c", "e"], ["a", "b", "c", "e", "f", "g", "h"]]
    assert layers == ["a", "b", "c", "e", "f", "g", "h"] and record["float_layers"] == layers
    assert record["proxy_float_layers"] == ["a"] and record["program_budget_met"]
    assert [c["float_layers"] for c in record["program_checks"]] == [1, 2, 4, 7]


def test_it_stops_when_the_ranking_runs_out_or_after_max_rebuilds_and_says_so():
    layers, record, built = _run(99, ["a"], ranking=["a", "b"])
    assert built == [["a"], ["a", "b"]] and not record["program_budget_met"]
    many = [f"u{i}" for i in range(100)]
    layers, record, built = _run(99, [], ranking=many)
    assert len(built) == budget_check.MAX_REBUILDS + 1 and not record["program_budget_met"]
