#!/usr/bin/env python
"""CGNet INT8 on the CPU, side by side in one process (issue 31): latency (median, IQR) interleaved over
rounds, and val mIoU, of every variant below. Run it ALONE on the machine (no training beside it).

    # the QAT checkpoint, with the committed file's recipe (its card's command), ~6 min on 2 cores
    edgeseg quantize edgeseg/weights/cgnet_camvid.pt --method qat \\
        --data camvid:/work/shared/datasets/camvid \\
        --calib-method mse --calib-num 100 --size 360x480 --epochs 1 --lr 1e-4 \\
        --save-checkpoint benchmarks/build/cgnet_qat.pt -o benchmarks/build/cgnet_qat_int8.onnx --no-progress
    python benchmarks/cgnet_int8_cpu.py --data camvid:/work/shared/datasets/camvid \\
        --qat-checkpoint benchmarks/build/cgnet_qat.pt --threads 2 --rounds 5 --runs 30 < /dev/null

Variants (ids as printed; groups in brackets, ``--groups`` picks them):

- ``fp32 ov`` [fp32]: the FP32 checkpoint's export, OpenVINO FP32 (the mIoU reference);
- ``committed qat ov`` [committed]: ``--committed`` (default the shipped QAT Q/DQ ONNX, TensorRT placement)
  built with ``edgeseg build --backend openvino --int8 --threads N``: today's path;
- ``trt-pl ov`` [cpu]: ``--qat-checkpoint`` exported with TensorRT's placement (the committed file's recipe);
- ``cpu-pl ov <head>`` [cpu, heads]: the same checkpoint placed for the CPU (``quantize --target cpu``)
  as trained (no deploy form), logits / labels / labels-lowres; ``... bf16`` [bf16]: built with
  ``--bf16-float``;
- ``cpu-pl deploy ov logits`` [cpu]: placed for the CPU in CGNet's deploy form (joint PReLU moved into
  each branch, ``edgeseg.quant.deploy_fakequant``: what ``quantize --target cpu`` now writes; the build
  leaves its PRelus as exported, so OpenVINO fuses each into its int8 conv);
- ``trt-pl ort logits`` / ``cpu-pl ort logits`` / ``cpu-pl deploy ort logits`` [ort]: each placement's
  Q/DQ ONNX run by ONNX Runtime (CPU EP);
- ``executorch int8`` [executorch]: ``edgeseg build --backend executorch --int8`` of the QAT checkpoint
  (PT2E/XNNPACK: ExecuTorch quantizes with its own placement, it cannot take a Q/DQ ONNX);
- ``nncf default ov`` [nncf]: ``nncf.quantize`` (defaults) on the FP32 export with ``--nncf-frames`` (300)
  train frames, OpenVINO f32 pinned; ``nncf default ov bf16`` [bf16]: the same with bf16 float parts;
- ``dsv3+ committed qat ov`` [dsv3p]: DeepLab v3+'s shipped QAT Q/DQ ONNX, OpenVINO INT8 (its best
  INT8 CPU path in the zoo run).

Without ``--qat-checkpoint`` the cpu/trt rows come from a PTQ (mse, no bias correction) of ``--checkpoint``
on ``--calib-num`` train frames, and say so ("ptq"). Latency: one preprocessed val frame; each round
runs every variant ``--runs`` times (after ``--warmup`` calls) in a rotated order; median and IQR over
all timed calls. OpenVINO rows also get their kernel-time shares by precision (int8 / f32 / bf16:
the float share left; ``--profile-runs``). mIoU: ``--frames`` val frames (default all 101) at the card's
size. Results are appended
to ``--out`` (default benchmarks/results/cgnet_int8_cpu.json). Smoke run:
``--groups committed,cpu --rounds 1 --runs 3 --frames 2 --calib-num 4 --out -``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the timing helpers beside this script
from _cpu_timing import Compiled, Feed, kernel_shares, pin, stats, time_interleaved  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "edgeseg/weights"
GROUPS = ("fp32", "committed", "cpu", "heads", "bf16", "ort", "executorch", "nncf", "dsv3p")
HEADS = ("logits", "labels", "labels-lowres")


def _quiet(_: str) -> None:
    pass


def make_variants(
    args, tmp: Path, log: Callable[[str], None], refused: dict[str, str] | None = None
) -> dict[str, tuple[Any, dict]]:
    """{id: (runner, facts)} for the chosen groups, every artifact built into ``tmp``; an OpenVINO build
    that ``edgeseg build`` refuses (e.g. its parity check: bf16 changes too many labels) goes into
    ``refused`` ({id: the one-line reason}) and the run goes on without it."""
    from edgeseg.backends import open_runner
    from edgeseg.backends.openvino.build import build_openvino
    from edgeseg.card import card_from_onnx
    from edgeseg.data.calib import CalibrationSet
    from edgeseg.errors import EdgesegError
    from edgeseg.export.onnx import export_onnx
    from edgeseg.quant.retarget import export_for_target
    from edgeseg.train.checkpoint import load_checkpoint

    g, t = set(args.groups), args.threads
    out: dict[str, tuple[Any, dict]] = {}
    model, card, _ = load_checkpoint(args.checkpoint)

    def ov(rid: str, onnx: Path, *, bf16: bool = False, **facts: Any) -> None:
        xml = tmp / f"{rid.replace(' ', '_')}.xml"
        try:
            res = build_openvino(onnx, output=xml, threads=t, bf16_float=bf16, log=_quiet)
        except EdgesegError as e:
            (refused if refused is not None else {})[rid] = str(e)
            log(f"refused {rid}: {e}")
            return
        out[rid] = (
            open_runner(xml),
            {"source": str(onnx), "path_name": res.path_name, "ir": str(xml), **facts},
        )
        log(f"built {rid}: {res.path_name}")

    fp32 = export_onnx(model, card, tmp / "fp32.onnx")
    if "fp32" in g:
        ov("fp32 ov", fp32)
    if "committed" in g:
        ov("committed qat ov", Path(args.committed), placement="tensorrt", head="logits")
    calib = CalibrationSet(args.data, card, num=args.calib_num, batch=8)
    qckpt, origin = args.qat_checkpoint, "qat"
    if qckpt is None and g & {"cpu", "heads", "bf16", "ort"}:
        qckpt, origin = _ptq_checkpoint(model, card, calib, tmp), "ptq"
        log(f"no --qat-checkpoint: cpu/trt rows from a PTQ of {args.checkpoint} ({len(calib)} frames)")
    heads = HEADS if "heads" in g else ("logits",)
    if g & {"cpu", "heads", "bf16", "ort"}:
        if g & {"cpu", "ort"}:
            trt = export_for_target(qckpt, tmp / "trt.onnx", log=_quiet)
        if "cpu" in g:
            ov(f"trt-pl ov ({origin})", trt, placement="tensorrt", head="logits")
        if "ort" in g:
            out[f"trt-pl ort logits ({origin})"] = (open_runner(trt, threads=t), {"source": str(trt)})
        kw = dict(target="cpu", calib=calib, log=_quiet)
        if g & {"cpu", "ort"}:  # CGNet's deploy form (quant/deploy_fakequant.py), opt-in (deploy_form=True)
            dep = export_for_target(qckpt, tmp / "cpu_deploy.onnx", deploy_form=True, **kw)
        if "cpu" in g:
            # built as exported: the build skips its PRelu rewrite for a file in its deploy form
            ov(f"cpu-pl deploy ov logits ({origin})", dep, placement="cpu", head="logits", deploy_form=True)
        if "ort" in g:
            out[f"cpu-pl deploy ort logits ({origin})"] = (open_runner(dep, threads=t), {"source": str(dep)})
        for head in heads:
            onnx = export_for_target(qckpt, tmp / f"cpu_{head}.onnx", head=head, deploy_form=False, **kw)
            if g & {"cpu", "heads"}:
                ov(f"cpu-pl ov {head} ({origin})", onnx, placement="cpu", head=head)
            if "bf16" in g:
                ov(f"cpu-pl ov {head} bf16 ({origin})", onnx, bf16=True, placement="cpu", head=head)
            if "ort" in g and head == "logits":
                out[f"cpu-pl ort logits ({origin})"] = (open_runner(onnx, threads=t), {"source": str(onnx)})
    if "executorch" in g:
        from edgeseg.backends.executorch.build import build_executorch

        src = args.qat_checkpoint or args.checkpoint
        pte = build_executorch(
            src,
            output=tmp / "et.pte",
            int8=True,
            calib=args.data,
            calib_num=args.calib_num,
            threads=t,
            log=_quiet,
        )
        out["executorch int8"] = (open_runner(pte.path), {"source": str(src), "path_name": pte.path_name})
    if "nncf" in g:
        out.update(_nncf_variants(fp32, card, calib_frames(args, card), bf16="bf16" in g, threads=t))
    if "dsv3p" in g:
        dsv = WEIGHTS / "deeplabv3plus_mobilenetv2_camvid_qat_int8.onnx"
        ov("dsv3+ committed qat ov", dsv, placement="tensorrt", arch=card_from_onnx(dsv).arch)
    return out


def _ptq_checkpoint(model, card, calib, tmp: Path) -> Path:
    from edgeseg.quant.ptq import calib_facts, ptq, quantized_card
    from edgeseg.quant.qcheckpoint import save_quantized_checkpoint

    qmodel, placement, _, _ = ptq(model, calib, method="mse", bias_correction="none", progress=False)
    qcard = quantized_card(card, method="mse", calib_facts=calib_facts(calib), placement=placement)
    return save_quantized_checkpoint(tmp / "ptq.pt", qmodel=qmodel, placement=placement, card=qcard)


def calib_frames(args, card) -> list[np.ndarray]:
    """NNCF's dataset: ``--nncf-frames`` train frames (evenly spaced), one (1, 3, H, W) array each."""
    from edgeseg.data.calib import CalibrationSet

    cs = CalibrationSet(args.data, card, num=args.nncf_frames, batch=8)
    return [b[i : i + 1] for b in cs.batches() for i in range(len(b))]


def _nncf_variants(fp32: Path, card, frames, *, bf16: bool, threads: int) -> dict[str, tuple[Any, dict]]:
    import nncf

    from edgeseg.backends.openvino._core import shared_core

    qmodel = nncf.quantize(shared_core().read_model(str(fp32)), nncf.Dataset(frames), subset_size=len(frames))
    facts = {"settings": f"nncf {nncf.__version__} quantize(defaults, subset_size={len(frames)})"}
    out = {"nncf default ov": (Compiled(qmodel, card, threads=threads), facts)}
    if bf16:
        out["nncf default ov bf16"] = (Compiled(qmodel, card, threads=threads, precision="bf16"), facts)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="dataset spec: calibration from train, mIoU on --split")
    ap.add_argument("--checkpoint", default=str(WEIGHTS / "cgnet_camvid.pt"), help="FP32 CGNet checkpoint")
    ap.add_argument(
        "--committed", default=str(WEIGHTS / "cgnet_camvid_qat_int8.onnx"), help="today's Q/DQ ONNX"
    )
    ap.add_argument(
        "--qat-checkpoint", default=None, help="edgeseg quantize --method qat --save-checkpoint PT"
    )
    ap.add_argument(
        "--calib-num", type=int, default=100, help="frames for the CPU output ranges (default 100)"
    )
    ap.add_argument("--nncf-frames", type=int, default=300, help="NNCF calibration frames (default 300)")
    ap.add_argument("--groups", default=",".join(GROUPS), help=f"default all: {','.join(GROUPS)}")
    ap.add_argument("--threads", type=int, default=2, help="cores and threads for every runtime (default 2)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--runs", type=int, default=30, help="timed calls per variant per round (default 30)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed calls per variant first (default 5)")
    ap.add_argument(
        "--profile-runs",
        type=int,
        default=10,
        help="OpenVINO rows: profiled runs for the kernel shares (0: none)",
    )
    ap.add_argument("--frames", type=int, default=None, help="val frames for mIoU (default all)")
    ap.add_argument("--split", default="val", help="mIoU split (default val; never choose on test)")
    ap.add_argument(
        "--out", default=str(ROOT / "benchmarks/results/cgnet_int8_cpu.json"), help="'-': no file"
    )
    ap.add_argument("--note", default=None, help="recorded with the run (what else shared the machine)")
    args = ap.parse_args(argv)
    args.groups = [x for x in args.groups.split(",") if x]
    if set(args.groups) - set(GROUPS):
        ap.error(
            f"--groups: unknown {sorted(set(args.groups) - set(GROUPS))}; expected some of {','.join(GROUPS)}"
        )
    for flag, v in (("--rounds", args.rounds), ("--runs", args.runs), ("--calib-num", args.calib_num)):
        if v < 1:
            ap.error(f"{flag} must be >= 1, found {v}")
    if args.qat_checkpoint and not Path(args.qat_checkpoint).is_file():
        ap.error(f"--qat-checkpoint {args.qat_checkpoint}: file not found")
    if "nncf" in args.groups:
        import importlib.util

        if importlib.util.find_spec("nncf") is None:
            ap.error("--groups nncf needs nncf (pip install nncf==3.4.0, the dev extra), or drop the group")
    pin(args.threads)
    start, wall0 = dt.datetime.now(dt.timezone.utc), time.perf_counter()

    from edgeseg._env import machine_info
    from edgeseg.data.datasets import open_dataset
    from edgeseg.data.preprocess import preprocess
    from edgeseg.train.evaluate import evaluate

    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as d:
        refused: dict[str, str] = {}
        variants = make_variants(args, Path(d), lambda s: print(s, flush=True), refused)
        runners = {k: r for k, (r, _) in variants.items()}
        datasets: dict[tuple, Any] = {}
        for runner in runners.values():
            size = tuple(runner.card.input_size)
            if size not in datasets:
                datasets[size] = open_dataset(args.data, args.split, size=size)
        first = next(iter(datasets.values()))[0][0]
        feeds = {k: preprocess([first], r.card, size=tuple(r.card.input_size)) for k, r in runners.items()}
        x = next(iter(feeds.values()))
        if any(f.shape != x.shape for f in feeds.values()):
            print("note: variants with another input size are timed on their own preprocessed frame")
        times = {k: [] for k in runners}
        for k, ms in time_interleaved(
            {k: Feed(r, feeds[k]) for k, r in runners.items()},
            x,
            rounds=args.rounds,
            runs=args.runs,
            warmup=args.warmup,
        ).items():
            times[k] = ms
        for k, runner in runners.items():
            res = evaluate(
                runner,
                datasets[tuple(runner.card.input_size)],
                max_frames=args.frames,
                progress=False,
                desc=k,
            )
            rows.append(
                {
                    "id": k,
                    **stats(times[k]),
                    "miou": round(float(res["miou"]), 6),
                    "frames": res["frames"],
                    "arch": runner.card.arch,
                    "head": (runner.card.extra or {}).get("head", "logits"),
                    **variants[k][1],
                }
            )
            print(
                f"  {k:<34} {rows[-1]['median_ms']:8.2f} ms (IQR {rows[-1]['iqr_ms']:.2f})  "
                f"mIoU {100 * rows[-1]['miou']:.2f}%",
                flush=True,
            )
        for row in rows:
            ir = row.pop("ir", None)  # a temporary path: not recorded
            if args.profile_runs > 0 and ir:
                row["kernel_share"] = kernel_shares(ir, runs=args.profile_runs)
                print(
                    f"  {row['id']:<34} float share of kernel time {100 * row['kernel_share']['float']:.1f}%"
                )
        for r in runners.values():
            getattr(r, "close", lambda: None)()
    run = {
        "command": "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__), *sys.argv[1:]]),
        "date": start.isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - wall0, 1),
        "machine": machine_info(),
        "threads": args.threads,
        "rounds": args.rounds,
        "runs": args.runs,
        "split": args.split,
        **({"note": args.note} if args.note else {}),
        **({"refused": refused} if refused else {}),
        "rows": rows,
    }
    print_summary(rows)
    if args.out != "-":
        out = Path(args.out)
        doc = (
            json.loads(out.read_text())
            if out.is_file()
            else {"schema": "edgeseg.cgnet_int8_cpu/1", "runs": []}
        )
        doc["runs"].append(run)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"appended to {out}")
    return 0


def print_summary(rows: list[dict]) -> None:
    """The issue's targets as ratios of this run's medians (only the rows that ran)."""
    by = {r["id"]: r for r in rows}
    cg = [r for r in rows if r["arch"] == "cgnet" and r["id"].startswith(("cpu-pl", "trt-pl", "committed"))]
    if not cg:
        return
    best = min(cg, key=lambda r: r["median_ms"])
    print(
        f"\nfastest CGNet INT8 CPU path: {best['id']} {best['median_ms']:.2f} ms, "
        f"mIoU {100 * best['miou']:.2f}%"
    )
    if "fp32 ov" in by:  # the target: within 0.3 points of FP32 on val
        ok = [r for r in cg if r["miou"] >= by["fp32 ov"]["miou"] - 0.003]
        best = min(ok, key=lambda r: r["median_ms"]) if ok else best
        print(
            f"fastest within 0.3 points of FP32: {best['id'] if ok else 'none (ratios below: the fastest)'} "
            f"{best['median_ms']:.2f} ms, mIoU {100 * best['miou']:.2f}%"
        )
    for rid, what in (
        ("committed qat ov", "today's committed QAT IR"),
        ("executorch int8", "ExecuTorch INT8"),
        ("dsv3+ committed qat ov", "DS-v3+'s QAT IR"),
        ("nncf default ov", "NNCF default"),
        ("fp32 ov", "FP32"),
    ):
        if rid in by:
            r = by[rid]
            print(
                f"  vs {what}: {r['median_ms'] / best['median_ms']:.2f}x faster, "
                f"{100 * (best['miou'] - r['miou']):+.2f} mIoU points"
            )


if __name__ == "__main__":
    raise SystemExit(main())
