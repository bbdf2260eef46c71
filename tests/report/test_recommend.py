"""The report decides: the recommendation, its questions, build commands, path names, roofline and charts."""

from __future__ import annotations

import itertools

import pytest

from edgeseg.bench.results import append_run
from edgeseg.bench.schema import new_run_id
from edgeseg.bench.stats import summarize
from edgeseg.cli import main
from edgeseg.report.data import load_entries
from edgeseg.report.recommend import build_commands, recommend, recommendation_line

CLASSES = ["Sky", "Building", "Road", "Car"]
CKPT = "../edgeseg/weights/cgnet_camvid.pt"


def _row(
    rid,
    backend,
    precision,
    p50,
    miou,
    *,
    quant=None,
    peak=200.0,
    make=None,
    cl=False,
    extra=None,
    roof=4.0,
    roof8=None,
):
    lat = summarize([p50] * 5)
    pcs = {c: miou + 0.02 * i for i, c in enumerate(CLASSES)}
    r = {
        "id": rid,
        "artifact": f"build/{rid}.x",
        "state": "ok",
        "model": "cgnet",
        "backend": backend,
        "precision": precision,
        "quantization": quant,
        "device": "cpu",
        "options": {"channels_last": cl},
        "params": 494258,
        "gflops": 4.45,
        "file_size_mb": 1.5,
        "latency_ms": lat,
        "batches": [
            {
                "batch": 1,
                "state": "ok",
                "latency_ms": lat,
                "timings_ms": [p50] * 5,
                "throughput_fps": 1000 / p50,
            }
        ],
        "memory": {
            "rss_loaded_mb": peak - 20,
            "rss_peak_mb": peak,
            "rss_source": "VmHWM",
            "rss_peak_scope": "inference",
        },
        "accuracy": {"miou": miou, "per_class_iou": pcs, "frames": 101},
        "roofline_x": roof,
        "card": {"extra": extra or {}},
    }
    if roof8 is not None:
        r["roofline_int8_x"] = roof8
    if make:
        r["make"] = make
    return r


ROWS = [
    _row("torch-fp32", "torch", "fp32", 44.0, 0.6228, make=None),
    _row("ort-fp32", "onnxruntime", "fp32", 46.0, 0.6228, make=[["export", CKPT, "-o", "build/ort-fp32.x"]]),
    _row(
        "ort-fp32-opt",
        "onnxruntime",
        "fp32",
        17.0,
        0.6230,
        extra={"backend": "onnxruntime"},
        make=[["build", "build/ort-fp32.x", "--backend", "onnxruntime", "-o", "build/ort-fp32-opt.x"]],
    ),
    _row(
        "qdq-qat",
        "onnxruntime",
        "int8",
        9.0,
        0.6226,
        quant="qat tensorrt-qdq",  # fastest, but not a deployment path
        make=[["quantize", CKPT, "--method", "qat", "-o", "build/qdq-qat.x"]],
    ),
    _row("ort-fp16", "onnxruntime", "fp16", 8.0, 0.6228),  # FP16 on a CPU: not a deployment path
    _row(
        "ov-int8-ptq", "openvino", "int8", 10.5, 0.6126, quant="ptq tensorrt-qdq", peak=150.0
    ),  # -1.04 points
    _row(
        "ov-int8-qat",
        "openvino",
        "int8",
        11.0,
        0.6226,
        quant="qat tensorrt-qdq",
        peak=400.0,
        roof=1.1,
        roof8=4.1,
        make=[["build", "build/qdq-qat.x", "--backend", "openvino", "--int8", "-o", "build/ov-int8-qat.x"]],
    ),
]


@pytest.fixture()
def results(tmp_path):
    p = tmp_path / "res.json"
    append_run(
        p,
        {
            "id": new_run_id(),
            "started": "",
            "machine": {},
            "matrix": {"workdir": "."},
            "peak": {
                "state": "ok",
                "matmul_gflops": 400.0,
                "bandwidth_gbs": 40.0,
                "int8_matmul_gops": 1600.0,
            },
            "rows": ROWS,
        },
    )
    return p


def test_default_pick_is_the_fastest_deployment_path_within_half_a_point(results):
    entries, _ = load_entries([results])
    rec = recommend(entries)
    assert (
        rec.entry.id == "ov-int8-qat"
    )  # not qdq-qat / ort-fp16 (faster, not deployable), not ov-int8-ptq (-1.04)
    assert rec.reference.id == "ort-fp32-opt"  # the best FP32 row
    assert rec.baseline.id == "torch-fp32"
    line = recommendation_line(rec)
    assert line.startswith(
        "**Recommendation: OpenVINO INT8 from the QAT model** — p50 11.00 ms (4.0x faster than PyTorch "
        "eager FP32)"
    )
    assert "peak memory 400 MB while inferring (380 MB once loaded)" in line and "1.50 MB on disk" in line
    assert "mIoU 62.26 % (-0.04 points vs the best FP32 row)" in line


def test_build_commands_follow_the_inputs_made_by_other_rows(results):
    entries, _ = load_entries([results])
    ov = next(e for e in entries if e.id == "ov-int8-qat")
    assert build_commands(ov, entries) == [
        f"edgeseg quantize {CKPT} --method qat -o build/qdq-qat.x",
        "edgeseg build build/qdq-qat.x --backend openvino --int8 -o build/ov-int8-qat.x",
    ]


def test_other_questions(results):
    entries, _ = load_entries([results])
    assert (
        recommend(entries, max_drop=1.5).entry.id == "ov-int8-ptq"
    )  # now the PTQ IR qualifies and is faster
    assert recommend(entries, memory_budget_mb=300).entry.id == "ort-fp32-opt"  # the QAT IR needs 400 MB
    none = recommend(entries, latency_budget_ms=5)
    assert none.entry is None and "slower than 5 ms" in recommendation_line(none)


def test_a_budget_no_row_meets_says_so_without_a_chosen_line(results, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", str(results), "-o", str(out), "--latency-budget", "5"]) == 0
    md = (out / "REPORT.md").read_text()
    html = (out / "report.html").read_text()
    for text in (md, html, capsys.readouterr().out):
        assert "Chosen as" not in text, "a report without a recommendation explained what it chose"
    assert md.splitlines()[2].startswith(
        "**No recommendation:** no deployment path on the benchmarked machine is "
        "within 0.5 mIoU points of the best FP32 row"
    )
    assert "p50 latency <= 5 ms (of " in md.splitlines()[2] and "slower than 5 ms" in md.splitlines()[2]


def test_report_puts_the_recommendation_first_and_takes_the_options(results, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", str(results), "-o", str(out), "--memory-budget", "300"]) == 0
    md = (out / "REPORT.md").read_text().splitlines()
    assert md[0] == "# edgeseg benchmark report" and md[2].startswith(
        "**Recommendation: ONNX Runtime FP32, optimized graph"
    )
    assert "peak memory <= 300 MB" in md[4]
    assert (
        "    edgeseg export ../edgeseg/weights/cgnet_camvid.pt -o build/ort-fp32.x" in md
    )  # the chain, in order
    assert capsys.readouterr().out.startswith("Recommendation: ONNX Runtime FP32, optimized graph")
    text = "\n".join(md)
    # not-a-path rows are labelled, each with its sentence
    assert "TensorRT INT8 (QAT) Q/DQ graph run by ONNX Runtime (not a deployment path here)" in text
    assert "FP16 graph run by ONNX Runtime on the CPU (not a deployment path here)" in text
    assert "## Rows that are not a deployment path on this machine" in text
    # every column explained
    heads = [
        h.strip() for h in next(l for l in md if l.startswith("| deployment path")).strip("|").split("|")
    ]
    for h in heads:
        assert any(l.startswith(f"- **{h}**: ") for l in md), h


def test_roofline_column_compares_int8_rows_with_the_int8_peak(results, tmp_path):
    out = tmp_path / "rep"
    main(["report", str(results), "-o", str(out)])
    row = next(l for l in (out / "REPORT.md").read_text().splitlines() if "| ov-int8-qat |" in l)
    assert "| 4.1x |" in row and "| 1.1x |" not in row


def test_per_class_chart_shows_int8_minus_fp32():
    from edgeseg.report.charts import class_deltas
    from edgeseg.report.entry import ReportEntry

    ref = ReportEntry(id="fp32", per_class_iou={"Sky": 0.90, "Car": 0.50})
    e = ReportEntry(id="int8", per_class_iou={"Sky": 0.91, "Car": 0.45})
    assert class_deltas(ref, e, ["Sky", "Car"]) == pytest.approx([1.0, -5.0])


def test_miou_axis_spans_a_few_points_and_labels_do_not_collide(results):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from edgeseg.report.charts import MIN_MIOU_SPAN, latency_figure

    entries, _ = load_entries([results])
    fig = latency_figure(entries, recommend(entries), title="t")
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert hi - lo >= MIN_MIOU_SPAN
    renderer = FigureCanvasAgg(fig).get_renderer()
    boxes = {t.get_text(): t.get_window_extent(renderer) for t in ax.texts}
    assert set(boxes) == {e.short for e in entries}
    for (a, ba), (b, bb) in itertools.combinations(boxes.items(), 2):
        assert not ba.overlaps(bb), f"labels {a!r} and {b!r} overlap"


def test_old_results_memory_is_not_shown(results, tmp_path):
    import json

    doc = json.loads(results.read_text())
    for r in doc["runs"][0]["rows"]:
        r["memory"] = {"rss_baseline_mb": 32.0, "rss_peak_mb": 295.0}  # ru_maxrss era: the parent's peak
    results.write_text(json.dumps(doc))
    entries, _ = load_entries([results])
    assert all(e.rss_mb is None for e in entries)


def test_gpu_memory_column_only_when_a_row_used_a_gpu():
    from dataclasses import replace

    from edgeseg.report.entry import ReportEntry
    from edgeseg.report.table import columns

    cpu = ReportEntry(id="cpu", model="cgnet", gpu_mb=None)
    assert "GPU peak (MB)" not in [c.head for c in columns([cpu])]
    assert "GPU peak (MB)" in [c.head for c in columns([cpu, replace(cpu, gpu_mb=412.0)])]
