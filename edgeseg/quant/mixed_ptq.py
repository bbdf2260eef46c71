"""Accuracy-budgeted mixed precision after PTQ: sensitivity on val frames, greedy fallback, the card's record.

:func:`fallback_to_budget` is what ``edgeseg quantize --max-drop`` (and ``build --int8 --max-drop``)
calls on a calibrated fake-quant model; the returned model has the chosen layers in float and the
record goes into ``card.extra["quantization"]["mixed"]``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.fx as fx
import torch.nn as nn

from edgeseg.card import ModelCard
from edgeseg.errors import QuantizationError
from edgeseg.quant.fallback_search import DEFAULT_CLASS_DROP, Budget, search_fallback
from edgeseg.quant.label_budget import REFERENCE_LABEL, check_reference, label_maps
from edgeseg.quant.mixed import with_float_layers
from edgeseg.quant.sensitivity import DEFAULT_BATCH, DEFAULT_FRAMES, default_cache_dir, frame_batches

#: What the card says a float layer runs in, per target.
FLOAT_LAYERS_RUN_AS = {
    "tensorrt": (
        "FP16 with --fp16 (8.6/10.x); explicit Casts to FP16 for a strongly typed 11.x network (--cast-fp16)"
    ),
    "onnxruntime": "FP32 (no Q/DQ; nodes_to_exclude for onnxruntime.quantization)",
    "openvino": "FP32 (no FakeQuantize on them)",
    "executorch": "FP32 (left out of the XNNPACK quantizer's annotation)",
}


def float_biases(float_model: nn.Module) -> dict[str, torch.Tensor | None]:
    """The folded float biases of every weighted op (before bias correction), for float layers."""
    from edgeseg.quant.bias_correction import bias_state
    from edgeseg.quant.placement import prepare

    return bias_state(prepare(float_model)[0])


def fallback_to_budget(
    qmodel: fx.GraphModule,
    float_model: nn.Module,
    card: ModelCard,
    *,
    data: str,
    split: str = "val",
    max_drop: float,
    class_drop: float | None = None,
    frames: int = DEFAULT_FRAMES,
    budget_frames: int | None = None,
    batch: int = DEFAULT_BATCH,
    mode: str = "isolated",
    reference: str = "fp32",
    prefer_cheap: bool = False,
    layer_cost: str = "flops",
    measure: Callable[..., dict[str, Any]] | None = None,
    cache: str | os.PathLike | None = "auto",
    device: str | torch.device = "cpu",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[fx.GraphModule, dict[str, Any]]:
    """Leave the fewest layers of ``qmodel`` in float so that, on ``frames`` (default 16) frames of
    ``data``'s ``split`` (default val), the INT8 model loses at most ``max_drop`` points of mIoU@FP32
    and no class more than ``class_drop`` (default 1.0) points of IoU@FP32.

    ``reference`` (default "fp32"): what the budget's points are of, mIoU@FP32 or, with "labels", the
    drop of label mIoU against ``data``'s ground truth (FP32's minus INT8's; ``quant.label_budget``);
    the sensitivity ranking is against FP32 either way, and is skipped when the all-INT8 model already
    meets the budget. ``budget_frames`` (default None: the same ``frames``): the budget is checked on
    the first this many frames while the sensitivity ranking scores ``frames`` (a long val split with
    ``reference="labels"``: rank on 16, check on 101). ``mode``: the sensitivity mode (default
    "isolated"). ``prefer_cheap`` (default False): rank by sensitivity per unit of cost instead of by
    sensitivity. ``layer_cost`` (default "flops": GFLOP, an estimate): "openvino" (ms per frame
    measured by ``measure(qmodel, float_model, card)``, which the caller passes:
    ``edgeseg.bench.layer_cost_openvino.measure_layer_cost``) or a FILE.json it wrote
    (``layer_cost.cost_table``); the record says which (``cost_source``, ``cost_unit``).
    ``cache``: "auto" (default: the user cache folder, ``sensitivity.default_cache_dir()``), a file, or
    None. Returns (mixed model, card record).
    """
    from edgeseg.data.datasets import open_dataset
    from edgeseg.quant.sensitivity import fingerprint, layer_sensitivity

    if split == "test":
        raise QuantizationError("the sensitivity frames: choose on val, never on the test split")
    budget = Budget(
        max_drop=max_drop,
        class_drop=DEFAULT_CLASS_DROP if class_drop is None else class_drop,
        reference=reference,
    )
    ds = open_dataset(data, split, size=tuple(card.input_size))
    rank_batches = frame_batches(ds, card, frames=frames, batch=batch)
    m = frames if budget_frames is None else budget_frames
    batches = rank_batches if m == frames else frame_batches(ds, card, frames=m, batch=batch)
    labels = label_maps(ds, frames=m, size=tuple(card.input_size)) if reference == "labels" else None
    n = sum(len(b) for b in batches)
    float_model = float_model.to(device).eval()
    biases = float_biases(float_model)
    if cache == "auto":
        cache = default_cache_dir() / f"{card.arch}-{fingerprint(qmodel, rank_batches, extra=mode)[:16]}.json"
    # the cost first: a FILE.json of another model is refused before the sensitivity pass
    from edgeseg.quant.layer_cost import cost_table

    table = cost_table(layer_cost, qmodel, float_model, card, batches[0], measure=measure)
    cost = table["costs"]
    if table["source"] != "flops":
        known = sum(v is not None for v in cost.values())
        log(f"layer cost: {table['label']} ({known} of {len(cost)} units measured)")
    seconds: list[float] = []

    def sensitivity() -> dict[str, Any]:  # only when the all-INT8 model misses the budget
        k = sum(len(b) for b in rank_batches)
        log(f"sensitivity ({mode}) on {k} frames of {data} [{split}], scored against the FP32 model's labels")
        sens = layer_sensitivity(
            qmodel,
            float_model,
            batches=rank_batches,
            num_classes=card.num_classes,
            mode=mode,
            biases=biases,
            cache=cache,
            device=device,
            progress=progress,
            log=log,
        )
        log(f"sensitivity: {len(sens['units'])} layers in {sens['seconds']:.0f} s")
        seconds.append(sens["seconds"])
        return sens

    plan = search_fallback(
        qmodel,
        float_model,
        batches=batches,
        num_classes=card.num_classes,
        sensitivity=sensitivity,
        budget=budget,
        labels=labels,
        ignore_index=card.ignore_index,
        cost=cost,
        cost_label=table["label"],
        prefer_cheap=prefer_cheap,
        biases=biases,
        device=device,
        log=log,
    )
    rec = plan.to_dict(class_names=card.class_names)
    rec.update(
        data=data,
        split=split,
        frames=n,
        sensitivity_frames=sum(len(b) for b in rank_batches),
        sensitivity_mode=mode,
        sensitivity_seconds=seconds[0] if seconds else 0.0,
        prefer_cheap=prefer_cheap,
        total_cost=round(sum(v for v in cost.values() if v is not None), 6),
        cost_source=table["source"],
        cost_facts={k: v for k, v in table.items() if k not in ("costs", "kind", "nodes")},
        float_layers_run_as=FLOAT_LAYERS_RUN_AS,
    )
    if not plan.met:
        log(
            f"WARNING: the budget (mean {budget.max_drop:g}, per class {budget.class_drop:g} points of "
            f"{REFERENCE_LABEL[reference]}) is not met with {len(plan.layers)} layers in float"
        )
    rec["float_flops_share"] = float_share(qmodel, plan.layers, batches[0])
    if rec["float_flops_share"] >= FLOAT_SHARE_WARN:
        log(
            f"WARNING: the {len(plan.layers)} float layers hold {rec['float_flops_share']:.0%} of the "
            "model's FLOPs: this mixed INT8 model may run no faster than FP32 (DS-v3+ with 45 of 71 "
            "units float ran 45.0 ms against 42.6 ms all float in OpenVINO); QAT (--method qat) keeps "
            "the layers INT8 and recovers the accuracy by training"
        )
    mixed = with_float_layers(qmodel, plan.layers, biases=biases) if plan.layers else qmodel
    return mixed, rec


#: Above this share of the model's FLOPs in float layers, ``fallback_to_budget`` says INT8 may not pay.
FLOAT_SHARE_WARN = 0.5


def float_share(qmodel: fx.GraphModule, layers: list[str], example) -> float:
    """The share (0..1) of ``qmodel``'s weighted-layer FLOPs (``layer_cost.flops_cost`` on one frame of
    ``example``) that ``layers`` hold."""
    from edgeseg.quant.layer_cost import flops_cost

    flops = flops_cost(qmodel, example[:1])
    total = sum(flops.values())
    return round(sum(flops.get(u, 0.0) for u in layers) / total, 4) if total > 0 else 0.0


@dataclass(frozen=True)
class MixedRequest:
    """``edgeseg quantize --max-drop`` in one record: the budget (``max_drop``, ``class_drop``: default
    1.0), the frames (``frames``, 16), ``cast_fp16`` (explicit FP16 Casts, default False), the layer cost
    (``layer_cost``: "flops" (default), "openvino" or a FILE.json; ``measure``: the measuring function
    "openvino" needs, passed by the caller), ``prefer_cheap`` (rank per unit of cost, default False) and
    ``reference`` (the budget's points: "fp32", default, mIoU@FP32; "labels", label mIoU) and
    ``budget_frames`` (the frames the budget is checked on, default None: ``frames``)."""

    max_drop: float
    class_drop: float | None = None
    frames: int = DEFAULT_FRAMES
    cast_fp16: bool = False
    layer_cost: str = "flops"
    prefer_cheap: bool = False
    reference: str = "fp32"
    budget_frames: int | None = None
    measure: Callable[..., dict[str, Any]] | None = field(default=None, compare=False, repr=False)

    def check(
        self,
        *,
        method: str,
        calib_method: str | None,
        val_data: str | None,
        save_checkpoint: Any = None,
        target: str = "tensorrt",
    ) -> None:
        """One-line errors for requests ``quantize`` cannot serve, before any work."""
        if not val_data:
            raise QuantizationError("--max-drop needs --val-data (the frames it scores on)")
        check_reference(self.reference)
        self.check_cost()
        if calib_method == "all":
            raise QuantizationError("--max-drop needs one --calib-method (not all)")
        if save_checkpoint:
            raise QuantizationError(
                "--save-checkpoint with --max-drop: a QAT checkpoint of a mixed model is not supported yet"
            )
        if self.cast_fp16 and method == "ort-cpu":
            raise QuantizationError("--cast-fp16 is for the TensorRT Q/DQ ONNX (ptq, qat), not ort-cpu")
        if target != "tensorrt":
            raise QuantizationError(
                f"--max-drop with --target {target} is not supported yet (the search scores TensorRT's "
                "placement): use --target tensorrt, or --method ort-cpu --max-drop for ONNX Runtime CPU"
            )

    def check_cost(self) -> None:
        """The layer-cost choice, before any work: a known source, a readable FILE.json of the right kind,
        a measuring function for "openvino"."""
        from edgeseg.quant.layer_cost import check_cost_spec, read_cost_file

        spec = check_cost_spec(self.layer_cost)
        if spec == "openvino" and self.measure is None:
            raise QuantizationError(
                "--layer-cost openvino needs the measuring function (MixedRequest(measure=edgeseg.bench."
                "layer_cost_openvino.measure_layer_cost))"
            )
        if spec not in ("flops", "openvino"):
            read_cost_file(spec)

    def search(self, qmodel, float_model, card, *, data: str, split: str, device, progress: bool, log):
        """``fallback_to_budget`` with this request's budget and frames."""
        return fallback_to_budget(
            qmodel,
            float_model,
            card,
            data=data,
            split=split,
            max_drop=self.max_drop,
            class_drop=self.class_drop,
            frames=self.frames,
            reference=self.reference,
            budget_frames=self.budget_frames,
            prefer_cheap=self.prefer_cheap,
            layer_cost=self.layer_cost,
            measure=self.measure,
            device=device,
            progress=progress,
            log=log,
        )


def search_if(
    mixed: MixedRequest | None, qmodel, float_model, card, *, data, split, device, progress, log
) -> tuple[Any, dict[str, Any] | None]:
    """(``qmodel``, None) without ``mixed``; else ``mixed.search``: (the mixed model, the card's record,
    which says whether the float layers get explicit FP16 Casts: ``cast_fp16``)."""
    if mixed is None:
        return qmodel, None
    mixed_model, record = mixed.search(
        qmodel, float_model, card, data=data, split=split, device=device, progress=progress, log=log
    )
    return mixed_model, {**record, "cast_fp16": mixed.cast_fp16}


def check_cpu(mixed: MixedRequest | None, *, val_data: str | None, checkpoint: Any) -> None:
    """``quantize_cpu``'s one-line refusals, before any work: --val-data is only for --max-drop, which
    needs the .pt checkpoint (the search runs on edgeseg's fake quant)."""
    if mixed is None:
        if val_data:
            raise QuantizationError(
                "--val-data with --method ort-cpu is for --max-drop (the frames it scores on)"
            )
        return
    mixed.check(method="ort-cpu", calib_method=None, val_data=val_data)
    if str(checkpoint).lower().endswith(".onnx"):
        raise QuantizationError("--max-drop with --method ort-cpu needs the .pt checkpoint, not an ONNX")


def proxy_float_layers(
    model, card, request, mixed: MixedRequest, *, data: str, split: str, progress: bool = True, log
) -> tuple[list[str], dict[str, Any]]:
    """(weighted layers to leave float, the card's record) for a runtime with its own INT8 scheme (ONNX
    Runtime CPU, ExecuTorch's XNNPACK): the search runs on edgeseg's symmetric fake quant of the FP32
    ``model`` (calibrated on ``request``'s frames), a proxy for their asymmetric uint8 activations.
    Residual quantizers are not layers there: they stay in the record, not in the list."""
    from edgeseg.quant.ptq import ptq

    qmodel, *_ = ptq(model, request.open(card, size=tuple(card.input_size)), progress=progress)
    _, record = mixed.search(
        qmodel, model, card, data=data, split=split, device="cpu", progress=progress, log=log
    )
    record["proxy"] = "ranked and searched on edgeseg's symmetric INT8 fake quant (TensorRT scheme)"
    return [u for u in record["float_layers"] if not u.endswith("residual_quantizer")], record
