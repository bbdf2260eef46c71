"""edgeseg: train, quantize, build and benchmark lightweight segmentation models for edge devices.

    import edgeseg
    m = edgeseg.load("cgnet_camvid")      # a shipped name, a .pt checkpoint or any built artifact
    res = m.predict("street.jpg")         # paths, PIL images, numpy arrays (color="rgb" default), lists

``load``, ``Model``, ``Segmentation`` and ``shipped_models`` are imported on first use, so
``import edgeseg`` stays cheap (no numpy, OpenCV or torch until then).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: Public name -> the module that defines it (imported lazily by ``__getattr__``).
_LAZY = {
    "load": "edgeseg.api",
    "Model": "edgeseg.api",
    "shipped_models": "edgeseg._shipped",
    "Segmentation": "edgeseg.result",
    "EdgesegError": "edgeseg.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgeseg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
