"""Results JSON -> REPORT.md (with PNG charts beside it) and a self-contained report.html, the
recommendation first."""

from __future__ import annotations

import base64
import html
import os
import re
from pathlib import Path
from typing import Any, Sequence

from edgeseg._io import atomic_set
from edgeseg.report.charts import Chart, make_charts
from edgeseg.report.data import load_entries
from edgeseg.report.entry import ReportEntry
from edgeseg.report.recommend import DEFAULT_MAX_DROP, Recommendation, recommend, recommendation_line
from edgeseg.report.roofline_gap import TITLE as GAP_TITLE
from edgeseg.report.roofline_gap import gap_lines
from edgeseg.report.table import columns, model_facts, table_rows


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _short(x: Any) -> str:
    """A GPU / Jetson record or a plain value as one short string."""
    if isinstance(x, dict):
        name = x.get("name") or x.get("model") or ""
        rest = ", ".join(
            f"{k} {v}"
            for k, v in x.items()
            if k not in ("name", "model") and isinstance(v, (str, int, float))
        )
        return f"{name} ({rest})" if name and rest else (name or rest)
    return str(x)


def _stream_text(peak: dict[str, Any]) -> str:
    """', 14.2 GB/s STREAM (copy 12.9, triad 14.2; 128 MiB arrays)' or '' for peaks measured before the
    probe."""
    st = peak.get("stream") or {}
    if not peak.get("stream_gbs"):
        return ""
    parts = [
        f"{k} {st[k + '_gbs']:.1f}" for k in ("copy", "triad") if isinstance(st.get(k + "_gbs"), (int, float))
    ]
    return (
        f", {peak['stream_gbs']:.1f} GB/s STREAM ({', '.join(parts)}; {st.get('array_mb', '?')} MiB arrays)"
    )


def _run_facts(run: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) lines describing a run's machine, peak and libraries."""
    facts = [("run", f"{run.get('id')} ({run.get('source')})"), ("started", str(run.get("started")))]
    m = run.get("matrix") or {}
    if m.get("data"):
        facts.append(
            ("dataset", f"{m['data']}" + (f", first {m['max_frames']} frames" if m.get("max_frames") else ""))
        )
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
        facts.append(
            (
                "measured peak",
                f"{peak['matmul_gflops']:.1f} GFLOP/s float32 matmul"
                f"{f' (best of {libs_txt})' if libs_txt else ''}, {peak['bandwidth_gbs']:.1f} GB/s copy"
                f"{_stream_text(peak)} ({peak.get('threads') or '?'} threads)",
            )
        )
    else:
        facts.append(("measured peak", str(peak.get("state", "not measured"))))
    if run.get("note"):
        facts.append(("note", str(run["note"])))
    if run.get("skipped_files"):
        facts.append(("files skipped (not edgeseg bench results)", ", ".join(run["skipped_files"])))
    libs = run.get("libraries") or {}
    if libs:
        facts.append(("libraries", ", ".join(f"{k} {v}" for k, v in libs.items() if v)))
    return facts


def _notes(entries: Sequence[ReportEntry]) -> list[str]:
    return [f"{e.label} ({e.id_label}): {e.state}" for e in entries if e.state != "ok"]


def _not_paths(entries: Sequence[ReportEntry]) -> list[str]:
    return [f"{e.label}: {e.path_note}" for e in entries if not e.deployable and e.ok]


INTRO = (
    "Each row ran in its own process: latency is the wall time of `runner.infer` on a preprocessed batch "
    "(host arrays in and out) after warm-up; memory is that process's resident memory, not its parent's. "
    "MB = 2^20 bytes."
)

ASK = (
    "Ask another question: `edgeseg report RESULTS --max-drop POINTS` (accuracy allowed to go), "
    "`--latency-budget MS`, `--memory-budget MB`."
)


def _answer(rec: Recommendation, entries: Sequence[ReportEntry] = ()) -> list[str]:
    """The recommendation block: the line, the question it answers, a caution when a model of
    ``entries`` trained on val, the build commands (plain text lines)."""
    from edgeseg.report.split_points import val_caution

    out = [recommendation_line(rec)]
    if rec.entry is None:  # the line already says what was asked and why nothing qualifies
        return out
    out += ["", f"Chosen as {rec.question}."]
    caution = val_caution(entries, reference=rec.reference)
    if caution:
        out += ["", caution]
    if rec.commands:
        where = (
            " (in the benchmark matrix's folder)"
            if rec.workdir in (None, ".", "")
            else f" (in {rec.workdir})"
        )
        out += ["", f"Build it{where}:", ""] + [f"    {c}" for c in rec.commands]
    else:
        out += [
            "",
            "Build commands: not recorded (these rows were benchmarked from ready artifacts; "
            "a matrix row's `make` steps are recorded and shown here).",
        ]
    return out


def render_markdown(
    entries: Sequence[ReportEntry],
    runs: Sequence[dict[str, Any]],
    charts: Sequence[Chart],
    *,
    title: str,
    rec: Recommendation,
) -> str:
    lines = [f"# {title}", ""] + _answer(rec, entries) + ["", ASK, "", "## Results", "", INTRO, ""]
    facts = model_facts(entries)
    if facts:
        lines += [facts, ""]
    cols = columns(entries)
    lines.append("| " + " | ".join(c.head for c in cols) + " |")
    lines.append("|" + "|".join("---" if c.left else "---:" for c in cols) + "|")
    for r in table_rows(entries, rec):
        lines.append("| " + " | ".join(_md_cell(c) for c in r) + " |")
    lines += ["", "Columns:", ""] + [f"- **{c.head}**: {c.explain}." for c in cols] + [""]
    not_paths = _not_paths(entries)
    if not_paths:
        lines += (
            ["## Rows that are not a deployment path on this machine", ""]
            + [f"- {_md_cell(n)}" for n in not_paths]
            + [""]
        )
    for c in charts:
        lines += [f"## {c.title}", ""]
        if c.png is not None:
            lines.append(f"![{c.title}]({c.name}.png)")
            if c.note:
                lines += ["", f"_{c.note}_"]
        else:
            lines.append(f"_{c.note}_")
        lines.append("")
    gaps = gap_lines(entries)
    if gaps:
        lines += [f"## {GAP_TITLE}", ""] + [f"- {_md_cell(g)}" for g in gaps] + [""]
    notes = _notes(entries)
    if notes:
        lines += ["## Rows that are not ok", ""] + [f"- {_md_cell(n)}" for n in notes] + [""]
    lines += ["## Machine and runs", ""]
    for run in runs:
        lines += [f"- **{_md_cell(k)}**: {_md_cell(v)}" for k, v in _run_facts(run)] + [""]
    return "\n".join(lines)


def _inline(text: str) -> str:
    """Markdown emphasis and code of our own sentences as HTML (text escaped first)."""
    t = html.escape(text)
    t = re.sub(r"[*][*](.+?)[*][*]", r"<strong>\1</strong>", t)
    t = re.sub(r"`(.+?)`", r"<code>\1</code>", t)
    return re.sub(r"[*](.+?)[*]", r"<em>\1</em>", t)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
  color:#222;padding:0 1em}
.answer{background:#eef6ee;border:1px solid #9c9;border-radius:6px;padding:.6em 1em;margin:1em 0}
.answer pre{background:#fff;border:1px solid #ddd;padding:.5em;overflow-x:auto;white-space:pre-wrap;
  word-break:break-all;font-size:12px}
.tablebox{max-width:100%;overflow-x:auto;border:1px solid #ddd;margin:1em 0}
table{border-collapse:collapse;font-size:12px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right;white-space:nowrap;vertical-align:top}
th{background:#f2f2f2;white-space:normal;min-width:4em}
td.l,th.l{text-align:left}
td.l{white-space:normal;min-width:7em;max-width:22em;overflow-wrap:anywhere}
td.l:first-child{min-width:13em}
tr.bad td{background:#fff3f3}
tr.sim td{color:#666;background:#fafafa}
tr.pick td{background:#eef6ee;font-weight:600}
img{max-width:100%;border:1px solid #eee}
.note{color:#666;font-style:italic}
code{background:#f5f5f5;padding:1px 3px}
li{overflow-wrap:anywhere}
"""


def render_html(
    entries: Sequence[ReportEntry],
    runs: Sequence[dict[str, Any]],
    charts: Sequence[Chart],
    *,
    title: str,
    rec: Recommendation,
) -> str:
    esc = html.escape
    out = [
        "<!DOCTYPE html><html><head><meta "
        f"charset='utf-8'><title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        "<div class='answer'>",
    ]
    block = _answer(rec, entries)
    cmds = [b.strip() for b in block if b.startswith("    ")]
    for b in block:
        if b and not b.startswith("    "):
            out.append(f"<p>{_inline(b)}</p>")
    if cmds:
        out.append("<pre>" + esc("\n".join(cmds)) + "</pre>")
    out += ["</div>", f"<p>{_inline(ASK)}</p>", "<h2>Results</h2>", f"<p>{_inline(INTRO)}</p>"]
    facts = model_facts(entries)
    if facts:
        out.append(f"<p>{esc(facts)}</p>")
    cols = columns(entries)
    out.append(
        "<div class='tablebox'><table><tr>"
        + "".join(f"<th{' class=l' if c.left else ''}>{esc(c.head)}</th>" for c in cols)
        + "</tr>"
    )
    for e, r in zip(entries, table_rows(entries, rec)):
        cls = "pick" if e is rec.entry else "bad" if not e.ok else "sim" if not e.deployable else ""
        cells = "".join(f"<td{' class=l' if c.left else ''}>{esc(v)}</td>" for c, v in zip(cols, r))
        out.append(f"<tr{f' class={cls}' if cls else ''}>{cells}</tr>")
    out.append("</table></div>")
    out.append(
        "<p>Columns:</p><ul>"
        + "".join(f"<li><b>{esc(c.head)}</b>: {esc(c.explain)}.</li>" for c in cols)
        + "</ul>"
    )
    not_paths = _not_paths(entries)
    if not_paths:
        out.append(
            "<h2>Rows that are not a deployment path on this machine</h2><ul>"
            + "".join(f"<li>{esc(n)}</li>" for n in not_paths)
            + "</ul>"
        )
    for c in charts:
        out.append(f"<h2>{esc(c.title)}</h2>")
        if c.png is not None:
            b64 = base64.b64encode(c.png).decode("ascii")
            out.append(f"<img alt='{esc(c.title)}' src='data:image/png;base64,{b64}'>")
        if c.note:
            out.append(f"<p class='note'>{esc(c.note)}</p>")
    gaps = gap_lines(entries)
    if gaps:
        out.append(f"<h2>{esc(GAP_TITLE)}</h2><ul>" + "".join(f"<li>{esc(g)}</li>" for g in gaps) + "</ul>")
    notes = _notes(entries)
    if notes:
        out.append(
            "<h2>Rows that are not ok</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"
        )
    out.append("<h2>Machine and runs</h2>")
    for run in runs:
        out.append(
            "<ul>" + "".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in _run_facts(run)) + "</ul>"
        )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(
    results: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    runs: str = "latest",
    title: str = "edgeseg benchmark report",
    max_drop: float = DEFAULT_MAX_DROP,
    latency_budget_ms: float | None = None,
    memory_budget_mb: float | None = None,
) -> dict[str, Path]:
    """Write ``REPORT.md``, ``report.html`` and one PNG per chart into ``out_dir`` (created when absent).

    ``runs``: "latest" (default: the newest run of each results file) or "all". The recommendation answers
    ``recommend(max_drop=0.5, latency_budget_ms=None, memory_budget_mb=None)``. Returns the paths
    written."""
    entries, chosen = load_entries(results, runs=runs)
    rec = recommend(
        entries, max_drop=max_drop, latency_budget_ms=latency_budget_ms, memory_budget_mb=memory_budget_mb
    )
    out = Path(out_dir)
    charts = make_charts(entries, rec=rec)
    markdown = render_markdown(entries, chosen, charts, title=title, rec=rec) + "\n"
    page = render_html(entries, chosen, charts, title=title, rec=rec)
    written: dict[str, Path] = {}
    with atomic_set(out) as stage:  # all files or none: a failure leaves the folder as it was
        for c in charts:
            if c.png is not None:
                (stage / f"{c.name}.png").write_bytes(c.png)
                written[c.name] = out / f"{c.name}.png"
        (stage / "REPORT.md").write_text(markdown, encoding="utf-8")
        (stage / "report.html").write_text(page, encoding="utf-8")
    for c in charts:
        if c.png is None and (out / f"{c.name}.png").is_file():
            (
                out / f"{c.name}.png"
            ).unlink()  # an earlier report's chart must not sit beside a report that lacks it
    written["markdown"], written["html"] = out / "REPORT.md", out / "report.html"
    return written
