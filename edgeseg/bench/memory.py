"""Process memory: current and peak host RSS of this process alone, peak GPU memory when a GPU is used."""

from __future__ import annotations

import sys
from typing import Any

MB = 1024.0 * 1024.0


def _proc_status_mb(field: str) -> float | None:
    """``VmRSS`` / ``VmHWM`` of this process from /proc/self/status in MiB (Linux), None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_mb() -> float | None:
    """Current resident set size of this process in MiB (/proc on Linux, else psutil), None when
    unavailable."""
    v = _proc_status_mb("VmRSS")
    if v is not None:
        return v
    try:
        import psutil

        return psutil.Process().memory_info().rss / MB
    except Exception:  # noqa: BLE001 - psutil missing or the platform refuses
        return None


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (Linux: ``5`` into /proc/self/clear_refs, which sets
    ``VmHWM`` to the current RSS). False where the kernel refuses or has no such file."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> tuple[float | None, str]:
    """(this process's own RSS high-water mark in MiB, where it came from).

    Linux: ``VmHWM`` of this process's address space, so a parent's peak never shows (``ru_maxrss``
    would: Linux carries the forking parent's high-water mark through fork and exec). Since the last
    ``reset_peak_rss()`` when that succeeded. Windows: psutil's ``peak_wset``. macOS: ``ru_maxrss``
    (bytes there). (None, reason) when none is available."""
    v = _proc_status_mb("VmHWM")
    if v is not None:
        return v, "VmHWM"
    try:
        import resource

        if sys.platform == "darwin":
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / MB, "ru_maxrss"
    except ImportError:  # pragma: no cover - Windows
        pass
    try:
        import psutil

        peak = getattr(psutil.Process().memory_info(), "peak_wset", None)
        if peak:
            return peak / MB, "peak_wset"
    except Exception:  # noqa: BLE001
        pass
    return None, "unavailable on this platform"


def reset_gpu_peak() -> None:
    """Reset torch's CUDA peak counter when torch with CUDA is already loaded (never imports torch)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.reset_peak_memory_stats()


def gpu_peak_mb() -> dict[str, Any] | None:
    """Peak GPU memory seen by this process, or None when no GPU was used.

    ``torch_allocated_mb``: torch's caching allocator peak (torch runners on CUDA).
    ``process_used_mb``: device memory held by this process per NVML (any backend; needs pynvml).
    """
    out: dict[str, Any] = {}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        out["torch_allocated_mb"] = torch.cuda.max_memory_allocated() / MB
        out["torch_reserved_mb"] = torch.cuda.max_memory_reserved() / MB
    nv = _nvml_process_mb()
    if nv is not None:
        out["process_used_mb"] = nv
    return out or None


def _nvml_process_mb() -> float | None:
    try:
        import os

        import pynvml  # optional (nvidia-ml-py)
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        pid = os.getpid()
        used = 0
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(h):
                if proc.pid == pid and proc.usedGpuMemory:
                    used += proc.usedGpuMemory
        return used / MB if used else None
    except Exception:  # noqa: BLE001 - NVML absent (Jetson) or refused
        return None
