"""``edgeseg doctor``: which libraries are installed, what this machine has, and which backends can
build and run here (with the reason when one cannot). A report: it always exits 0."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from edgeseg.commands._policy import Io

HELP = "report installed libraries, the machine (CPU, GPU, Jetson) and which backends can build/run here"

IO = Io()  # prints only


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the text report"
    )


def collect() -> dict[str, Any]:
    """Everything doctor reports, as one JSON-serialisable dict."""
    from edgeseg import _env
    from edgeseg.backends import backend_matrix, library_versions

    versions = library_versions()
    machine = _env.machine_info()
    return {
        "libraries": versions,
        "machine": machine,
        "onnxruntime_providers": _env.ort_providers(),
        "opencv_video": _env.opencv_video_backends(),
        "backends": backend_matrix(versions=versions, machine=machine),
    }


def _gib(n: int | None) -> str:
    return f"{n / 2**30:.1f} GiB" if n else "unknown"


def _yn(flag: Any) -> str:
    return "-" if flag is None else ("yes" if flag else "no")


def _library_note(name: str, report: dict[str, Any]) -> str:
    m, backends = report["machine"], {b["backend"]: b for b in report["backends"]}
    if name == "torch":
        if m.get("cuda_available"):
            gpus = ", ".join(f"{g['name']} (compute {g['compute_capability']})" for g in m["gpus"])
            return f"CUDA {m.get('torch_cuda_build')} available: {gpus}"
        return f"CUDA not available: {backends['torch-cuda']['reason']}"
    if name == "onnxruntime":
        return "providers: " + (", ".join(report["onnxruntime_providers"]) or "none")
    if name == "opencv":
        video = report["opencv_video"]
        return ", ".join(f"{k} {'yes' if v['available'] else 'no'}" for k, v in video.items())
    if name == "coremltools":
        return backends["coreml"]["reason"]
    if name == "tensorrt":
        trt = backends["tensorrt"].get("tensorrt", {})
        if not trt.get("installed"):
            return "see the tensorrt backend below for how to get it"
        return f"cannot create a builder: {trt['builder_error']}" if trt.get("builder_error") else ""
    if name == "pycuda":
        from edgeseg.backends.tensorrt._env import PYCUDA_HINT

        return "" if report["libraries"].get("pycuda") else f"needed to run TensorRT engines: {PYCUDA_HINT}"
    return ""


def format_report(report: dict[str, Any]) -> str:
    """The text report: one line per library, the machine, then the backend table."""
    lines = ["libraries"]
    for name, version in report["libraries"].items():
        shown = version if version else "not installed"
        note = _library_note(name, report)
        lines.append(f"  {name:<12} {shown}" + (f"  [{note}]" if note else ""))
    m = report["machine"]
    lines += ["", "machine"]
    cores = (
        f"{m.get('physical_cores') or '?'} physical / {m.get('logical_cores')} logical cores "
        f"({m.get('usable_cores')} usable)"
    )
    lines.append(
        f"  {'cpu':<12} {m.get('cpu')} [{m.get('arch')}], {cores}, {_gib(m.get('memory_bytes'))} memory"
    )
    if m.get("cpu_features") is not None:
        from edgeseg._env import has_vnni

        isa = ", ".join(m["cpu_features"]) or "none of avx2 / avx512 / vnni / amx / asimd"
        no_vnni = has_vnni(m["cpu_features"], str(m.get("arch", ""))) is False
        lines.append(
            f"  {'isa':<12} {isa}"
            + ("  [no VNNI: INT8 results can differ between runtimes]" if no_vnni else "")
        )
    lines.append(f"  {'os':<12} {m.get('os')}")
    if "torch_threads" in m:
        lines.append(f"  {'torch':<12} {m['torch_threads']} intra-op threads")
    if m.get("gpus"):
        for g in m["gpus"]:
            lines.append(
                f"  {'gpu ' + str(g['index']):<12} {g['name']}, compute capability "
                f"{g['compute_capability']}, {_gib(g.get('memory_bytes'))}"
            )
    else:
        lines.append(
            f"  {'gpu':<12} none visible to torch" + (f" ({m['cuda_error']})" if m.get("cuda_error") else "")
        )
    j = m.get("jetson")
    if j:
        jp = f", JetPack {j['jetpack']}" if j.get("jetpack") else ""
        lines.append(
            f"  {'jetson':<12} {j.get('model') or 'unknown model'}, L4T {j.get('l4t') or 'unknown'}{jp}"
        )
    lines += ["", "backends", f"  {'backend':<22} {'build':<6} {'run':<4} notes"]
    for b in report["backends"]:
        lines.append(f"  {b['backend']:<22} {_yn(b['can_build']):<6} {_yn(b['can_run']):<4} {b['reason']}")
        trt = b.get("tensorrt") or {}
        if trt.get("installed"):
            if "builder_error" not in trt:
                lines.append(
                    f"  {'':<22} fast FP16 {_yn(trt.get('fast_fp16'))}, fast INT8 "
                    f"{_yn(trt.get('fast_int8'))}, "
                    f"DLA cores {trt.get('dla_cores') if trt.get('dla_cores') is not None else '?'}"
                )
            paths = trt.get("paths", {})
            for key, label in (
                ("fp16", "--fp16"),
                ("int8_calibrated", "--int8 --calib"),
                ("int8_qdq", "Q/DQ ONNX"),
            ):
                if key in paths:
                    lines.append(f"  {'':<22} {label}: {paths[key]}")
    lines.append(
        "  (build: edgeseg can make this artifact here; run: it can execute one here; '-': nothing to build)"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    report = collect()
    if args.json:
        json.dump(report, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(format_report(report))
    return 0
