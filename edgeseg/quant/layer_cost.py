"""What leaving a unit in float costs, per unit, for the fallback search's ``prefer_cheap`` ranking.

:func:`flops_cost` counts each weighted op's multiply-adds (x2) at the model's input size, in GFLOP per
frame. It is an ESTIMATE of relative cost, not a latency: an INT8 -> FP16 (TensorRT) or INT8 -> FP32
(CPU) fallback costs roughly in proportion to the layer's math while that math dominates, and less for
memory-bound layers (depthwise convs). Residual quantizer units cost 0 here.

A *layer-cost record* (:func:`cost_table`) carries a cost per unit with its source and label, so the card and
the report say what the numbers are: "flops" (this estimate) or "openvino" (ms per frame measured on
OpenVINO CPU by ``edgeseg.bench.layer_cost_openvino``; the command layer passes that measuring function
down, or the JSON it wrote: :func:`read_cost_file`). A unit the measurement could not see has cost None.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from edgeseg.errors import QuantizationError
from edgeseg.quant.fakequant import QUANT_MODULES, quantizers
from edgeseg.quant.mixed import units

#: How the card and the report label these numbers.
FLOPS_LABEL = "GFLOP per frame (estimate from FLOPs, not measured)"


def flops_cost(qmodel: nn.Module, example: np.ndarray) -> dict[str, float]:
    """{unit: GFLOP per frame} for the weighted units of ``qmodel`` (calibrated or not; its quantizers'
    modes are restored) on ``example`` (one NCHW batch)."""
    kinds = tuple(QUANT_MODULES.values())
    out: dict[str, float] = {u: 0.0 for u in units(qmodel)}
    hooks = []

    def hook(name: str):
        def fn(m: nn.Module, inp: Any, y: torch.Tensor) -> None:
            if isinstance(m, nn.Linear):
                macs = y.numel() * m.in_features
            else:
                k = int(np.prod(m.kernel_size))
                cin = m.in_channels // m.groups
                macs = (
                    y.numel() * cin * k if isinstance(m, nn.Conv2d) else inp[0].numel() * m.out_channels * k
                )
            out[name] = 2.0 * macs / y.shape[0] / 1e9

        return fn

    for name, m in qmodel.named_modules():
        if isinstance(m, kinds) and name in out:
            hooks.append(m.register_forward_hook(hook(name)))
    saved = {n: q.mode for n, q in quantizers(qmodel).items()}
    for q in quantizers(qmodel).values():
        q.mode = "off"  # shapes only: calibrated or not
    try:
        with torch.inference_mode():
            qmodel.eval()(torch.from_numpy(np.ascontiguousarray(example[:1])))
    finally:
        for h in hooks:
            h.remove()
        for n, q in quantizers(qmodel).items():
            q.mode = saved[n]
    return out


#: The ``kind`` of a layer-cost JSON (``edgeseg.bench.layer_cost_openvino.write_cost_file`` writes it).
COST_FILE_KIND = "edgeseg.layer_cost"
#: ``--layer-cost`` values other than a FILE.json: the FLOPs estimate (default) or measured on OpenVINO.
COST_SOURCES = ("flops", "openvino")
#: A measurement's source name, as the card and the report read it.
MEASURED_SOURCES = ("openvino",)


def check_cost_spec(value: str) -> str:
    """``value`` if it is "flops", "openvino" or a path ending in .json, else a one-line QuantizationError
    (the file itself is read by :func:`read_cost_file`)."""
    text = str(value)
    if text in COST_SOURCES or text.lower().endswith(".json"):
        return text
    raise QuantizationError(
        f"--layer-cost {text!r}: expected flops, openvino or a FILE.json written by "
        "benchmarks/layer_cost_openvino.py"
    )


def check_cost_table(table: Any, *, where: str) -> dict[str, Any]:
    """``table`` (a layer-cost record) checked: kind, source, label, ``costs`` {unit: finite ms or None}."""
    if not isinstance(table, dict) or table.get("kind") != COST_FILE_KIND:
        found = table.get("kind") if isinstance(table, dict) else type(table).__name__
        raise QuantizationError(
            f"{where}: expected a layer-cost record (kind {COST_FILE_KIND!r}), found {found!r}"
        )
    for key in ("source", "label"):
        if not isinstance(table.get(key), str) or not table[key]:
            raise QuantizationError(
                f"{where}: its {key!r} must be a non-empty string, found {table.get(key)!r}"
            )
    costs = table.get("costs")
    if not isinstance(costs, dict) or not costs:
        raise QuantizationError(f"{where}: 'costs' must be a non-empty {{unit: number or null}} mapping")
    for unit, v in costs.items():
        if v is not None and not (
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ):
            raise QuantizationError(
                f"{where}: the cost of {unit!r} must be a finite number or null, found {v!r}"
            )
    return table


def read_cost_file(path: str | os.PathLike) -> dict[str, Any]:
    """The checked layer-cost record in ``path`` (a JSON written by the measuring function)."""
    p = Path(path)
    if not p.is_file():
        raise QuantizationError(
            f"--layer-cost {p}: no such file (a JSON from benchmarks/layer_cost_openvino.py)"
        )
    try:
        table = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise QuantizationError(f"--layer-cost {p}: not a readable JSON file ({type(e).__name__})") from None
    return check_cost_table(table, where=f"--layer-cost {p}")


def check_covers(table: dict[str, Any], unit_names: list[str], *, where: str) -> None:
    """The record must name exactly ``unit_names`` (a measurement of this model), else QuantizationError."""
    have = set(table["costs"])
    lacking = [u for u in unit_names if u not in have]
    extra = sorted(have - set(unit_names))
    if lacking or extra:
        raise QuantizationError(
            f"{where}: measured another model ({len(lacking)} of this model's {len(unit_names)} units "
            f"are not in it, e.g. {lacking[:2]}; {len(extra)} of its units are not in this model, "
            f"e.g. {extra[:2]})"
        )


def flops_table(qmodel: nn.Module, example: np.ndarray) -> dict[str, Any]:
    """:func:`flops_cost` as a layer-cost record (source "flops", labelled an estimate)."""
    return {
        "kind": COST_FILE_KIND,
        "source": "flops",
        "label": FLOPS_LABEL,
        "unit": "GFLOP",
        "costs": flops_cost(qmodel, example),
    }


def cost_table(
    spec: str,
    qmodel: nn.Module,
    float_model: nn.Module,
    card: Any,
    example: np.ndarray,
    *,
    measure: Callable[..., dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The layer-cost record for ``spec``: "flops" (:func:`flops_table`), "openvino" (``measure(qmodel,
    float_model, card)``, which the caller passes: e.g. ``edgeseg.bench.layer_cost_openvino.
    measure_layer_cost``; this layer does not run OpenVINO) or a FILE.json; checked to cover every unit."""
    spec = check_cost_spec(spec)
    if spec == "flops":
        return flops_table(qmodel, example)
    if spec == "openvino":
        if measure is None:
            raise QuantizationError(
                "layer cost 'openvino' needs a measuring function (edgeseg.bench.layer_cost_openvino."
                "measure_layer_cost) passed as measure="
            )
        table = check_cost_table(measure(qmodel, float_model, card), where="the OpenVINO measurement")
    else:
        table = read_cost_file(spec)
    check_covers(table, units(qmodel), where=f"--layer-cost {spec}")
    size = table.get("input_size")
    if size is not None and list(size) != list(card.input_size):
        raise QuantizationError(
            f"--layer-cost {spec}: measured at {size[0]}x{size[1]}, but this model is quantized at "
            f"{card.input_size[0]}x{card.input_size[1]} (measure again at that --size)"
        )
    return table
