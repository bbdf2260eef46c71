"""Which TensorRT build path to take for a precision request, per TensorRT version. Pure Python.

TensorRT changed how reduced precision is asked for:

- 8.5 - 9.x: weak typing. FP16 and INT8 are builder flags; INT8 comes either from a Q/DQ ONNX
  (explicit quantization) or from a calibrator (implicit quantization).
- 10.x: the same flags, but implicit quantization (calibrators) is deprecated (10.1) in favour
  of Q/DQ ONNX models; we warn and point to ``edgeseg quantize --method ptq``. From 10.12 the
  precision flags themselves (``BuilderFlag.FP16/INT8``) are deprecated in favour of strong
  typing. We keep the flag path through 10.x (weak typing still builds there, it lets TensorRT
  keep a layer FP32 when that is faster or needed, and implicit INT8 needs it) and say so in the
  path line; 11.x, where the flags are gone, builds strongly typed (below).
- 11.x: weak typing, the precision flags and calibrators are removed. Every network is
  strongly typed: FP16 means an FP16 ONNX (we convert it, IO kept float32), INT8 means a Q/DQ ONNX.

``plan_build`` decides; ``edgeseg.backends.tensorrt.build`` executes the plan. Keeping the decision here
means it is tested for every version without TensorRT installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from edgeseg.errors import BuildError

#: Oldest TensorRT we support: the name-based tensor API (set_tensor_address / execute_async_v3).
MIN_VERSION = (8, 5)
#: First TensorRT that deprecates BuilderFlag.FP16 / INT8 ("superseded by strong typing").
FLAGS_DEPRECATED = (10, 12)

QDQ_HINT = "make a Q/DQ ONNX with `edgeseg quantize --method ptq` (or --method qat) and build that"


@dataclass(frozen=True)
class BuildPlan:
    """What to do for one build.

    - ``path_name``: the line printed to the user, e.g. "TensorRT 10.3: FP16 via builder flag".
    - ``path_id``: a short stable key for cards and reports ("fp16-flag", "int8-qdq-strong", ...).
    - ``flags``: names of ``trt.BuilderFlag`` members to set (empty on 11.x).
    - ``strongly_typed``: create the network with ``NetworkDefinitionCreationFlag.STRONGLY_TYPED``.
    - ``explicit_batch``: create the network with ``EXPLICIT_BATCH`` (required before 10.0).
    - ``needs_calibrator``: implicit INT8; an entropy/min-max calibrator (or its cache) is used.
    - ``convert_fp16_onnx``: convert the ONNX to FP16 (IO float32) before parsing.
    - ``precision``: "fp32", "fp16" or "int8" for the model card.
    - ``warnings``: messages to print once.
    """

    trt_version: str
    path_name: str
    path_id: str
    precision: str
    flags: tuple[str, ...] = ()
    strongly_typed: bool = False
    explicit_batch: bool = False
    needs_calibrator: bool = False
    convert_fp16_onnx: bool = False
    warnings: tuple[str, ...] = field(default=())


def parse_version(version: str) -> tuple[int, int]:
    """'10.3.0.26' -> (10, 3). Raises BuildError for anything else."""
    m = re.match(r"^\s*(\d+)\.(\d+)", str(version))
    if not m:
        raise BuildError(f"cannot read the TensorRT version {version!r} (expected e.g. 8.6.2 or 10.3.0)")
    return int(m.group(1)), int(m.group(2))


def plan_build(
    trt_version: str,
    *,
    onnx_is_qdq: bool,
    fp16: bool,
    int8: bool,
    calib: bool,
    dla: bool = False,
) -> BuildPlan:
    """Decide the build path. ``calib``: a calibration set (or a matching cache) is available.

    A Q/DQ ONNX always builds INT8 (its scales are in the graph; ``--int8`` is implied and a
    calibration set is not used). Raises BuildError for requests a version cannot serve.
    """
    major, minor = parse_version(trt_version)
    vname = f"TensorRT {major}.{minor}"
    if (major, minor) < MIN_VERSION:
        raise BuildError(
            f"{vname} is too old: edgeseg needs TensorRT {MIN_VERSION[0]}.{MIN_VERSION[1]} or newer "
            "(the name-based tensor API); upgrade JetPack (5.1+ ships 8.5) or TensorRT"
        )
    warns: list[str] = []
    if onnx_is_qdq and not int8:
        warns.append("the ONNX has Q/DQ nodes, so it builds INT8 (--int8 implied)")
        int8 = True
    if onnx_is_qdq and calib:
        warns.append("the Q/DQ ONNX carries its own scales: the calibration set/cache is not used")
    if dla and not (fp16 or int8):
        raise BuildError("--dla-core needs --fp16 or --int8: the DLA runs only FP16 and INT8 layers")

    if major >= 11:
        common = dict(trt_version=trt_version, strongly_typed=True, explicit_batch=False)
        if int8 and not onnx_is_qdq:
            raise BuildError(
                f"{vname} removed implicit INT8 calibration (calibrators and the INT8 builder flag): "
                f"an FP32 ONNX cannot be built INT8 there; {QDQ_HINT}"
            )
        if int8:
            if fp16:
                warns.append(
                    f"{vname} is strongly typed: layers outside the Q/DQ pairs run at the ONNX's own "
                    "precision (FP32); --fp16 does not change them"
                )
            return BuildPlan(
                path_name=f"{vname}: strongly typed INT8 Q/DQ ONNX",
                path_id="int8-qdq-strong",
                precision="int8",
                warnings=tuple(warns),
                **common,
            )
        if fp16:
            return BuildPlan(
                path_name=f"{vname}: strongly typed FP16 ONNX",
                path_id="fp16-strong",
                precision="fp16",
                convert_fp16_onnx=True,
                warnings=tuple(warns),
                **common,
            )
        return BuildPlan(
            path_name=f"{vname}: strongly typed FP32 ONNX",
            path_id="fp32-strong",
            precision="fp32",
            warnings=tuple(warns),
            **common,
        )

    # Weakly typed: 8.5 - 10.x.
    common = dict(trt_version=trt_version, strongly_typed=False, explicit_batch=major < 10)
    dep = ""
    if (major, minor) >= FLAGS_DEPRECATED:
        dep = (
            f" (deprecated since TensorRT {FLAGS_DEPRECATED[0]}.{FLAGS_DEPRECATED[1]} in favour of "
            "strong typing; "
            "still supported on 10.x, TensorRT 11 builds strongly typed)"
        )
    if int8 and onnx_is_qdq:
        return BuildPlan(
            path_name=f"{vname}: explicit INT8 from Q/DQ ONNX via builder flags INT8+FP16{dep}",
            path_id="int8-qdq-flags",
            precision="int8",
            flags=("INT8", "FP16"),
            warnings=tuple(warns),
            **common,
        )
    if int8:
        if not calib:
            raise BuildError(
                "--int8 with an FP32 ONNX needs a calibration set (--calib LIST|DIR) or a matching "
                f"--calib-cache; or {QDQ_HINT}"
            )
        if major >= 10:
            warns.append(
                f"{vname} deprecates implicit INT8 calibration and TensorRT 11 removes it; {QDQ_HINT}"
            )
        return BuildPlan(
            path_name=f"{vname}: implicit INT8 via calibrator and builder flags INT8+FP16{dep}",
            path_id="int8-calib",
            precision="int8",
            flags=("INT8", "FP16"),
            needs_calibrator=True,
            warnings=tuple(warns),
            **common,
        )
    if fp16:
        return BuildPlan(
            path_name=f"{vname}: FP16 via builder flag{dep}",
            path_id="fp16-flag",
            precision="fp16",
            flags=("FP16",),
            warnings=tuple(warns),
            **common,
        )
    return BuildPlan(
        path_name=f"{vname}: FP32", path_id="fp32", precision="fp32", warnings=tuple(warns), **common
    )
