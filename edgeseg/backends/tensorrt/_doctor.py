"""What ``edgeseg doctor`` reports about TensorRT: version, builder capabilities and edgeseg's build paths."""

from __future__ import annotations

from typing import Any

from edgeseg.backends._spec import row, usable
from edgeseg.backends.tensorrt._env import PYCUDA_HINT, TRT_HINT


def _trt_paths(version: str) -> dict[str, str]:
    """The build path edgeseg takes for --fp16 and --int8 on this TensorRT (from ``_plan``)."""
    from edgeseg.backends.tensorrt._plan import plan_build

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
    from edgeseg._env import _module_version, import_module

    trt, problem = import_module("tensorrt")
    if trt is None or not hasattr(trt, "Builder"):
        facts: dict[str, Any] = {"installed": False, "how_to_get": TRT_HINT}
        if problem or trt is not None:
            facts["problem"] = problem or _module_version("tensorrt", trt)
        return facts
    version = str(getattr(trt, "__version__", "unknown"))
    facts = {"installed": True, "version": version, "paths": _trt_paths(version)}
    try:
        builder = trt.Builder(
            trt.Logger(trt.Logger.WARNING) if hasattr(trt.Logger, "WARNING") else trt.Logger()
        )
        if builder is None:
            raise RuntimeError("tensorrt.Builder returned None")
        for key, attr in (
            ("fast_fp16", "platform_has_fast_fp16"),
            ("fast_int8", "platform_has_fast_int8"),
            ("dla_cores", "num_DLA_cores"),
        ):
            value = getattr(builder, attr, None)
            facts[key] = value if value is None or isinstance(value, (bool, int)) else str(value)
    except Exception as e:  # noqa: BLE001 - no GPU / no driver: TensorRT raises various types
        facts["builder_error"] = f"{e.__class__.__name__}: {e}"
    return facts


def doctor_rows(versions: dict[str, str | None], machine: dict[str, Any]) -> list[dict[str, Any]]:
    trt = tensorrt_facts()
    if not trt["installed"]:
        gpu_note = (
            ""
            if machine.get("cuda_available") or machine.get("jetson")
            else "; this machine has no NVIDIA GPU, so TensorRT cannot run here"
        )
        what = trt.get("problem") or "tensorrt is not installed"
        return [
            row(
                "tensorrt",
                False,
                False,
                f"{what}: {TRT_HINT}{gpu_note}",
                versions.get("tensorrt"),
                tensorrt=trt,
            )
        ]
    if trt.get("builder_error"):
        return [
            row(
                "tensorrt",
                False,
                False,
                f"TensorRT {trt['version']} is installed but cannot create a builder "
                f"({trt['builder_error']}); is there an NVIDIA GPU and driver?",
                trt["version"],
                tensorrt=trt,
            )
        ]
    run_ok = usable(versions, "pycuda")
    reason = f"TensorRT {trt['version']}" + (
        "" if run_ok else f"; running engines needs pycuda: {PYCUDA_HINT}"
    )
    return [row("tensorrt", True, run_ok, reason, trt["version"], tensorrt=trt)]
