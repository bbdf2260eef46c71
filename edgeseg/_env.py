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
from typing import Any, Collection, Mapping

#: Reported name -> module to import, for the libraries every install has (the order doctor prints).
#: A backend's own packages come from its spec: ``edgeseg.backends.libraries()`` adds them before edgeseg.
LIBRARIES: dict[str, str] = {
    "python": "",
    "numpy": "numpy",
    "torch": "torch",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "opencv": "cv2",
    "edgeseg": "edgeseg",
}

#: L4T release -> JetPack release, for the pairs NVIDIA publishes (others are reported as L4T only).
_L4T_TO_JETPACK = {
    "32.6.1": "4.6",
    "32.7.1": "4.6.1",
    "32.7.2": "4.6.2",
    "32.7.3": "4.6.3",
    "32.7.4": "4.6.4",
    "32.7.5": "4.6.5",
    "35.1.0": "5.0.2",
    "35.2.1": "5.1",
    "35.3.1": "5.1.1",
    "35.4.1": "5.1.2",
    "35.5.0": "5.1.3",
    "35.6.0": "5.1.4",
    "36.3.0": "6.0",
    "36.4.0": "6.1",
    "36.4.3": "6.2",
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
        return None, f"broken: {e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}".rstrip(
            ": "
        )


def _module_version(report: str, mod: Any) -> str:
    if report == "pycuda":
        return str(getattr(mod, "VERSION_TEXT", None) or getattr(mod, "__version__", "unknown"))
    if report == "tensorrt" and not hasattr(mod, "Builder"):
        return (
            f"broken: tensorrt {getattr(mod, '__version__', '?')} has no Builder (the PyPI "
            "download stub, or a partial install)"
        )
    return str(getattr(mod, "__version__", "unknown"))


def library_versions(
    libraries: Mapping[str, str] | None = None, *, metadata_only: Collection[str] = ()
) -> dict[str, str | None]:
    """Versions of ``libraries`` (reported name -> module; default ``LIBRARIES``: python, numpy, torch,
    onnx, onnxruntime, opencv, edgeseg), those in ``metadata_only`` read from package metadata instead
    of imported. ``None`` = not installed; ``"broken: ..."`` = installed but does not import.
    ``edgeseg.backends.library_versions()`` adds every backend's packages."""
    out: dict[str, str | None] = {}
    for report, modname in (LIBRARIES if libraries is None else libraries).items():
        if report == "python":
            out[report] = platform.python_version()
        elif report in metadata_only:
            out[report] = _metadata_version(report)
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


#: Instruction-set flags that change what INT8 / BF16 kernels a CPU runs (and so their results:
#: without VNNI, x86 int8 dot products go through int16 pairs that can saturate).
_ISA_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_bf16",
    "amx_int8",
    "asimd",
    "asimddp",
    "i8mm",
    "bf16",
    "sve",
)


def cpu_features(cpuinfo: str | None = None) -> list[str] | None:
    """The INT8/BF16-relevant ISA flags of this CPU from /proc/cpuinfo; None when it cannot be read."""
    text = _read("/proc/cpuinfo") if cpuinfo is None else cpuinfo
    if not text:
        return None
    found = set()
    for m in re.finditer(r"^(?:flags|Features)\s*:\s*(.*)$", text, re.MULTILINE):
        found.update(m.group(1).split())
    return [f for f in _ISA_FLAGS if f in found]


def has_vnni(features: list[str] | None, arch: str) -> bool | None:
    """True/False for an x86 CPU with these ISA flags (``cpu_features``); None off x86 or when unknown."""
    if arch.lower() not in ("x86_64", "amd64", "i686", "x86") or features is None:
        return None
    return "avx512_vnni" in features or "avx_vnni" in features


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
            facts["gpus"].append(
                {
                    "index": i,
                    "name": torch.cuda.get_device_name(i),
                    "compute_capability": f"{major}.{minor}",
                    "memory_bytes": int(getattr(props, "total_memory", 0)),
                }
            )
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
        "cpu_features": cpu_features(),
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
    m = re.search(
        r"^\s*Video I/O:\s*$(.*?)(?=^\s{0,2}\S[^\n]*:\s*$|\Z)", build_info, re.MULTILINE | re.DOTALL
    )
    if m:
        section = m.group(1)
    out: dict[str, dict[str, Any]] = {}
    for name, pattern in _VIDEO_KEYS.items():
        line = re.search(rf"^\s*(?:{pattern}):\s*(.*)$", section, re.MULTILINE)
        detail = line.group(1).strip() if line else "NO"
        out[name] = {
            "available": bool(detail) and not re.match(r"(?i)(no|none)\b", detail),
            "detail": detail or "NO",
        }
    return out
