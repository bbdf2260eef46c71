"""edgeseg demo: the whole pipeline on the embedded synthetic scenes (or your data and checkpoint).

train -> eval -> export -> PTQ + QAT (Q/DQ INT8) -> builds (ONNX Runtime FP32/INT8, TensorRT when present,
OpenVINO FP32/INT8 when installed, Core ML conversion) -> bench -> report. Each stage is the same CLI
command a user would run (printed before it runs); a failed stage is reported and the stages that do not
need it go on.
"""

from __future__ import annotations

import argparse
from edgeseg.commands._policy import Io

from edgeseg.commands._args import int_in
import time
from dataclasses import dataclass, field
from pathlib import Path

HELP = (
    "run the whole pipeline (train, eval, export, PTQ/QAT, build, bench, report) on synthetic "
    "scenes or your data"
)

IO = Io(inputs=("checkpoint", "data"), folders=("out",), loose=("data",))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="edgeseg-demo", help="output folder (default edgeseg-demo)")
    p.add_argument(
        "--data",
        default="synthetic",
        help="dataset spec (default synthetic: 64 train / 16 val scenes, 120x160)",
    )
    p.add_argument("--checkpoint", default=None, help="use this trained checkpoint instead of training one")
    p.add_argument(
        "--epochs", type=int_in(1), default=30, help="training epochs on the synthetic scenes (default 30)"
    )
    p.add_argument("--qat-epochs", type=int_in(1), default=1, help="QAT fine-tuning epochs (default 1)")
    p.add_argument("--runs", type=int_in(1), default=20, help="timed benchmark runs per row (default 20)")
    p.add_argument("--threads", type=int_in(1), default=2, help="CPU threads for benchmarks (default 2)")
    p.add_argument(
        "--max-frames", type=int_in(1), default=None, help="evaluate/benchmark mIoU on the first N val frames"
    )
    p.add_argument("--quick", action="store_true", help="tiny settings for a smoke run (tests)")


@dataclass
class _Stage:
    name: str
    status: str = "pending"
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)


class _Pipeline:
    def __init__(self) -> None:
        self.stages: list[_Stage] = []
        self.made_by: dict[str, list[str]] = {}  # output path -> the edgeseg command line that wrote it

    def run(self, name: str, argv: list[str], outputs: list[Path], *, needs: list[Path] = ()) -> bool:
        from edgeseg.cli import main

        st = _Stage(name)
        self.stages.append(st)
        missing = [str(p) for p in needs if not Path(p).exists()]
        if missing:
            st.status = f"skipped: needs {', '.join(missing)}"
            print(f"\n== {name}: skipped (an earlier stage did not produce {', '.join(missing)})")
            return False
        print(f"\n== {name}\n$ edgeseg {' '.join(argv)}", flush=True)
        t0 = time.perf_counter()
        try:
            rc = main(argv)
        except Exception as e:  # noqa: BLE001 - a bug in one stage must not hide the others
            print(f"edgeseg {argv[0]}: unexpected error: {e.__class__.__name__}: {e}")
            rc = 1
        st.seconds = time.perf_counter() - t0
        ok = rc == 0 and all(Path(p).exists() for p in outputs)
        st.status = "ok" if ok else f"failed (exit {rc})"
        st.outputs = [str(p) for p in outputs if Path(p).exists()]
        if ok:
            self.made_by.update({str(p): list(argv) for p in outputs})
        return ok

    def skip(self, name: str, why: str) -> None:
        self.stages.append(_Stage(name, f"skipped: {why}"))
        print(f"\n== {name}: skipped ({why})")

    def summary(self, width: int = 44) -> str:
        """One line per stage; a long status (a skip reason) wraps onto indented lines, never cut."""
        import textwrap

        w = max(len(s.name) for s in self.stages)
        lines = [f"{'stage':<{w}}  {'time':>7}  status"]
        for s in self.stages:
            parts = textwrap.wrap(s.status, width) or [""]
            lines.append(f"{s.name:<{w}}  {s.seconds:6.1f}s  {parts[0]:<{width}}")
            lines += [f"{'':<{w}}  {'':>7}    {p}" for p in parts[1:]]
        return "\n".join(lines)

    def matrix(self, rows: list[tuple[str, Path]]) -> dict:
        """A bench matrix of ``(row id, artifact)``: each row records the command that built its artifact
        (as ``make``, run in this folder), so the report can print how to build the recommended path."""
        import os

        out = []
        for rid, path in rows:
            row = {"id": rid, "artifact": os.path.abspath(path)}
            if str(path) in self.made_by:
                row["make"] = [self.made_by[str(path)]]
            out.append(row)
        return {"name": "demo", "workdir": os.getcwd(), "rows": out}


def run(args: argparse.Namespace) -> int:
    from edgeseg.backends import backend_matrix
    from edgeseg._io import ensure_writable_dir

    out = ensure_writable_dir(args.out, create=True)
    quick = args.quick
    data = args.data
    epochs = 2 if quick else args.epochs
    runs, warmup = (3, 1) if quick else (args.runs, 3)
    mf = ["--max-frames", str(args.max_frames)] if args.max_frames else []
    np_ = ["--no-progress"] if quick else []
    pipe = _Pipeline()
    t0 = time.perf_counter()

    # 1. train (or take the given checkpoint)
    if args.checkpoint:
        ckpt = Path(args.checkpoint)
        pipe.skip("train", f"using {ckpt}")
    else:
        ckpt = out / "train" / "best.pt"
        train = [
            "train",
            "--model",
            "cgnet",
            "--data",
            data,
            "--out",
            str(out / "train"),
            "--epochs",
            str(epochs),
            "--batch",
            "8",
            "--crop",
            "96x128" if data.startswith("synthetic") else "360",
            "--val-every",
            str(max(1, epochs // 3)),
            *np_,
        ]
        if quick:
            train += ["--arch-arg", "m=2", "--arch-arg", "n=3", "--max-steps", "2"]
        pipe.run("train", train, [ckpt])

    # 2. evaluate FP32
    pipe.run(
        "eval fp32",
        ["eval", str(ckpt), "--data", data, *mf, "--json", str(out / "eval_fp32.json"), *np_],
        [out / "eval_fp32.json"],
        needs=[ckpt],
    )

    # 3. export
    onnx_fp32 = out / "model_fp32.onnx"
    pipe.run(
        "export onnx",
        ["export", str(ckpt), "-o", str(onnx_fp32), "--parity-data", data],
        [onnx_fp32],
        needs=[ckpt],
    )

    # 4. quantize: PTQ and QAT to TensorRT-ready Q/DQ, checked by check-qdq inside quantize
    ncal = "16" if quick else "64"
    ptq = out / "model_ptq_int8.onnx"
    pipe.run(
        "quantize ptq",
        [
            "quantize",
            str(ckpt),
            "--method",
            "ptq",
            "--calib",
            data,
            "--calib-num",
            ncal,
            "--calib-method",
            "percentile" if quick else "all",
            "--val-data",
            data,
            "-o",
            str(ptq),
            *np_,
        ],
        [ptq],
        needs=[ckpt],
    )
    qat = out / "model_qat_int8.onnx"
    qat_args = [
        "quantize",
        str(ckpt),
        "--method",
        "qat",
        "--data",
        data,
        "--epochs",
        str(args.qat_epochs),
        "--crop",
        "96x128" if data.startswith("synthetic") else "360",
        "--calib-num",
        ncal,
        "-o",
        str(qat),
        *np_,
    ]
    if quick:
        qat_args += ["--max-steps", "2"]
    pipe.run("quantize qat", qat_args, [qat], needs=[ckpt])

    # 5. builds: ONNX Runtime FP32 and CPU-flavoured INT8; TensorRT when present; OpenVINO FP32 and INT8
    # (QAT Q/DQ); Core ML conversion
    ort_fp32 = out / "model_fp32.ort.onnx"
    pipe.run(
        "build onnxruntime fp32",
        ["build", str(onnx_fp32), "--backend", "onnxruntime", "-o", str(ort_fp32)],
        [ort_fp32],
        needs=[onnx_fp32],
    )
    ort_int8 = out / "model_int8_cpu.ort.onnx"
    pipe.run(
        "build onnxruntime int8",
        [
            "build",
            str(onnx_fp32),
            "--backend",
            "onnxruntime",
            "--int8",
            "--calib",
            data,
            "--calib-num",
            ncal,
            "-o",
            str(ort_int8),
        ],
        [ort_int8],
        needs=[onnx_fp32],
    )
    backends = {b["backend"]: b for b in backend_matrix()}
    engines: list[Path] = []
    trt = backends.get("tensorrt", {})
    if trt.get("can_build"):
        for name, src, flag in (("fp16", onnx_fp32, "--fp16"), ("int8", qat, "--int8")):
            eng = out / f"model_{name}.engine"
            if pipe.run(
                f"build tensorrt {name}",
                ["build", str(src), "--backend", "tensorrt", flag, "-o", str(eng)],
                [eng],
                needs=[src],
            ):
                engines.append(eng)
    else:
        pipe.skip("build tensorrt", trt.get("reason", "TensorRT not available on this machine"))
    ov_irs: list[Path] = []
    if backends.get("openvino", {}).get("can_build"):
        for name, src, extra in (("fp32", onnx_fp32, []), ("int8", qat, ["--int8"])):
            ir = out / f"model_{name}.xml"
            if pipe.run(
                f"build openvino {name}",
                ["build", str(src), "--backend", "openvino", *extra, "-o", str(ir)],
                [ir],
                needs=[src],
            ):
                ov_irs.append(ir)
    else:
        pipe.skip("build openvino", backends.get("openvino", {}).get("reason", "openvino not installed"))
    if backends.get("coreml", {}).get("can_build"):
        pipe.run(
            "build coreml",
            ["build", str(ckpt), "--backend", "coreml", "-o", str(out / "model.mlpackage")],
            [out / "model.mlpackage"],
            needs=[ckpt],
        )
    else:
        pipe.skip("build coreml", backends.get("coreml", {}).get("reason", "coremltools not installed"))
    pte = out / "model_int8.pte"
    if backends.get("executorch", {}).get("can_build"):
        pipe.run(
            "build executorch int8",
            [
                "build",
                str(ckpt),
                "--backend",
                "executorch",
                "--int8",
                "--calib",
                data,
                "--calib-num",
                ncal,
                "-o",
                str(pte),
            ],
            [pte],
            needs=[ckpt],
        )
    else:
        pipe.skip(
            "build executorch", backends.get("executorch", {}).get("reason", "executorch not installed")
        )

    # 6. bench + report
    named = [
        ("torch-fp32", ckpt),
        ("ort-fp32", onnx_fp32),
        ("ort-fp32-opt", ort_fp32),
        ("ort-int8-cpu", ort_int8),
        ("trt-qdq-ptq-on-ort", ptq),
        ("trt-qdq-qat-on-ort", qat),
        ("et-int8", pte),
    ]
    named += [(f"ov-{p.stem.split('_')[-1]}", p) for p in ov_irs] + [
        (f"trt-{p.stem.split('_')[-1]}", p) for p in engines
    ]
    import yaml

    from edgeseg._io import atomic_write_text

    matrix = out / "bench.yaml"
    atomic_write_text(
        matrix, yaml.safe_dump(pipe.matrix([(i, p) for i, p in named if p.exists()]), sort_keys=False)
    )
    results = out / "results.json"
    pipe.run(
        "bench",
        [
            "bench",
            str(matrix),
            "--data",
            data,
            *mf,
            "--runs",
            str(runs),
            "--warmup",
            str(warmup),
            "--threads",
            str(args.threads),
            "-o",
            str(results),
        ],
        [results],
        needs=[ckpt],
    )
    report = out / "report"
    pipe.run("report", ["report", str(results), "-o", str(report)], [report / "REPORT.md"], needs=[results])

    print(f"\n== demo finished in {time.perf_counter() - t0:.0f} s\n{pipe.summary()}")
    if (report / "REPORT.md").exists():
        print(f"\nreport: {report / 'REPORT.md'} and {report / 'report.html'}")
    failed = [s for s in pipe.stages if s.status.startswith("failed")]
    return 1 if failed else 0
