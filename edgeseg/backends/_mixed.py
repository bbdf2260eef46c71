"""``build --int8 --max-drop``: the search of ``edgeseg quantize --max-drop`` run inside a CPU PTQ build.

One search (``edgeseg.quant.mixed_ptq``), three ways of keeping its layers float, each the path
``quantize`` already has, run into the build's work area (a temporary folder beside the output, not kept):

- onnxruntime: ``quantize_cpu`` (ONNX Runtime's static quantization with the chosen nodes in
  ``nodes_to_exclude``), then that Q/DQ ONNX is optimized like any Q/DQ ONNX;
- openvino: ``quantize_ptq`` (the mixed Q/DQ export: no Q/DQ on the float layers), then converted;
- executorch: ``proxy_float_layers`` on edgeseg's fake quant; the build leaves those modules out of the
  XNNPACK quantizer's annotation.

The search starts from the FP32 checkpoint (a ``.pt``, or an FP32 edgeseg ONNX with it beside).
Every refusal is one line, before any work. The built card carries the search's record
(``extra["quantization"]["mixed"]``: layers, why, budget, achieved drop), as ``quantize``'s card does.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from edgeseg.errors import BuildError, UnsupportedOptionError

T = TypeVar("T")

#: The backends whose ``--int8`` build takes ``--max-drop``.
MIXED_BACKENDS = ("onnxruntime", "openvino", "executorch")
#: What to do instead, for the backends that do not take it.
ELSEWHERE = {
    "tensorrt": "run `edgeseg quantize CHECKPOINT --max-drop POINTS --calib FRAMES --val-data SPEC` "
    "(a mixed Q/DQ ONNX; --cast-fp16 for TensorRT 11) and build its output with --backend tensorrt",
    "coreml": "Core ML's --int8 quantizes the weights only, so there are no INT8 activations to keep float",
    "torch": "the torch backend runs the checkpoint as it is, in float (nothing is built); build it with "
    "--backend onnxruntime, openvino or executorch --int8 --max-drop",
}
#: The flags that only work with --max-drop: flag -> build keyword.
WITH_MAX_DROP = {
    "--class-drop": "class_drop",
    "--sensitivity-frames": "sensitivity_frames",
    "--val-data": "val_data",
    "--layer-cost": "layer_cost",
    "--prefer-cheap": "prefer_cheap",
    "--drop-reference": "drop_reference",
    "--budget-frames": "budget_frames",
}
#: The build keywords of ``WITH_MAX_DROP`` and ``--max-drop`` itself, as ``mixed_request`` takes them.
MIXED_KEYWORDS = ("max_drop", *WITH_MAX_DROP.values())


def refuse_elsewhere(backend: str, values: Mapping[str, Any]) -> None:
    """One line for ``--max-drop`` on a backend that does not take it, saying what to do instead
    (checked before the generic option check, whose line would not say it)."""
    if values.get("max_drop") is not None and backend not in MIXED_BACKENDS:
        how = ELSEWHERE.get(backend, f"it is for --backend {', '.join(MIXED_BACKENDS)}")
        raise UnsupportedOptionError(f"--backend {backend} does not take --max-drop: {how}")


def check_build_request(
    backend: str,
    values: Mapping[str, Any],
    specs: Mapping[str, Any],
    *,
    measure_for: Callable[[str | None], Callable[..., dict[str, Any]] | None] | None = None,
) -> tuple[dict[str, Any], Any]:
    """(the build keywords ``values`` gives ``backend``, its ``MixedRequest`` or None): the checks of a build
    request before any file is read, in this order: ``--max-drop`` on a backend that does not take it (what
    to do instead), an option ``backend`` does not take (``specs``: ``BACKENDS``), the ``--max-drop``
    request (``mixed_request``; ``measure_for(layer_cost)`` gives the measuring function ``--layer-cost
    openvino`` needs, default None: none; its ``.measure``). ``edgeseg build`` and ``Model.build`` both call
    it with ``edgeseg.bench.cost_source.measure_for``."""
    from edgeseg.backends._options import check_options

    refuse_elsewhere(backend, values)
    given = check_options(backend, values, specs)
    asked = measure_for is not None and values.get("max_drop") is not None  # else mixed_request says why not
    measure = measure_for(values.get("layer_cost")) if asked else None
    mixed = mixed_request(
        int8=bool(values.get("int8")),
        calib=values.get("calib"),
        layer_cost_measure=measure,
        **{k: values.get(k) for k in MIXED_KEYWORDS},
    )
    return given, mixed


def build_sources(sources: tuple[str, ...], *, mixed: bool) -> tuple[str, ...]:
    """The file endings a build takes: the spec's ``sources``, and a .pt checkpoint when ``mixed``
    (``--max-drop``: the search starts from the FP32 checkpoint on every backend)."""
    return sources if not mixed or ".pt" in sources else (*sources, ".pt")


def mixed_request(
    *,
    int8: bool,
    calib: str | None,
    max_drop: float | None,
    class_drop: float | None = None,
    sensitivity_frames: int | None = None,
    val_data: str | None = None,
    layer_cost: str | None = None,
    prefer_cheap: bool | None = None,
    drop_reference: str | None = None,
    budget_frames: int | None = None,
    layer_cost_measure: Callable[..., dict[str, Any]] | None = None,
) -> Any:
    """The ``MixedRequest`` of a build (None without ``max_drop``), or a one-line error: a flag of
    ``WITH_MAX_DROP`` without ``--max-drop``, ``--max-drop`` without ``--int8``, ``--calib`` or
    ``--val-data``, a budget that is not a positive number, a bad ``layer_cost`` (default "flops"; a
    FILE.json is read and checked here, as ``quantize`` does: ``MixedRequest.check_cost``) or "openvino"
    without ``layer_cost_measure`` (``edgeseg.bench.layer_cost_openvino.measure_layer_cost``, which the CLI
    and ``Model.build`` pass). ``prefer_cheap`` (default False): rank by sensitivity per unit of cost.
    ``drop_reference`` (default "fp32": mIoU@FP32; "labels": label mIoU against ``val_data``'s labels).
    ``budget_frames`` (default None: the sensitivity frames): the frames the budget is checked on."""
    from edgeseg.quant.fallback_search import DEFAULT_CLASS_DROP, Budget
    from edgeseg.quant.mixed_ptq import MixedRequest
    from edgeseg.quant.sensitivity import DEFAULT_FRAMES

    given = {
        "class_drop": class_drop,
        "sensitivity_frames": sensitivity_frames,
        "val_data": val_data,
        "layer_cost": layer_cost,
        "prefer_cheap": prefer_cheap,
        "drop_reference": drop_reference,
        "budget_frames": budget_frames,
    }
    if max_drop is None:
        flags = [f for f, k in WITH_MAX_DROP.items() if given[k] is not None]
        if flags:
            raise UnsupportedOptionError(
                f"{', '.join(flags)} only work with --max-drop (the accuracy budget)"
            )
        return None
    if not int8:
        raise UnsupportedOptionError(
            "--max-drop needs --int8: it chooses which layers of an INT8 build stay float"
        )
    if not calib:
        raise BuildError("--max-drop needs --calib LIST|DIR|SPEC (the frames INT8 is calibrated on)")
    if not val_data:
        raise BuildError("--max-drop needs --val-data SPEC (the frames it scores on, val split)")
    reference = "fp32" if drop_reference is None else drop_reference
    Budget(
        max_drop=max_drop,
        class_drop=DEFAULT_CLASS_DROP if class_drop is None else class_drop,
        reference=reference,
    )
    frames = DEFAULT_FRAMES if sensitivity_frames is None else sensitivity_frames
    for flag, v in (("--sensitivity-frames", frames), ("--budget-frames", budget_frames)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise BuildError(f"{flag}: expected a whole number >= 1, found {v!r}")
    if layer_cost == "openvino" and layer_cost_measure is None:
        raise BuildError(
            "--layer-cost openvino needs the measuring function: pass layer_cost_measure=edgeseg.bench."
            "layer_cost_openvino.measure_layer_cost (edgeseg build and Model.build pass it)"
        )
    request = MixedRequest(
        max_drop,
        class_drop=class_drop,
        frames=frames,
        layer_cost="flops" if layer_cost is None else layer_cost,
        prefer_cheap=bool(prefer_cheap),
        reference=reference,
        budget_frames=budget_frames,
        measure=layer_cost_measure,
    )
    request.check_cost()  # a bad --layer-cost value or file: one line, before any work (as quantize)
    return request


def fp32_checkpoint(model: str | os.PathLike, *, backend: str) -> tuple[Path, tuple[int, int] | None, str]:
    """(FP32 checkpoint, the ONNX's fixed input size or None, what was used) the search starts from:
    ``model`` itself (a .pt) or the checkpoint an FP32 edgeseg ONNX names (beside it, hash-checked)."""
    from edgeseg.backends._checkpoint import find_checkpoint
    from edgeseg.card import card_from_onnx

    p = Path(model)
    if p.suffix.lower() == ".onnx" and p.is_file():
        precision = card_from_onnx(p).precision
        if precision != "fp32":
            raise BuildError(
                f"{p.name} is already {precision}: --max-drop quantizes from the FP32 checkpoint "
                "(pass it, or build this file without --max-drop)"
            )
    ckpt, size, used = find_checkpoint(p, backend=backend, converter="the --max-drop search (PyTorch)")
    return ckpt, size, used


def build_from_mixed(
    backend: str, model: str | os.PathLike, *, out: Path, then: Callable[[Path], T], **search: Any
) -> T:
    """``then(INT8 ONNX)``: the search's INT8 ONNX (``mixed_onnx(backend, model, **search)``: its keywords
    but ``work``) written into a work folder beside the build's output ``out`` and removed after
    ``then`` (the backend's own build of it) has run."""
    with tempfile.TemporaryDirectory(prefix=f".edgeseg-{backend}-mixed-", dir=out.parent) as work:
        return then(mixed_onnx(backend, model, work=Path(work), **search))


def mixed_onnx(
    backend: str,
    model: str | os.PathLike,
    *,
    work: Path,
    mixed: Any,
    val_data: str,
    calib: str,
    calib_num: int | None,
    per_channel: bool = True,
    command: str | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """The INT8 ONNX ``quantize --max-drop`` writes for ``backend`` ("onnxruntime": ``quantize_cpu``'s ONNX
    Runtime CPU INT8; "openvino": ``quantize_ptq``'s mixed Q/DQ ONNX), written into ``work``; the
    calibration request is ``calib`` with ``calib_num`` frames (default 256)."""
    from edgeseg.data.calib_request import CalibRequest
    from edgeseg.quant.pipeline import quantize_cpu, quantize_ptq
    from edgeseg.quant.val_check import ValCheck

    if backend not in ("onnxruntime", "openvino"):
        raise BuildError(f"--backend {backend}: no mixed INT8 ONNX path (expected onnxruntime or openvino)")
    ckpt, size, used = fp32_checkpoint(model, backend=backend)
    request = CalibRequest(source=calib, num=calib_num)
    log(f"--max-drop {mixed.max_drop:g}: the search of `edgeseg quantize --max-drop` on {used}")
    if backend == "onnxruntime":
        val = ValCheck(data=val_data)
        out = work / f"{ckpt.stem}_int8_cpu.onnx"
        quantize_cpu(
            ckpt, calib=request, output=out, size=size, val=val, mixed=mixed, per_channel=per_channel, log=log
        )
    else:
        val = ValCheck(data=val_data, max_frames=mixed.frames)  # INT8 vs FP32 on labels, the same frames
        out = work / f"{ckpt.stem}_int8.onnx"
        quantize_ptq(
            ckpt,
            calib=request,
            output=out,
            size=size,
            val=val,
            mixed=mixed,
            device="cpu",
            progress=False,
            command=command,
            log=log,
        )
    _note_made_in(out, ckpt)
    return out


def _note_made_in(path: Path, ckpt: Path) -> None:
    """Say in the mixed record of ``path``'s card that this INT8 ONNX was made inside a build, not kept,
    from ``ckpt`` (its card's ``source``)."""
    import onnx

    from edgeseg.card import card_from_onnx, card_to_onnx
    from edgeseg.train.checkpoint import checkpoint_source

    proto = onnx.load(str(path))
    card = card_from_onnx(proto)
    quant = dict(card.extra.get("quantization") or {})
    quant["mixed"] = {
        **(quant.get("mixed") or {}),
        "made_in": f"edgeseg build --max-drop: {path.name} (the search's INT8 ONNX) in the build's "
        "work area, not kept",
    }
    extra = {**card.extra, "quantization": quant}
    card_to_onnx(proto, card.replace(source=checkpoint_source(ckpt), extra=extra))
    onnx.save(proto, str(path))


def proxy_layers(
    net: Any,
    card: Any,
    *,
    mixed: Any,
    val_data: str,
    calib: str,
    calib_num: int | None,
    log: Callable[[str], None] = print,
) -> tuple[list[str], dict[str, Any]]:
    """(modules to leave float, the card's record) for a build that quantizes PyTorch itself (ExecuTorch):
    ``quant.mixed_ptq.proxy_float_layers`` on ``calib`` (``calib_num`` frames, default 256)."""
    from edgeseg.data.calib_request import CalibRequest
    from edgeseg.quant.methods import with_defaults
    from edgeseg.quant.mixed_ptq import proxy_float_layers

    request = with_defaults(CalibRequest(source=calib, num=calib_num), "ptq")
    log(f"--max-drop {mixed.max_drop:g}: the search of `edgeseg quantize --max-drop` ({request.num} frames)")
    return proxy_float_layers(net, card, request, mixed, data=val_data, split="val", progress=False, log=log)
