"""Process memory: current and peak host RSS, peak GPU memory when a GPU is used."""

from __future__ import annotations

import sys
from typing import Any

MB = 1024.0 * 1024.0


def rss_mb() -> float | None:
    """Current resident set size of this process in MiB (psutil), None when unavailable."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / MB
    except Exception:  # noqa: BLE001 - psutil missing or the platform refuses
        return None


def peak_rss_mb() -> float | None:
    """High-water mark of this process's RSS in MiB since it started (``getrusage`` maxrss).

    Linux reports kilobytes, macOS bytes. Falls back to psutil's peak (Windows) or None.
    """
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / MB if sys.platform == "darwin" else peak / 1024.0
    except ImportError:  # pragma: no cover - Windows
        try:
            import psutil

            return getattr(psutil.Process().memory_info(), "peak_wset", 0) / MB or None
        except Exception:  # noqa: BLE001
            return None


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
