"""The live page served at ``/``: the MJPEG stream and the numbers, refreshed from ``/stats.json``.

One static HTML string with a little JavaScript, no external assets (works on a robot with no
internet). The page reads its token from its own URL (``?token=``) and passes it on.
"""

from __future__ import annotations

import html

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgeseg camera: __TITLE__</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:0;background:#111;color:#eee;display:flex}
#view{flex:1 1 0;min-width:0;padding:8px}
#view img{width:100%;max-height:96vh;object-fit:contain;background:#000}
#side{flex:0 0 280px;padding:8px;overflow:auto;max-height:100vh}
@media (max-width:700px){body{flex-direction:column} #side{flex:none;max-height:none}}
table{border-collapse:collapse;width:100%} td{padding:2px 4px}
td.v{text-align:right;font-variant-numeric:tabular-nums} h2{font-size:15px;margin:12px 0 4px}
.bar{height:12px;display:inline-block;vertical-align:middle} .row{white-space:nowrap;font-size:12px}
#state{color:#fc6}
</style></head><body>
<div id="view"><img id="stream" alt="camera stream"></div>
<div id="side">
<h2>edgeseg camera <span id="state"></span></h2>
<table id="card"></table>
<h2>loop</h2><table id="loop"></table>
<h2>sources</h2><table id="sources"></table>
<h2>class area</h2><div id="areas"></div>
</div>
<script>
const q = new URLSearchParams(location.search); const tok = q.get("token");
const withTok = (p) => tok ? p + (p.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(tok) : p;
document.getElementById("stream").src = withTok("stream.mjpg");
const fmt = (v, d=1) => (v === null || v === undefined) ? "n/a" : Number(v).toFixed(d);
function rows(id, pairs){ document.getElementById(id).innerHTML = pairs.map(
  ([k, v]) => `<tr><td>${k}</td><td class="v">${v}</td></tr>`).join(""); }
let palette = [];
async function tick(){
  try {
    const r = await fetch(withTok("stats.json"), {cache: "no-store"});
    if (!r.ok) { document.getElementById("state").textContent = "(" + r.status + ")"; return; }
    const s = await r.json(); const m = s.model, l = s.loop;
    palette = m.palette;
    document.getElementById("state").textContent = s.running ? "" : "(stopped)";
    rows("card", [["model", m.name], ["backend", m.backend], ["precision", m.precision],
                  ["input", m.input_size.join("x")], ["classes", m.class_names.length]]);
    rows("loop", [["FPS", fmt(l.fps)],
                  ["end-to-end p50 / p99 ms", fmt(l.e2e_ms.p50) + " / " + fmt(l.e2e_ms.p99)],
                  ["inference p50 / p99 ms", fmt(l.infer_ms.p50) + " / " + fmt(l.infer_ms.p99)],
                  ["frames", l.rendered], ["dropped", l.dropped],
                  ["clients", s.server.streams + " / " + s.server.max_clients]]);
    rows("sources", s.sources.map((x, i) => [i + ": " + x.source,
         fmt(x.fps) + " fps, drop " + x.dropped]));
    const f = s.frame;
    if (f && f.areas) {
      document.getElementById("areas").innerHTML = m.class_names.map((n, i) => {
        const a = f.areas[n] || 0, c = palette[i] || [128,128,128];
        const style = `width:${Math.round(a*200)}px;background:rgb(${c.join(",")})`;
        const bar = `<span class="bar" style="${style}"></span>`;
        return `<div class="row">${bar} ${n} ${(a*100).toFixed(1)} %</div>`;
      }).join("");
    }
  } catch (e) { document.getElementById("state").textContent = "(offline)"; }
}
tick(); setInterval(tick, 1000);
</script></body></html>
"""


def render_page(*, title: str) -> str:
    """The page with ``title`` (the model's name) escaped into it."""
    return PAGE.replace("__TITLE__", html.escape(title))
