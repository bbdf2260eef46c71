"""``build --backend executorch --int8 --max-drop``: the loop that checks the budget on the built program
and lowers again with more of the proxy's ranking float (``_verify.lower_within_budget``). A fake
lowering and a fake checker (no ExecuTorch needed): they test the loop's glue only; the real build is
``tests/quant/test_mixed_build.py::test_executorch_build_leaves_the_chosen_layers_out_of_the_annotation``."""

from __future__ import annotations

from pathlib import Path

from edgeseg.backends.executorch import _verify

RANKING = ["a", "b", "c", "d.residual_quantizer", "e", "f", "g", "h"]


class FakeLowered:
    def __init__(self, layers):
        self.buffer = ",".join(layers).encode()


class FakeChecker:
    """The budget holds once ``need`` layers are float (counted from the program 'bytes')."""

    def __init__(self, need: int) -> None:
        self.need, self.seen = need, []

    def check(self, buffer: bytes, *, out: Path, threads):
        n = len([x for x in buffer.decode().split(",") if x])
        self.seen.append(n)
        return {"drop": 5.0 - n, "worst_class": "Pole", "worst_class_drop": 1.0, "met": n >= self.need}


def _run(need: int, start: list[str], ranking=RANKING):
    record = {"ranking": list(ranking), "float_layers": list(start)}
    lowered_with = []

    def lower_once(layers):
        lowered_with.append(list(layers))
        return FakeLowered(layers)

    checker = FakeChecker(need)
    _, layers = _verify.lower_within_budget(
        lower_once,
        float_layers=list(start),
        record=record,
        checker=checker,
        out=Path("x.pte"),
        threads=1,
        log=lambda s: None,
    )
    return layers, record, lowered_with


def test_a_program_that_meets_the_budget_is_lowered_once():
    layers, record, lowered = _run(1, ["a"])
    assert layers == ["a"] and lowered == [["a"]]
    assert record["program_budget_met"] and len(record["program_checks"]) == 1
    assert "proxy_float_layers" not in record and record["float_layers"] == ["a"]


def test_a_missing_program_gets_1_2_4_more_ranked_layers_skipping_residual_quantizers():
    layers, record, lowered = _run(5, ["a"])
    # +1 (b), +2 (c, e): residual quantizers are not modules of the program
    assert lowered == [["a"], ["a", "b"], ["a", "b", "c", "e"], ["a", "b", "c", "e", "f", "g", "h"]]
    assert layers == ["a", "b", "c", "e", "f", "g", "h"] and record["float_layers"] == layers
    assert record["proxy_float_layers"] == ["a"] and record["program_budget_met"]
    assert [c["float_layers"] for c in record["program_checks"]] == [1, 2, 4, 7]


def test_it_stops_when_the_ranking_runs_out_or_after_max_rebuilds_and_says_so():
    layers, record, lowered = _run(99, ["a"], ranking=["a", "b"])
    assert lowered == [["a"], ["a", "b"]] and not record["program_budget_met"]
    many = [f"u{i}" for i in range(100)]
    layers, record, lowered = _run(99, [], ranking=many)
    assert len(lowered) == _verify.MAX_REBUILDS + 1 and not record["program_budget_met"]
