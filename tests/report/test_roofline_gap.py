"""The report's paragraph for each INT8 row beyond 1.5x its roofline (report.roofline_gap)."""

from __future__ import annotations

import pytest

from edgeseg.report.entry import ReportEntry
from edgeseg.report.roofline_gap import LIMIT, explain, gap_lines

SPLIT = {
    "tool": "OpenVINO PERF_COUNT",
    "runs": 20,
    "run_ms": 20.0,
    "kernels_ms": {
        "dense convolution": 6.0,
        "channel-wise convolution": 2.0,
        "element-wise and quantize": 5.0,
        "resample": 1.0,
    },
    "calls": {},
    "kernel_calls": 250.0,
    "between_kernels_ms": 6.0,
}


def _entry(**kw) -> ReportEntry:
    base = dict(
        id="cgnet-ov-int8",
        id_label="cgnet-ov-int8",
        label="OpenVINO INT8",
        ok=True,
        precision_base="int8",
        backend="openvino",
        p50=20.0,
        roofline_own_x=4.0,  # the roofline: 5 ms
        roofline_own_bound="compute",
        gflops=4.0,
        conv_gflops={"dense": 3.0, "channel_wise": 0.2},
        time_split=SPLIT,
    )
    base.update(kw)
    return ReportEntry(**base)


def test_a_profiled_row_is_read_against_its_roofline():
    text = explain(_entry())
    # dense convs: 75 % of the operations -> 3.75 ms of the 5 ms roofline; they took 6.0 ms = 1.6x
    assert "4.0x its int8 roofline (5.0 ms, compute-bound)" in text
    assert "do 75% of the operations in 6.0 ms, 1.6x their share of the roofline" in text
    assert "the other 14.0 ms (70%)" in text
    # the rest largest first, then the time between kernel calls
    assert text.index("element-wise and quantize 5.0 ms") < text.index("channel-wise convolution 2.0 ms")
    assert text.index("channel-wise convolution 2.0 ms") < text.index("resample 1.0 ms")
    assert "between its 250 kernel calls 6.0 ms" in text
    assert "would be 1.2x the roofline" in text  # 6.0 ms of dense convolutions / 5 ms


def test_a_profile_taken_in_a_slower_moment_is_read_as_shares_of_the_p50():
    text = explain(_entry(time_split={**SPLIT, "run_ms": 40.0}, p50=10.0, roofline_own_x=2.0))
    # roofline 5 ms; profile run 40 ms -> x0.25: dense 1.5 ms of the 10 ms p50 = 0.4x their 3.75 ms share
    assert "runs at 40.0 ms; below, the profile's shares of the 10.0 ms p50" in text
    assert "in 1.5 ms, 0.4x their share of the roofline; the other 8.5 ms (85%)" in text
    assert "element-wise and quantize 1.2 ms" in text and "kernel calls 1.5 ms" in text


@pytest.mark.parametrize(
    "kw",
    [
        {"roofline_own_x": LIMIT},  # at the limit: nothing to explain
        {"roofline_own_x": None},
        {"precision_base": "fp32"},
        {"ok": False},
        {"p50": None},
    ],
)
def test_rows_without_a_gap_to_explain(kw):
    assert explain(_entry(**kw)) is None


def test_rows_without_a_profile_say_why():
    assert "No profile: PyTorch rows are not profiled" in explain(_entry(backend="torch", time_split=None))
    assert "the run did not profile it (matrix setting `profile`)" in explain(_entry(time_split=None))


def test_without_a_compute_bound_or_conv_split_the_kinds_are_listed_only():
    for kw in ({"roofline_own_bound": "memory"}, {"conv_gflops": None}):
        text = explain(_entry(**kw))
        assert "share of the roofline" not in text and "dense convolution 6.0 ms" in text


def test_gap_lines_keep_table_order_and_reach_the_report(tmp_path):
    entries = [_entry(id_label="a"), _entry(id_label="b", roofline_own_x=1.2), _entry(id_label="c")]
    lines = gap_lines(entries)
    assert len(lines) == 2 and "(a)" in lines[0] and "(c)" in lines[1]


def _row(rid: str, precision: str, p50: float) -> dict:
    lat = {"mean": p50, "p50": p50, "p90": p50, "p99": p50, "min": p50, "max": p50, "std": 0.0}
    return {
        "id": rid, "artifact": f"{rid}.xml", "state": "ok", "model": "cgnet", "arch": "cgnet",
        "backend": "openvino", "precision": precision, "params": 494258, "gflops": 4.0, "threads": 2,
        "latency_ms": lat,
        "batches": [{"batch": 1, "state": "ok", "latency_ms": lat, "timings_ms": [p50] * 3}],
        "input_size": [360, 480], "accuracy": {"miou": 0.6, "per_class_iou": {}, "frames": 4},
    }  # fmt: skip


def test_the_report_prints_the_section_from_a_profiled_results_row(tmp_path):
    from edgeseg.bench.results import append_run
    from edgeseg.bench.schema import new_run_id
    from edgeseg.report.render import write_report

    row = _row("ov-int8", "int8", 20.0)
    row.update(
        quantization="qat tensorrt-qdq", roofline_int8_x=4.0, roofline_int8_bound="compute",
        time_split=SPLIT, conv_gflops={"dense": 3.0, "channel_wise": 0.2},
    )  # fmt: skip
    fp32 = _row("ov-fp32", "fp32", 30.0)
    fp32.update(roofline_x=9.0, roofline_bound="compute")
    res = tmp_path / "res.json"
    run = {"id": new_run_id(), "started": "2025-01-01T00:00:00Z", "finished": "2025-01-01T00:10:00Z"}
    append_run(
        res,
        {
            **run,
            "machine": {"cpu": "Test CPU"},
            "peak": {"state": "ok", "matmul_gflops": 80.0, "bandwidth_gbs": 20.0, "threads": 2},
            "rows": [row, fp32],
        },
    )
    write_report([res], tmp_path / "rep")
    md = (tmp_path / "rep" / "REPORT.md").read_text()
    assert "## INT8 rows beyond 1.5x their roofline: what keeps them away" in md
    section = md.split("what keeps them away")[1].split("##")[0]
    assert "1.6x their share of the roofline" in section and "ov-fp32" not in section  # INT8 rows only
    assert "what keeps them away</h2>" in (tmp_path / "rep" / "report.html").read_text()
