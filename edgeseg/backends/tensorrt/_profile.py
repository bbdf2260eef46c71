"""The TensorRT optimization profile for a dynamic input (``edgeseg build --shapes min/opt/max``).

``IOptimizationProfile.set_shape`` raises (ValueError in the bindings) on an inconsistent
min/opt/max, and ``IBuilderConfig.add_optimization_profile`` returns -1 for a profile TensorRT
finds invalid; both become a BuildError that names ``--shapes`` and the shapes given.
"""

from __future__ import annotations

from typing import Any

from edgeseg.onnxgraph.info import Profile
from edgeseg.errors import BuildError


def shapes_text(profile: Profile) -> str:
    """'1x3x64x96/2x3x64x96/4x3x64x96' (the --shapes spelling)."""
    return "/".join("x".join(str(int(v)) for v in s) for s in (profile.min, profile.opt, profile.max))


def add_profile(builder: Any, config: Any, profile: Profile) -> Any:
    """Create, fill and add the profile for ``profile.name``; returns the TensorRT profile object."""
    prof = builder.create_optimization_profile()
    try:
        prof.set_shape(profile.name, profile.min, profile.opt, profile.max)
    except (ValueError, RuntimeError, TypeError) as e:
        raise BuildError(
            f"--shapes {shapes_text(profile)}: TensorRT refused min/opt/max for input {profile.name!r} "
            f"({e}); "
            "each dimension needs min <= opt <= max, and fixed dimensions must match the ONNX"
        ) from e
    index = config.add_optimization_profile(prof)
    if index is None or int(index) < 0:
        raise BuildError(
            f"--shapes {shapes_text(profile)}: TensorRT found the optimization profile for input "
            f"{profile.name!r} "
            "invalid (add_optimization_profile returned -1); check it against the ONNX input's shape"
        )
    return prof
