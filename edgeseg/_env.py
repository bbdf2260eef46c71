"""Facts about this machine and its libraries, for ``edgeseg doctor`` and the benchmark records.

Every function here is a report: it never raises because a library is missing or broken. Heavy
libraries are imported only when a function that needs them is called. ``None`` means "not
installed"; ``"broken: <reason>"`` means installed but its import failed.
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

#: Reported name -> module to import. Order is the order doctor prints.
LIBRARIES: dict[str, str] = {
    "python": "",
    "numpy": "numpy",
    "torch": "torch",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "opencv": "cv2",
    "coremltools": "coremltools",
    "openvino": "openvino",
    "tensorrt": "tensorrt",
    "pycuda": "pycuda",
    "edgeseg": "edgeseg",
}

#: Libraries whose version is read from package metadata instead of importing them:
#: coremltools imports torch and more (seconds) and only warns when its import is imperfect.
_METADATA_ONLY = {"coremltools": "coremltools"}

TENSORRT_GET = (
    "on a Jetson TensorRT comes with JetPack (preinstalled, or sudo apt install nvidia-tensorrt; in a "
    "venv use --system-site-packages); on an x86 machine with an NVIDIA GPU: "
    "pip install tensorrt --extra-index-url https://pypi.nvidia.com"
)
PYCUDA_GET = "pip install pycuda (needs the CUDA toolkit, nvcc on PATH; on a Jetson JetPack provides it)"

#: L4T release -> JetPack release, for the pairs NVIDIA publishes (others are reported as L4T only).
_L4T_TO_JETPACK = {
    "32.6.1": "4.6", "32.7.1": "4.6.1", "32.7.2": "4.6.2", "32.7.3": "4.6.3", "32.7.4": "4.6.4", "32.7.5": "4.6.5",
    "35.1.0": "5.0.2", "35.2.1": "5.1", "35.3.1": "5.1.1", "35.4.1": "5.1.2", "35.5.0": "5.1.3", "35.6.0": "5.1.4",
    "36.3.0": "6.0", "36.4.0": "6.1", "36.4.3": "6.2",
}


def import_module(name: str) -> tuple[Any | None, str | None]:
    """``(module, None)``, ``(None, None)`` when not installed, or ``(None, "broken: why")``."""
    try:
        return importlib.import_module(name), None
    except ModuleNotFoundError as e:
        if e.name == name or (e.name is None and name in str(e)):
            return None, None
        return None, f"broken: {e.__class__.__name__}: {e}"
    except Exception as e:  # noqa: BLE001 - a broken install may raise anything (OSError for a missing .so)
        return None, f"broken: {e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(": ")


def _module_version(report: str, mod: Any) -> str:
    if report == "pycuda":
        return str(getattr(mod, "VERSION_TEXT", None) or getattr(mod, "__version__", "unknown"))
    if report == "tensorrt" and not hasattr(mod, "Builder"):
        return f"broken: tensorrt {getattr(mod, '__version__', '?')} has no Builder (the PyPI download stub, or a partial install)"
    return str(getattr(mod, "__version__", "unknown"))


def library_versions() -> dict[str, str | None]:
    """Versions of python, numpy, torch, onnx, onnxruntime, opencv, coremltools, tensorrt, pycuda,
    edgeseg. ``None`` = not installed; ``"broken: ..."`` = installed but does not import."""
    out: dict[str, str | None] = {}
    for report, modname in LIBRARIES.items():
        if report == "python":
            out[report] = platform.python_version()
        elif report in _METADATA_ONLY:
            out[report] = _metadata_version(_METADATA_ONLY[report])
        else:
            mod, problem = import_module(modname)
            out[report] = problem if mod is None else _module_version(report, mod)
    return out


def _metadata_version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


# -- machine --------------------------------------------------------------------------------------
def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_bytes().decode("utf-8", "replace").replace("\x00", "").strip()
    except OSError:
        return None


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's name from /proc/cpuinfo (x86 "model name", Arm "Hardware"/"Model"), else platform."""
    text = _read("/proc/cpuinfo") if cpuinfo is None else cpuinfo
    if text:
        for key in ("model name", "Hardware", "Model", "cpu model", "Processor"):
            m = re.search(rf"^{key}\s*:\s*(.+)$", text, re.MULTILINE)
            if m and m.group(1).strip():
                return m.group(1).strip()
        parts = sorted(set(re.findall(r"^CPU part\s*:\s*(\S+)", text, re.MULTILINE)))
        if parts:
            return f"Arm (CPU part {', '.join(parts)})"
    return platform.processor() or platform.machine() or "unknown"


def _memory_total() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # noqa: BLE001 - psutil missing or unsupported platform
        m = re.search(r"^MemTotal:\s*(\d+)\s*kB", _read("/proc/meminfo") or "", re.MULTILINE)
        return int(m.group(1)) * 1024 if m else None


def _physical_cores() -> int | None:
    try:
        import psutil

        return psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001
        return None


def jetson_info(
    *, model_path: str | Path = "/proc/device-tree/model", release_path: str | Path = "/etc/nv_tegra_release"
) -> dict[str, str | None] | None:
    """``{"model", "l4t", "jetpack"}`` on a Jetson (either file exists), else None."""
    model, release = _read(model_path), _read(release_path)
    if release is None and (model is None or "jetson" not in model.lower()):
        return None
    l4t = None
    if release:  # "# R35 (release), REVISION: 4.1, GCID: ..., BOARD: t186ref, ..."
        m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", release)
        if m:
            rev = m.group(2).split(".")
            l4t = ".".join([m.group(1), *rev, *(["0"] * (2 - len(rev)))][:3])
    return {"model": model, "l4t": l4t, "jetpack": _L4T_TO_JETPACK.get(l4t or "")}


def _torch_facts() -> dict[str, Any]:
    torch, problem = import_module("torch")
    if torch is None:
        return {"torch": problem or "not installed", "cuda_available": False, "gpus": []}
    facts: dict[str, Any] = {
        "torch_threads": torch.get_num_threads(),
        "torch_cuda_build": getattr(torch.version, "cuda", None),
        "cuda_available": False,
        "gpus": [],
    }
    try:
        facts["cuda_available"] = bool(torch.cuda.is_available())
        for i in range(torch.cuda.device_count() if facts["cuda_available"] else 0):
            major, minor = torch.cuda.get_device_capability(i)
            props = torch.cuda.get_device_properties(i)
            facts["gpus"].append({
                "index": i, "name": torch.cuda.get_device_name(i), "compute_capability": f"{major}.{minor}",
                "memory_bytes": int(getattr(props, "total_memory", 0)),
            })
    except Exception as e:  # noqa: BLE001 - a driver problem is a fact to report
        facts["cuda_error"] = f"{e.__class__.__name__}: {e}"
    return facts


def machine_info() -> dict[str, Any]:
    """CPU model and cores, memory, OS, torch threads, CUDA / GPUs (via torch), Jetson model and L4T."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "arch": platform.machine(),
        "physical_cores": _physical_cores(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_bytes": _memory_total(),
        "os": platform.platform(),
        "system": platform.system(),
        "python": sys.version.split()[0],
    }
    info.update(_torch_facts())
    info["jetson"] = jetson_info()
    return info


# -- libraries' capabilities -----------------------------------------------------------------------
def ort_providers() -> list[str]:
    """ONNX Runtime execution providers available here ([] when onnxruntime is not installed)."""
    ort, _ = import_module("onnxruntime")
    if ort is None:
        return []
    try:
        return list(ort.get_available_providers())
    except Exception:  # noqa: BLE001
        return []


_VIDEO_KEYS = {"GStreamer": r"GStreamer", "V4L2": r"v4l/v4l2|V4L/V4L2|V4L", "FFMPEG": r"FFMPEG"}


def opencv_video_backends(build_info: str | None = None) -> dict[str, dict[str, Any]]:
    """``{"GStreamer"|"V4L2"|"FFMPEG": {"available": bool, "detail": str}}`` from the "Video I/O"
    section of ``cv2.getBuildInformation()`` (or the given text). Empty when OpenCV is missing."""
    if build_info is None:
        cv2, _ = import_module("cv2")
        if cv2 is None:
            return {}
        build_info = cv2.getBuildInformation()
    section = build_info
    m = re.search(r"^\s*Video I/O:\s*$(.*?)(?=^\s{0,2}\S[^\n]*:\s*$|\Z)", build_info, re.MULTILINE | re.DOTALL)
    if m:
        section = m.group(1)
    out: dict[str, dict[str, Any]] = {}
    for name, pattern in _VIDEO_KEYS.items():
        line = re.search(rf"^\s*(?:{pattern}):\s*(.*)$", section, re.MULTILINE)
        detail = line.group(1).strip() if line else "NO"
        out[name] = {"available": bool(detail) and not re.match(r"(?i)(no|none)\b", detail), "detail": detail or "NO"}
    return out


def _trt_paths(version: str) -> dict[str, str]:
    """The build path edgeseg takes for --fp16 and --int8 on this TensorRT (from edgeseg.build._trt_plan)."""
    try:
        from edgeseg.build._trt_plan import plan_build
    except ImportError:  # pragma: no cover - the build package is part of edgeseg
        return {}
    paths: dict[str, str] = {}
    cases = {
        "fp16": dict(onnx_is_qdq=False, fp16=True, int8=False, calib=False),
        "int8_calibrated": dict(onnx_is_qdq=False, fp16=False, int8=True, calib=True),
        "int8_qdq": dict(onnx_is_qdq=True, fp16=False, int8=True, calib=False),
    }
    for key, kw in cases.items():
        try:
            plan = plan_build(version, **kw)
            paths[key] = plan.path_name + "".join(f" [{w}]" for w in plan.warnings if "deprecat" in w)
        except Exception as e:  # noqa: BLE001 - BuildError says why the path is not available
            paths[key] = f"not available: {e}"
    return paths


def tensorrt_facts() -> dict[str, Any]:
    """TensorRT version, builder capabilities (fast FP16/INT8, DLA cores) and edgeseg's build paths.

    ``installed`` False with ``how_to_get`` when absent; ``builder_error`` when a Builder could not
    be created (no GPU, driver problem).
    """
    trt, problem = import_module("tensorrt")
    if trt is None or not hasattr(trt, "Builder"):
        facts: dict[str, Any] = {"installed": False, "how_to_get": TENSORRT_GET}
        if problem or trt is not None:
            facts["problem"] = problem or _module_version("tensorrt", trt)
        return facts
    version = str(getattr(trt, "__version__", "unknown"))
    facts = {"installed": True, "version": version, "paths": _trt_paths(version)}
    try:
        builder = trt.Builder(trt.Logger(trt.Logger.WARNING) if hasattr(trt.Logger, "WARNING") else trt.Logger())
        if builder is None:
            raise RuntimeError("tensorrt.Builder returned None")
        for key, attr in (("fast_fp16", "platform_has_fast_fp16"), ("fast_int8", "platform_has_fast_int8"),
                          ("dla_cores", "num_DLA_cores")):
            value = getattr(builder, attr, None)
            facts[key] = value if value is None or isinstance(value, (bool, int)) else str(value)
    except Exception as e:  # noqa: BLE001 - no GPU / no driver: TensorRT raises various types
        facts["builder_error"] = f"{e.__class__.__name__}: {e}"
    return facts


def _row(backend: str, can_build: bool | None, can_run: bool, reason: str, version: str | None = None,
         **extra: Any) -> dict[str, Any]:
    return {"backend": backend, "can_build": can_build, "can_run": can_run, "version": version, "reason": reason, **extra}


def backend_matrix(
    *, versions: dict[str, str | None] | None = None, machine: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Per backend: ``backend``, ``can_build``, ``can_run``, ``version``, ``reason`` (+ details).

    Backends: torch-cpu, torch-cuda, onnxruntime-cpu, onnxruntime-cuda, onnxruntime-tensorrt,
    tensorrt, coreml, openvino. ``can_build`` is None where there is nothing to build (torch runs checkpoints).
    Pass ``versions``/``machine`` from ``library_versions()``/``machine_info()`` to avoid asking twice.
    """
    v = library_versions() if versions is None else versions
    mach = machine_info() if machine is None else machine
    ok = {k: bool(val) and not str(val).startswith("broken") for k, val in v.items()}
    rows = []

    def missing(name: str) -> str:
        return f"{name} is broken ({v[name]})" if v.get(name) else f"{name} is not installed"

    rows.append(_row("torch-cpu", None, ok["torch"], "runs .pt checkpoints" if ok["torch"] else missing("torch"), v["torch"]))
    if not ok["torch"]:
        reason = missing("torch")
    elif mach.get("cuda_available"):
        gpu = mach["gpus"][0] if mach.get("gpus") else {}
        reason = f"CUDA {mach.get('torch_cuda_build')} on {gpu.get('name', 'a GPU')}"
    elif not mach.get("torch_cuda_build"):
        reason = f"this torch is a CPU-only build ({v['torch']})"
    else:
        reason = "torch was built with CUDA but sees no CUDA device" + (f" ({mach['cuda_error']})" if mach.get("cuda_error") else "")
    rows.append(_row("torch-cuda", None, ok["torch"] and bool(mach.get("cuda_available")), reason, v["torch"]))

    providers = ort_providers() if ok["onnxruntime"] else []
    can_ort = ok["onnxruntime"] and ok["onnx"]
    rows.append(_row("onnxruntime-cpu", can_ort, "CPUExecutionProvider" in providers,
                     "FP32 and INT8 (QDQ) .onnx on the CPU" if can_ort else missing("onnxruntime" if not ok["onnxruntime"] else "onnx"),
                     v["onnxruntime"], providers=providers))
    for backend, prov, pkg in (("onnxruntime-cuda", "CUDAExecutionProvider", "onnxruntime-gpu"),
                               ("onnxruntime-tensorrt", "TensorrtExecutionProvider", "onnxruntime-gpu with TensorRT libraries")):
        have = prov in providers
        reason = (f"{prov} is listed (its CUDA libraries load on first use)" if have else
                  (missing("onnxruntime") if not ok["onnxruntime"] else f"no {prov} in this onnxruntime (needs {pkg} and an NVIDIA GPU)"))
        rows.append(_row(backend, None, have, reason, v["onnxruntime"]))

    trt = tensorrt_facts()
    if not trt["installed"]:
        gpu_note = "" if mach.get("cuda_available") or mach.get("jetson") else "; this machine has no NVIDIA GPU, so TensorRT cannot run here"
        what = trt.get("problem") or "tensorrt is not installed"
        rows.append(_row("tensorrt", False, False, f"{what}: {TENSORRT_GET}{gpu_note}", v.get("tensorrt"), tensorrt=trt))
    elif trt.get("builder_error"):
        rows.append(_row("tensorrt", False, False, f"TensorRT {trt['version']} is installed but cannot create a builder "
                         f"({trt['builder_error']}); is there an NVIDIA GPU and driver?", trt["version"], tensorrt=trt))
    else:
        run_ok = ok["pycuda"]
        reason = f"TensorRT {trt['version']}" + ("" if run_ok else f"; running engines needs pycuda: {PYCUDA_GET}")
        rows.append(_row("tensorrt", True, run_ok, reason, trt["version"], tensorrt=trt))

    darwin = platform.system() == "Darwin"
    if ok["coremltools"]:
        reason = "convert and predict (macOS)" if darwin else "conversion works here; Core ML prediction needs macOS"
    else:
        reason = missing("coremltools") + ": pip install 'edgeseg[coreml]'"
    rows.append(_row("coreml", ok["coremltools"] and ok["torch"], ok["coremltools"] and darwin, reason, v["coremltools"]))
    have_ov = ok.get("openvino", False)
    reason = ("FP32 and INT8 (from Q/DQ) IRs on the CPU" if have_ov else
              missing("openvino") + ": pip install 'edgeseg[openvino]' (x86-64 and ARM64 CPUs)")
    rows.append(_row("openvino", have_ov and ok["onnx"], have_ov, reason, v.get("openvino")))
    return rows
