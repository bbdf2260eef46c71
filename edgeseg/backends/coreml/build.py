"""Build a Core ML ML Program (``.mlpackage``, FP16 compute, optional INT8 weights) from the PyTorch
checkpoint. coremltools 7+ has no ONNX converter, so an ``.onnx`` argument is only used to find its
checkpoint (named in the ONNX card's ``source``, looked up beside the ONNX and hash-checked) and
its input size.

The graph is captured with ``torch.export`` (falling back to ``torch.jit.trace``), converted with
``ct.convert(convert_to="mlprogram", compute_precision=FLOAT16 or FLOAT32)`` with float32 IO, optionally
weight-quantized with ``coremltools.optimize.coreml.linear_quantize_weights`` (INT8, symmetric,
per-channel), and written atomically as a folder with the card in ``user_defined_metadata`` and a
sidecar ``model.mlpackage.card.json``. The spec is re-read and validated after writing (works on
Linux; prediction needs macOS).
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Callable

from edgeseg._io import atomic_path, check_output_path, ensure_writable_dir
from edgeseg.backends._build import BuildResult, build_time, timed_build
from edgeseg.backends.coreml import (  # noqa: F401 - CLASSES_KEY, METADATA_KEY re-exported for callers of build
    CLASSES_KEY,
    DEFAULT_TARGET,
    INPUT_NAME,
    METADATA_KEY,
    OUTPUT_NAME,
    _quiet,
    import_coremltools,
)
from edgeseg.card import ModelCard
from edgeseg.errors import BuildError


def find_checkpoint(model: str | os.PathLike) -> tuple[Path, tuple[int, int] | None, str]:
    """(checkpoint, input size from the ONNX or None, a sentence saying what was used)."""
    from edgeseg.backends._checkpoint import find_checkpoint as find

    return find(model, backend="coreml", converter="coremltools")


@timed_build("coreml")
def build_coreml(
    model: str | os.PathLike,
    *,
    output: str | os.PathLike | None = None,
    fp16: bool = True,
    int8: bool = False,
    min_target: str = DEFAULT_TARGET,
    command: str | None = None,
    log: Callable[[str], None] = print,
) -> BuildResult:
    """Write ``output`` (default: <checkpoint stem>.mlpackage beside the input). ``fp16`` (default
    True): FP16 compute; False: FP32 compute. ``int8`` adds INT8 linear weight quantization (with
    either compute precision). Core ML prediction needs macOS, so the build is not compared with its
    source here (the summary says so)."""
    import numpy as np
    import torch

    from edgeseg.train.checkpoint import checkpoint_source, load_checkpoint

    ct = import_coremltools()
    ckpt, onnx_size, used = find_checkpoint(model)
    out = Path(output or Path(model).with_name(f"{ckpt.stem}.mlpackage"))
    if out.is_dir():
        ensure_writable_dir(out.parent if str(out.parent) else Path("."))
    elif out.exists():
        raise BuildError(f"output {out} exists and is not a folder (a .mlpackage is a folder)")
    else:
        check_output_path(out)
    if out.suffix != ".mlpackage":
        raise BuildError(f"Core ML output must end in .mlpackage, found {out.name}")
    target = getattr(ct.target, min_target, None)
    if target is None or target < ct.target.iOS16:
        raise BuildError(
            f"--min-target {min_target!r}: expected iOS16/macOS13 or newer (e.g. iOS17, macOS14)"
        )
    log(f"using {used}")
    net, card, _ = load_checkpoint(ckpt)
    h, w = onnx_size or card.input_size
    example = torch.zeros(1, 3, h, w)
    graph, how = _capture(net, example)
    from edgeseg._libprogress import capture_progress

    with _quiet(), capture_progress(
        "coremltools", log=log
    ):  # its "Running MIL ..." bars: one summary line in a log
        try:
            ml = ct.convert(
                graph,
                inputs=[ct.TensorType(name=INPUT_NAME, shape=(1, 3, h, w), dtype=np.float32)],
                outputs=[ct.TensorType(name=OUTPUT_NAME, dtype=np.float32)],
                convert_to="mlprogram",
                compute_precision=ct.precision.FLOAT16 if fp16 else ct.precision.FLOAT32,
                minimum_deployment_target=target,
            )
        except Exception as e:  # noqa: BLE001 - the converter raises many kinds
            raise BuildError(
                f"Core ML conversion of {card.arch!r} failed: {str(e).splitlines()[0][:300]}"
            ) from e
        if int8:
            from coremltools.optimize.coreml import (
                OpLinearQuantizerConfig,
                OptimizationConfig,
                linear_quantize_weights,
            )

            cfg = OptimizationConfig(
                global_config=OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8")
            )
            ml = linear_quantize_weights(ml, config=cfg)
    compute = "fp16" if fp16 else "fp32"
    path_name = f"coremltools {ct.__version__}: ML Program from {how}, {compute.upper()} compute" + (
        ", INT8 weights" if int8 else ""
    )
    new_card = card.replace(
        precision=compute,
        input_size=(int(h), int(w)),
        source=checkpoint_source(ckpt),
        extra={
            **card.extra,
            "backend": "coreml",
            "coremltools_version": ct.__version__,
            "compute_precision": compute,
            "weights": "int8" if int8 else compute,
            "minimum_deployment_target": min_target,
            "graph_capture": how,
            "build_path": path_name,
            **build_time(),
            "build_command": command,
        },
    )
    ml.user_defined_metadata[METADATA_KEY] = new_card.to_json()
    ml.user_defined_metadata[CLASSES_KEY] = ",".join(card.class_names)
    ml.short_description = f"edgeseg {card.arch} semantic segmentation ({card.num_classes} classes)"
    ml.input_description[INPUT_NAME] = (
        f"NCHW float32 1x3x{h}x{w}, {card.channel_order}, normalized with the card's mean/std"
    )
    ml.output_description[OUTPUT_NAME] = f"NCHW float32 logits 1x{card.num_classes}x{h}x{w}"
    _write_package(ml, out, new_card)
    new_card.write_sidecar(out)
    from edgeseg.backends.coreml import run_problem

    why = run_problem()
    return BuildResult(
        path=out,
        precision=compute,
        path_name=path_name,
        card=new_card,
        comparison={"skipped": why} if why else _compare(out, ckpt, new_card),
    )


def _compare(package: Path, ckpt: Path, card: ModelCard) -> dict[str, Any]:
    """The package (Core ML, macOS) against PyTorch on its checkpoint; reported, not enforced (FP16
    compute)."""
    from edgeseg.backends._build import compare_with_source
    from edgeseg.backends.coreml.runner import CoreMLRunner

    with CoreMLRunner(package) as runner:
        return compare_with_source(
            runner.infer,
            ckpt,
            card,
            precision=card.precision,
            enforce=False,
            what="Core ML package",
            size=tuple(card.input_size),
        )


def _write_package(ml: Any, out: Path, card: ModelCard) -> None:
    """Save and validate in a temp folder, then move it into place; an existing package is replaced
    only once the new one is complete."""
    if not out.is_dir():
        with atomic_path(out) as tmp:
            ml.save(str(tmp))
            validate_package(tmp, card=card)
        return
    # edgeseg._io.atomic_path refuses an existing folder target (check_output_path), so stage beside it.
    staging, old = out.with_name(f".new.{out.name}"), out.with_name(f".old.{out.name}")
    shutil.rmtree(staging, ignore_errors=True)
    with atomic_path(staging) as tmp:
        ml.save(str(tmp))
        validate_package(tmp, card=card)
    shutil.rmtree(old, ignore_errors=True)
    os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def _capture(net: Any, example: Any) -> tuple[Any, str]:
    """torch.export (what coremltools recommends) or, if that fails, torch.jit.trace."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.export.export(net, (example,)).run_decompositions({}), "torch.export"
    except Exception as first:  # noqa: BLE001
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return torch.jit.trace(net, example), "torch.jit.trace"
        except Exception as e:  # noqa: BLE001
            raise BuildError(
                f"could not capture the model graph: torch.export: {first}; torch.jit.trace: {e}"
            ) from e


def validate_package(path: str | os.PathLike, *, card: ModelCard) -> dict[str, Any]:
    """Re-read the spec (no Core ML runtime needed) and check IO names, shapes, dtypes and metadata."""
    ct = import_coremltools()
    with _quiet():
        spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    desc = spec.description
    if not spec.HasField("mlProgram"):
        raise BuildError(f"{path}: not an ML Program")
    h, w = card.input_size
    fp32 = ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    ins = {i.name: i for i in desc.input}
    outs = {o.name: o for o in desc.output}
    if list(ins) != [INPUT_NAME] or list(outs) != [OUTPUT_NAME]:
        raise BuildError(
            f"{path}: expected input {INPUT_NAME!r} and output {OUTPUT_NAME!r}, "
            f"found {list(ins)} / {list(outs)}"
        )
    arr_in, arr_out = ins[INPUT_NAME].type.multiArrayType, outs[OUTPUT_NAME].type.multiArrayType
    if tuple(arr_in.shape) != (1, 3, h, w):
        raise BuildError(f"{path}: input shape {tuple(arr_in.shape)}, expected {(1, 3, h, w)}")
    if arr_in.dataType != fp32 or arr_out.dataType != fp32:
        raise BuildError(f"{path}: IO must be float32")
    if arr_out.shape and tuple(arr_out.shape) != (1, card.num_classes, h, w):
        raise BuildError(
            f"{path}: output shape {tuple(arr_out.shape)}, expected {(1, card.num_classes, h, w)}"
        )
    meta = dict(desc.metadata.userDefined)
    if METADATA_KEY not in meta:
        raise BuildError(f"{path}: the model card is missing from user_defined_metadata")
    ModelCard.from_json(meta[METADATA_KEY], where=str(path))
    ops: dict[str, int] = {}
    for fn in spec.mlProgram.functions.values():
        for block in fn.block_specializations.values():
            for op in block.operations:
                ops[op.type] = ops.get(op.type, 0) + 1
    return {"spec_version": spec.specificationVersion, "ops": ops, "metadata": meta}
