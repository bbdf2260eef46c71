"""Results JSON -> REPORT.md (with PNG charts beside it) and a self-contained report.html."""

from __future__ import annotations

import base64
import html
import math
import os
import re
from pathlib import Path
from typing import Any, Sequence

from edgeseg._io import atomic_write_bytes, atomic_write_text, ensure_writable_dir
from edgeseg.report.charts import Chart, make_charts
from edgeseg.report.data import load_entries

def _f(x: Any, fmt: str, scale: float = 1.0, suffix: str = "") -> str:
    if not isinstance(x, (int, float)) or not math.isfinite(x):
        return "-"
    return format(x * scale, fmt) + suffix


def _throughput(e: dict[str, Any]) -> str:
    tp = e["throughput"]
    if not tp:
        return "-"
    return " / ".join(f"{v:.1f} (b{b})" for b, v in sorted(tp.items()))


def _state(e: dict[str, Any], limit: int = 70) -> str:
    s = str(e["state"])
    return s if len(s) <= limit else s[: limit - 1] + "…"


#: (header, entry -> cell text): the main table, in order.
COLUMNS: list[tuple[str, Any]] = [
    ("row", lambda e: e["label"]),
    ("model", lambda e: e["model"]),
    ("backend", lambda e: e["backend"]),
    ("precision", lambda e: e["precision"]),
    ("params (M)", lambda e: _f(e["params"], ".3f", 1e-6)),
    ("GFLOPs", lambda e: _f(e["gflops"], ".2f")),
    ("size (MB)", lambda e: _f(e["size_mb"], ".2f")),
    ("mIoU (%)", lambda e: _f(e["miou"], ".2f", 100)),
    ("p50 (ms)", lambda e: _f(e["p50"], ".2f")),
    ("p90 (ms)", lambda e: _f(e["p90"], ".2f")),
    ("throughput (img/s)", _throughput),
    ("RSS (MB)", lambda e: _f(e["rss_mb"], ".0f")),
    ("x roofline", lambda e: _f(e["roofline_x"], ".1f", suffix="x")),
    ("x int8 roofline", lambda e: _f(e.get("roofline_int8_x"), ".1f", suffix="x")),
    ("state", _state),
]


def table_rows(entries: Sequence[dict[str, Any]]) -> list[list[str]]:
    return [[fn(e) for _, fn in COLUMNS] for e in entries]


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _short(x: Any) -> str:
    """A GPU / Jetson record or a plain value as one short string."""
    if isinstance(x, dict):
        name = x.get("name") or x.get("model") or ""
        rest = ", ".join(f"{k} {v}" for k, v in x.items() if k not in ("name", "model") and isinstance(v, (str, int, float)))
        return f"{name} ({rest})" if name and rest else (name or rest)
    return str(x)


def _run_facts(run: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) lines describing a run's machine, peak and libraries."""
    facts = [("run", f"{run.get('id')} ({run.get('source')})"), ("started", str(run.get("started")))]
    m = run.get("matrix") or {}
    if m.get("data"):
        facts.append(("dataset", f"{m['data']}" + (f", first {m['max_frames']} frames" if m.get("max_frames") else "")))
    for k, v in (run.get("machine") or {}).items():
        label = k.replace("_", " ")
        if k.endswith("_bytes") and isinstance(v, (int, float)):
            facts.append((label[: -len(" bytes")], f"{v / 2**30:.1f} GiB"))
        elif isinstance(v, (str, int, float, bool)) and v != "":
            facts.append((label, str(v)))
        elif isinstance(v, (list, tuple)) and v:
            facts.append((label, ", ".join(_short(x) for x in v)))
        elif isinstance(v, dict) and v:
            facts.append((label, _short(v)))
    peak = run.get("peak") or {}
    if peak.get("state") == "ok":
        libs_txt = ", ".join(f"{k} {v:.0f}" for k, v in (peak.get("matmul_by_library") or {}).items())
        facts.append(("measured peak", f"{peak['matmul_gflops']:.1f} GFLOP/s float32 matmul"
                                       f"{f' (best of {libs_txt})' if libs_txt else ''}, {peak['bandwidth_gbs']:.1f} GB/s copy "
                                       f"({peak.get('threads') or '?'} threads)"))
    else:
        facts.append(("measured peak", str(peak.get("state", "not measured"))))
    if run.get("skipped_files"):
        facts.append(("files skipped (not edgeseg bench results)", ", ".join(run["skipped_files"])))
    libs = run.get("libraries") or {}
    if libs:
        facts.append(("libraries", ", ".join(f"{k} {v}" for k, v in libs.items() if v)))
    return facts


def _notes(entries: Sequence[dict[str, Any]]) -> list[str]:
    return [f"{e['label']}: {e['state']}" for e in entries if e["state"] != "ok"]


INTRO = (
    "Latency is the wall time of `runner.infer` on a preprocessed batch (host arrays in and out), "
    "after warm-up, at the first batch size benchmarked; throughput is images/s at each batch size. "
    "RSS is the peak resident memory of the row's own process. *x roofline* is p50 latency divided by the "
    "time the model's FLOPs take at this machine's measured float32 matmul peak (INT8 rows too); "
    "*x int8 roofline* (INT8 rows) is the same against the measured int8 matmul peak. "
    "MB = 2^20 bytes."
)


def render_markdown(entries: Sequence[dict[str, Any]], runs: Sequence[dict[str, Any]], charts: Sequence[Chart], *, title: str) -> str:
    lines = [f"# {title}", "", INTRO, "", "## Results", ""]
    heads = [h for h, _ in COLUMNS]
    lines.append("| " + " | ".join(heads) + " |")
    lines.append("|" + "|".join("---" if i < 4 or h == "state" else "---:" for i, h in enumerate(heads)) + "|")
    for r in table_rows(entries):
        lines.append("| " + " | ".join(_md_cell(c) for c in r) + " |")
    lines.append("")
    for c in charts:
        lines += [f"## {c.title}", ""]
        if c.png is not None:
            lines.append(f"![{c.title}]({c.name}.png)")
            if c.note:
                lines += ["", f"_{c.note}_"]
        else:
            lines.append(f"_{c.note}_")
        lines.append("")
    notes = _notes(entries)
    if notes:
        lines += ["## Rows that are not ok", ""] + [f"- {_md_cell(n)}" for n in notes] + [""]
    lines += ["## Machine and runs", ""]
    for run in runs:
        lines += [f"- **{_md_cell(k)}**: {_md_cell(v)}" for k, v in _run_facts(run)] + [""]
    return "\n".join(lines)


def _intro_html() -> str:
    return re.sub(r"[*](.+?)[*]", r"<em>\1</em>", html.escape(INTRO)).replace("`", "")


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
th,td{border:1px solid #ccc;padding:4px 7px;text-align:right;white-space:nowrap}
th{background:#f2f2f2}
td.l,th.l{text-align:left}
tr.bad td{background:#fff3f3}
img{max-width:100%;border:1px solid #eee}
.note{color:#666;font-style:italic}
code{background:#f5f5f5;padding:1px 3px}
"""


def render_html(entries: Sequence[dict[str, Any]], runs: Sequence[dict[str, Any]], charts: Sequence[Chart], *, title: str) -> str:
    esc = html.escape
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{esc(title)}</h1>", f"<p>{_intro_html()}</p>", "<h2>Results</h2><table><tr>"]
    for i, (h, _) in enumerate(COLUMNS):
        out.append(f"<th{' class=l' if i < 4 or h == 'state' else ''}>{esc(h)}</th>")
    out.append("</tr>")
    for e, r in zip(entries, table_rows(entries)):
        cls = "" if e["state"] == "ok" else " class='bad'"
        cells = []
        for i, c in enumerate(r):
            head = COLUMNS[i][0]
            attrs = " class='l'" if i < 4 or head == "state" else ""
            if head == "state":
                attrs += f" title='{esc(str(e['state']))}'"  # the full reason on hover
            cells.append(f"<td{attrs}>{esc(c)}</td>")
        out.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    out.append("</table>")
    for c in charts:
        out.append(f"<h2>{esc(c.title)}</h2>")
        if c.png is not None:
            b64 = base64.b64encode(c.png).decode("ascii")
            out.append(f"<img alt='{esc(c.title)}' src='data:image/png;base64,{b64}'>")
        if c.note:
            out.append(f"<p class='note'>{esc(c.note)}</p>")
    notes = _notes(entries)
    if notes:
        out.append("<h2>Rows that are not ok</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    out.append("<h2>Machine and runs</h2>")
    for run in runs:
        out.append("<ul>" + "".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in _run_facts(run)) + "</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(
    results: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    runs: str = "latest",
    title: str = "edgeseg benchmark report",
) -> dict[str, Path]:
    """Write ``REPORT.md``, ``report.html`` and one PNG per chart into ``out_dir`` (created when absent).

    ``runs``: "latest" (default: the newest run of each results file) or "all". Returns the paths written."""
    entries, chosen = load_entries(results, runs=runs)
    out = ensure_writable_dir(out_dir, create=True)
    charts = make_charts(entries)
    written: dict[str, Path] = {}
    for c in charts:
        png = out / f"{c.name}.png"
        if c.png is not None:
            written[c.name] = atomic_write_bytes(png, c.png)
        elif png.is_file():
            png.unlink()  # an earlier report's chart must not sit beside a report that lacks it
    written["markdown"] = atomic_write_text(out / "REPORT.md", render_markdown(entries, chosen, charts, title=title) + "\n")
    written["html"] = atomic_write_text(out / "report.html", render_html(entries, chosen, charts, title=title))
    return written
