#!/usr/bin/env python
"""ONNX Runtime's spinning threads in the camera loop: ``edgeseg camera --no-spin`` against the default,
side by side in one run.

    python benchmarks/camera_spin.py [--model edgeseg/weights/cgnet_camvid_qat_int8.onnx] [--frames 150]
        [--threads 2] [--repeats 4] [--out benchmarks/results/camera_spin.json]

ONNX Runtime's intra-op threads busy-wait after each call for the next one (``session.intra_op.
allow_spinning``, on by default). Alone, that shaves a wake-up off each call; in the camera loop the
spinning threads compete with capture (decoding), preprocessing and drawing for the same cores. Two
runners of the same ONNX file (``spin=True``, ``spin=False``) take turns, ``--repeats`` times, in the
order of ``camera_throughput.py`` (pure inference, then the headless camera loop over a synthetic clip,
alternating which goes first), on the same frames. Reported per variant: median pure-inference FPS,
camera-loop FPS, and the CPU ms the process spends per frame in the loop (all threads: what spinning
costs). Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from camera_throughput import camera_loop, make_clip, pure_inference  # noqa: E402

DEFAULT = ROOT / "edgeseg" / "weights" / "cgnet_camvid_qat_int8.onnx"


def _loop_cpu(runner, clip: Path, size: tuple[int, int], frames: int) -> dict:
    """``camera_loop`` plus the process CPU ms per frame (every thread: spinning included)."""
    c0 = time.process_time()
    res = camera_loop(runner, clip, size)
    res["process_cpu_ms_per_frame"] = round(1000 * (time.process_time() - c0) / frames, 2)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT), help="an ONNX file (default: the shipped CGNet QAT)")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "camera_spin.json"))
    args = ap.parse_args(argv)

    from edgeseg._env import machine_info
    from edgeseg._io import atomic_write_json, check_output_path
    from edgeseg.backends.onnxruntime.runner import OrtRunner
    from edgeseg.data.preprocess import preprocess

    if args.out != "-":
        check_output_path(args.out)
    variants = {"spin": True, "no-spin": False}
    res: dict[str, dict[str, list]] = {k: {"pure": [], "loop": []} for k in variants}
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="edgeseg_camera_spin_") as tmp:
        clip = Path(tmp) / "clip.mp4"
        runners = {k: OrtRunner(args.model, threads=args.threads, spin=v) for k, v in variants.items()}
        size = tuple(next(iter(runners.values())).input_size or (360, 480))
        frames = make_clip(clip, args.frames, size)
        for r in runners.values():
            for f in frames[:3]:
                r.infer(preprocess(f, r.card, size=size))
        for rep in range(args.repeats):
            order = list(variants) if rep % 2 == 0 else list(reversed(variants))
            for k in order:
                res[k]["pure"].append(pure_inference(runners[k], frames, size))
                res[k]["loop"].append(_loop_cpu(runners[k], clip, size, args.frames))
                print(
                    f"repeat {rep + 1}/{args.repeats} {k}: pure {res[k]['pure'][-1]['fps']:.2f} fps, "
                    f"loop {res[k]['loop'][-1]['fps']:.2f} fps, "
                    f"{res[k]['loop'][-1]['process_cpu_ms_per_frame']:.1f} CPU ms/frame",
                    flush=True,
                )
        for r in runners.values():
            r.close()
    summary = {
        k: {
            "pure_inference_fps": round(statistics.median(p["fps"] for p in v["pure"]), 3),
            "camera_loop_fps": round(statistics.median(p["fps"] for p in v["loop"]), 3),
            "loop_process_cpu_ms_per_frame": round(
                statistics.median(p["process_cpu_ms_per_frame"] for p in v["loop"]), 2
            ),
        }
        for k, v in res.items()
    }
    result = {
        "benchmark": "camera_spin",
        "command": " ".join(["python", "benchmarks/camera_spin.py", *(argv or sys.argv[1:])]),
        "model": os.path.relpath(args.model, ROOT),
        "threads": args.threads,
        "frames": args.frames,
        "size": list(size),
        "repeats": args.repeats,
        "summary": summary,
        "loop_fps_ratio_no_spin_over_spin": round(
            summary["no-spin"]["camera_loop_fps"] / summary["spin"]["camera_loop_fps"], 3
        ),
        "runs": res,
        "machine": {**machine_info(), "loadavg_start": [round(x, 2) for x in load_start]},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(summary, f"loop FPS no-spin / spin: {result['loop_fps_ratio_no_spin_over_spin']}")
    if args.out != "-":
        atomic_write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
