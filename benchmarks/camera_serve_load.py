#!/usr/bin/env python
"""Does ``--serve`` slow the camera loop down? Loop FPS with 0, 1, 10 and 50 MJPEG viewers and
with one viewer that never reads, on loopback, bounded in time.

    python benchmarks/camera_serve_load.py [--frames 90] [--size 240x320] [--levels 0,1,10,50]
        [--repeats 3] [--out benchmarks/results/camera_serve_load.json] [--check]

Writes a synthetic clip (``--frames`` SyntheticScenes street scenes, mp4v) and a small CGNet
(m=2, n=3, random weights, input 120x160) into a temp folder. For every level, in turn and
``--repeats`` times (levels alternate, so load drift on a shared machine hits all of them), the
camera loop (headless, every frame of the clip, torch FP32 on ``--threads``) runs with
``--serve 127.0.0.1:0``; the viewers are a separate process (``selectors``, one socket per viewer,
counting multipart boundaries), connected before the first frame is let through. Reported:

- the loop's FPS (rendered frames over the time from the first to the last render) per level, and
  its ratio to no viewers (medians over repeats; target: 50 viewers >= 0.9x none);
- each viewer's received FPS (min / median / max over viewers);
- for the never-reading viewer: whether the server dropped it (send timeout 1 s, 256 KiB buffer);
- the process's CPU time per rendered frame (loop and server threads together): what serving
  costs, in a unit that neighbours' load on a shared machine moves much less than FPS.

``--check`` exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET = 0.9
BOUNDARY = b"--edgesegframe\r\n"


# -- the viewers' process ----------------------------------------------------------------------
def viewers(port: int, n: int, stuck: int, seconds: float) -> None:
    """Open ``n`` reading and ``stuck`` never-reading MJPEG clients; print per-client counts as JSON."""
    sel = selectors.DefaultSelector()
    request = b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    keep = []
    for _ in range(stuck):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", port))
        s.sendall(request)
        keep.append(s)
    clients = []
    for _ in range(n):
        s = socket.socket()
        s.connect(("127.0.0.1", port))
        s.sendall(request)
        s.setblocking(False)
        c = {"parts": 0, "first": None, "last": None, "tail": b"", "bytes": 0}
        clients.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    print("connected", flush=True)
    open_ = n
    deadline = time.monotonic() + seconds
    while open_ and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            c = key.data
            try:
                data = key.fileobj.recv(1 << 20)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()
                open_ -= 1
                continue
            buf = c["tail"] + data
            k = buf.count(BOUNDARY)
            if k:
                now = time.monotonic()
                c["first"] = c["first"] or now
                c["last"] = now
                c["parts"] += k
            c["tail"] = buf[-(len(BOUNDARY) - 1) :]
            c["bytes"] += len(data)
    fps = [
        (c["parts"] - 1) / (c["last"] - c["first"]) if c["parts"] > 1 and c["last"] > c["first"] else 0.0
        for c in clients
    ]
    print(
        json.dumps(
            {"fps": fps, "parts": [c["parts"] for c in clients], "bytes": [c["bytes"] for c in clients]}
        ),
        flush=True,
    )
    for s in keep:
        s.close()


# -- the loop's side ---------------------------------------------------------------------------
def make_inputs(folder: Path, frames: int, size: tuple[int, int]) -> tuple[Path, Path]:
    import cv2
    import torch

    from edgeseg.card import ModelCard
    from edgeseg.data.datasets import CAMVID
    from edgeseg.data.synthetic import SyntheticScenes
    from edgeseg.models import build_model
    from edgeseg.train.checkpoint import save_checkpoint

    clip = folder / "clip.mp4"
    scenes = SyntheticScenes(num_images=frames, size=size, seed=0)
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (size[1], size[0]))
    if not writer.isOpened():
        raise SystemExit("this OpenCV cannot write mp4v .mp4 files")
    for i in range(frames):
        writer.write(scenes[i][0])
    writer.release()
    torch.manual_seed(0)
    card = ModelCard(
        arch="cgnet",
        arch_args={"m": 2, "n": 3},
        num_classes=11,
        class_names=CAMVID.class_names,
        palette=CAMVID.palette,
        ignore_index=CAMVID.ignore_index,
        input_size=(120, 160),
    )
    ckpt = save_checkpoint(
        folder / "small_cgnet.pt", model=build_model("cgnet", num_classes=11, m=2, n=3).eval(), card=card
    )
    return clip, ckpt


def run_level(runner, clip: Path, n: int, stuck: int) -> dict:
    from edgeseg.camera.pipeline import CameraLoop, CameraOptions
    from edgeseg.camera.publish import ServeOptions

    serve = ServeOptions(port=0, max_clients=max(64, n + stuck), send_timeout=1.0)
    renders: list[float] = []
    loop_ref: list = []
    want = n + stuck

    def on_render(frame, labels, canvas):
        if not renders:  # hold the first frame until every viewer is connected (max 20 s)
            end = time.monotonic() + 20
            while loop_ref[0].publisher.server.streams < want and time.monotonic() < end:
                time.sleep(0.01)
        renders.append(time.perf_counter())

    loop = CameraLoop(
        runner,
        str(clip),
        CameraOptions(headless=True, serve=serve),
        on_render=on_render,
        handle_signals=False,
        log=lambda m: None,
    )
    loop_ref.append(loop)
    proc = None
    if want:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--_viewers", str(loop.publisher.server.port), str(n), str(stuck)],
            stdout=subprocess.PIPE,
            text=True,
        )
    result: dict = {}
    cpu0 = time.process_time()
    t = threading.Thread(target=lambda: result.update(stats=loop.run()), daemon=True)
    t.start()
    t.join(300)
    cpu = time.process_time() - cpu0
    out = {"viewers": n, "stuck": stuck}
    stats = result["stats"]
    span = renders[-1] - renders[1] if len(renders) > 2 else 0.0
    out["loop_fps"] = (
        round((len(renders) - 2) / span, 3) if span > 0 else 0.0
    )  # from the first frame after the gate
    out["rendered"] = stats.rendered
    out["process_cpu_ms_per_frame"] = round(
        cpu * 1000.0 / max(stats.rendered, 1), 3
    )  # loop + server threads, all cores
    out["jpegs_encoded"] = loop.publisher.hub.encoded
    out["server"] = loop.publisher.server.counters()
    if proc is not None:
        lines = proc.communicate(timeout=60)[0].strip().splitlines()
        got = json.loads(lines[-1])
        fps = got["fps"]
        if fps:
            out["viewer_fps"] = {
                "min": round(min(fps), 3),
                "median": round(statistics.median(fps), 3),
                "max": round(max(fps), 3),
            }
            out["viewer_parts_median"] = statistics.median(got["parts"])
        if stuck:
            out["stuck_dropped"] = loop.publisher.server.dropped >= stuck
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--size", default="240x320", help="clip frame size HxW (default 240x320)")
    ap.add_argument("--levels", default="0,1,10,50", help="numbers of reading viewers (default 0,1,10,50)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "camera_serve_load.json"))
    ap.add_argument(
        "--check", action="store_true", help="exit 1 when 50 viewers leave < 0.9x of the loop FPS"
    )
    ap.add_argument("--_viewers", nargs=3, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._viewers:
        viewers(args._viewers[0], args._viewers[1], args._viewers[2], seconds=120.0)
        return 0
    h, w = (int(v) for v in args.size.lower().split("x"))
    levels = [("viewers", int(v), 0) for v in args.levels.split(",")] + [("stuck", 0, 1)]
    from edgeseg.backends import open_runner

    runs: dict[str, list[dict]] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        clip, ckpt = make_inputs(Path(tmp), args.frames, (h, w))
        with open_runner(ckpt, threads=args.threads) as runner:
            run_level(runner, clip, 0, 0)  # warm-up, not recorded
            for rep in range(args.repeats):
                for kind, n, stuck in levels:
                    name = f"{n} viewers" if kind == "viewers" else "1 never-reading viewer"
                    r = run_level(runner, clip, n, stuck)
                    runs.setdefault(name, []).append(r)
                    print(
                        f"[{rep + 1}/{args.repeats}] {name:>24}: loop {r['loop_fps']:6.1f} fps"
                        + (
                            f", viewers {r['viewer_fps']['min']:.1f}..{r['viewer_fps']['max']:.1f} fps"
                            if "viewer_fps" in r
                            else ""
                        )
                        + (f", dropped: {r['stuck_dropped']}" if "stuck_dropped" in r else ""),
                        flush=True,
                    )
    base = statistics.median(r["loop_fps"] for r in runs["0 viewers"])
    summary = {}
    for name, rs in runs.items():
        med = statistics.median(r["loop_fps"] for r in rs)
        summary[name] = {
            "loop_fps_median": round(med, 3),
            "ratio_to_none": round(med / base, 4) if base else None,
            "process_cpu_ms_per_frame_median": round(
                statistics.median(r["process_cpu_ms_per_frame"] for r in rs), 3
            ),
        }
        vf = [r["viewer_fps"]["median"] for r in rs if "viewer_fps" in r]
        if vf:
            summary[name]["viewer_fps_median"] = round(statistics.median(vf), 3)
            summary[name]["viewer_fps_min"] = min(r["viewer_fps"]["min"] for r in rs if "viewer_fps" in r)
        if any("stuck_dropped" in r for r in rs):
            summary[name]["stuck_dropped_every_run"] = all(r.get("stuck_dropped") for r in rs)
    top = f"{max(int(v) for v in args.levels.split(','))} viewers"
    ratio = summary[top]["ratio_to_none"]
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
            if ln.startswith("Model name")
        ),
        platform.processor(),
    )
    import cv2

    doc = {
        "benchmark": "camera_serve_load",
        "command": " ".join(["python benchmarks/camera_serve_load.py", *sys.argv[1:]]),
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "model": "random-init CGNet m=2 n=3, input 120x160, torch FP32",
        "threads": args.threads,
        "clip": {"frames": args.frames, "size": [h, w], "codec": "mp4v"},
        "serve": {"send_timeout_s": 1.0, "jpeg_quality": 80, "host": "127.0.0.1"},
        "repeats": args.repeats,
        "target": f"loop FPS with {top} >= {TARGET}x of none",
        "ratio": ratio,
        "meets_target": bool(ratio is not None and ratio >= TARGET),
        "summary": summary,
        "runs": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(
        f"loop FPS: none {base:.1f}, {top} {summary[top]['loop_fps_median']:.1f} -> ratio {ratio} "
        f"(target >= {TARGET}); "
        f"wrote {args.out}"
    )
    return 1 if args.check and not doc["meets_target"] else 0


if __name__ == "__main__":
    sys.exit(main())
