"""report.html in a real browser (headless Chromium): nothing overflows the page, every chart loads,
the recommendation comes first. Skipped, with the reason, where no Chromium is installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from edgeseg.bench.results import append_run
from edgeseg.bench.schema import new_run_id
from edgeseg.report.render import write_report

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "chrome") if shutil.which(n)),
    None,
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium here (Debian: apt-get install chromium), so report.html is not rendered in a browser",
)

MEASURE = """<script>
const d = document.documentElement;
const out = {page: d.scrollWidth, viewport: window.innerWidth, boxes: [], imgs: []};
for (const b of document.querySelectorAll('.tablebox')) {
  const r = b.getBoundingClientRect(); out.boxes.push({left: r.left, right: r.right});
}
for (const i of document.images) {
  out.imgs.push({natural: i.naturalWidth, shown: i.getBoundingClientRect().right});
}
const first = document.querySelector('h1').nextElementSibling;
out.first = first ? first.className + ':' + first.textContent.trim().slice(0, 80) : '';
const p = document.createElement('pre'); p.id = 'measure'; p.textContent = JSON.stringify(out);
document.body.appendChild(p);
</script>"""


def browse(html_file, *, width: int, screenshot=None) -> dict:
    """Open ``html_file`` in headless Chromium at ``width`` px and return the page's own measurements."""
    probe = html_file.with_name("probe.html")
    probe.write_text(html_file.read_text().replace("</body>", MEASURE + "</body>"))
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={width},1000",
        "--virtual-time-budget=5000",
    ]
    dom = subprocess.run(
        [*cmd, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    if screenshot is not None:
        subprocess.run(
            [*cmd, f"--screenshot={screenshot}", html_file.as_uri()], capture_output=True, timeout=120
        )
    m = re.search(r"<pre id=\"measure\">(.*?)</pre>", dom, re.S)
    assert m, f"Chromium rendered no measurements: {dom[-500:]!r}"
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def _row(i, state="ok"):
    from edgeseg.bench.stats import summarize

    lat = summarize([10.0 + i] * 5)
    return {
        "id": f"a-rather-long-row-identifier-number-{i}",
        "artifact": f"build/a_rather_long_artifact_name_{i}.qat.onnx",
        "state": state,
        "model": "cgnet",
        "backend": "onnxruntime" if i % 2 else "openvino",
        "precision": "int8",
        "quantization": "qat tensorrt-qdq",
        "params": 494258,
        "gflops": 4.45,
        "file_size_mb": 1.5,
        "latency_ms": lat,
        "batches": [
            {
                "batch": b,
                "state": "ok",
                "latency_ms": lat,
                "timings_ms": [10.0 + i] * 5,
                "throughput_fps": 90.0,
            }
            for b in (1, 2, 4, 8)
        ],
        "memory": {
            "rss_loaded_mb": 150.0,
            "rss_peak_mb": 180.0,
            "rss_source": "VmHWM",
            "rss_peak_scope": "inference",
        },
        "accuracy": {"miou": 0.62, "per_class_iou": {"Sky": 0.9, "Car": 0.5}},
        "roofline_x": 1.2,
        "roofline_int8_x": 4.0,
        "make": [
            [
                "build",
                f"build/a_rather_long_input_name_{i}.onnx",
                "--backend",
                "openvino",
                "--int8",
                "--threads",
                "2",
                "-o",
                f"build/a_rather_long_artifact_name_{i}.qat.onnx",
            ]
        ],
    }


def test_report_html_fits_the_page_in_chromium(tmp_path):
    rows = [_row(i) for i in range(6)] + [
        _row(9, state="failed: " + "a long failure reason without many breaks " * 6)
    ]
    res = tmp_path / "res.json"
    append_run(
        res,
        {
            "id": new_run_id(),
            "started": "",
            "machine": {"cpu": "Test"},
            "matrix": {"workdir": "."},
            "peak": {"state": "ok", "matmul_gflops": 400.0, "bandwidth_gbs": 40.0},
            "rows": rows,
        },
    )
    write_report([res], tmp_path / "rep")
    html_file = tmp_path / "rep" / "report.html"
    for width in (1280, 900):
        m = browse(html_file, width=width)
        assert m["page"] <= m["viewport"], f"the page is {m['page']} px wide in a {m['viewport']} px window"
        assert m["boxes"] and all(b["right"] <= m["viewport"] for b in m["boxes"]), m["boxes"]
        assert m["imgs"] and all(i["natural"] > 0 and i["shown"] <= m["viewport"] for i in m["imgs"]), m[
            "imgs"
        ]
        assert m["first"].startswith("answer:Recommendation:"), m["first"]
