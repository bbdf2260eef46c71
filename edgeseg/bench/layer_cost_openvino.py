"""What leaving each unit in float costs on OpenVINO CPU, measured: ms per frame, per unit.

One pair of per-node profiles, not one build per unit: the all-INT8 Q/DQ ONNX and the FP32 ONNX of the
same model at the same input size are built to IRs (``build_openvino``, as a deployment builds them) and
each is run ``runs`` times with PERF_COUNT (``profile_openvino.node_times``). Every executed node is
mapped back to the ONNX nodes it fuses (the runtime model's ``originalLayersNames``,
``OpenVinoRunner.fused_layers``, plus the ONNX tensor names the IR keeps on those layers' outputs: a
fused depthwise Conv + BatchNormalization keeps no node name, only its output tensor's), in the graph as
the build rewrote it for the CPU (``onnxgraph.rewrite``), and each unit to its weighted op's ONNX node
(``quant.mixed.onnx_nodes``; flat Q/DQ names and the FP32 export's scoped names alike). A unit's cost =
(sum of the median times of the executed nodes holding its weighted op in the FP32 profile) - (the same
in the INT8 profile), divided by the batch.

What it cannot see: fusion that differs between the two graphs (a Q/DQ graph fuses the next layer's
input quantization into a Conv; an FP32 Conv may fuse an activation the INT8 one runs apart): only the
nodes that hold the weighted op are counted; the Reorders and quantize Subgraphs between layers, whose
time moves when a neighbour changes precision, are attributed to no unit; a node fusing two weighted ops
is counted once, under the first unit in graph order (the other one is reported as not measured); a
mixed model (some layers float) is not profiled, so interactions between float layers are not in the
sum. Residual quantizer units have no weighted op: not measured (cost None, listed in ``missing``).
Timings are as good as the machine is quiet: run it alone.
"""

from __future__ import annotations

import copy
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from edgeseg.quant.layer_cost import COST_FILE_KIND, check_cost_table

#: Defaults: timed runs and warm-up runs of each IR.
RUNS = 50
WARMUP = 10


def label(*, openvino: str, cpu: str, threads: int | str) -> str:
    """How the card and the report name these numbers."""
    return (
        f"ms per frame added, measured on OpenVINO {openvino} CPU {cpu} ({threads} threads), "
        "per-node profile difference"
    )


RESIDUAL = "a residual quantizer: no weighted op of its own, not separable in a per-node profile"


class OnnxNode(NamedTuple):
    """A unit's weighted op in one ONNX graph: its name and output tensors."""

    name: str
    outputs: tuple[str, ...] = ()


def _holds(names: list[str], node: OnnxNode) -> bool:
    """``names`` (one executed node's fused layers and their IR output tensors, see ``_profile``) hold
    ``node``: its name, a part of it (the ``<name>/WithoutBiases`` half of a biased Conv), or an output
    tensor (a depthwise Conv folded with the BatchNormalization after it is named ``Multiply_N`` with
    neither name left, but its output keeps the Conv's tensor name)."""
    pre = node.name + "/"
    return any(n == node.name or n.startswith(pre) or n in node.outputs for n in names)


def attribute(
    unit_onnx: dict[str, list[OnnxNode]],
    fused: dict[str, list[str]],
    executed: set[str],
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """({unit: the executed nodes counted for it}, {unit: why none}) for one profile: an executed node
    counts for a unit when it holds the unit's ONNX node (``_holds``). A node is counted once, under the
    first unit (in ``unit_onnx``'s order) that holds it; the others say so."""
    taken: dict[str, str] = {}
    nodes: dict[str, list[str]] = {}
    why: dict[str, str] = {}
    live = {k: v for k, v in fused.items() if k in executed}
    for unit, onnx_nodes in unit_onnx.items():
        if not onnx_nodes:
            why[unit] = (
                RESIDUAL if unit.endswith("residual_quantizer") else "no ONNX node for it in the graph"
            )
            continue
        found = [k for o in onnx_nodes for k, names in live.items() if _holds(names, o)]
        mine = [k for k in dict.fromkeys(found) if k not in taken]
        if mine:
            nodes[unit] = mine
            taken.update({k: unit for k in mine})
        elif found:
            why[unit] = f"fused into {found[0]}, counted under {taken[found[0]]}"
        else:
            why[unit] = f"no executed OpenVINO node fuses ONNX node {onnx_nodes[0].name}"
    return nodes, why


def unit_onnx_nodes(proto: Any, unit_names: list[str]) -> dict[str, list[OnnxNode]]:
    """{unit: its weighted op's ONNX nodes} in ``proto`` (empty for a residual quantizer or a unit without
    a node there)."""
    from edgeseg.errors import QuantizationError
    from edgeseg.quant.mixed import onnx_nodes

    by_name = {n.name: n for n in proto.graph.node}
    out: dict[str, list[OnnxNode]] = {}
    for u in unit_names:
        try:
            names = [] if u.endswith("residual_quantizer") else onnx_nodes(proto, [u])
        except QuantizationError:
            names = []
        out[u] = [OnnxNode(n, tuple(by_name[n].output)) for n in names]
    return out


def rewritten(proto: Any) -> Any:
    """A copy of ``proto`` as ``build_openvino`` rewrites it for the CPU before conversion (its node names
    are the ones OpenVINO reports): ``onnxgraph.rewrite.rewrite_for_cpu``, PRelu only for a Q/DQ graph."""
    import onnx

    from edgeseg.onnxgraph.info import is_qdq
    from edgeseg.onnxgraph.rewrite import rewrite_for_cpu

    copy_ = onnx.ModelProto()
    copy_.CopyFrom(proto)
    rewrite_for_cpu(copy_, prelu_only=is_qdq(proto))
    return copy_


def _profile(xml: Path, *, runs: int, warmup: int, threads: int | None, seed: int) -> dict[str, Any]:
    from edgeseg.backends.openvino._core import shared_core
    from edgeseg.backends.openvino.runner import OpenVinoRunner
    from edgeseg.bench.profile_openvino import node_times

    with OpenVinoRunner(xml, threads=threads, perf_count=True) as r:
        shape = [r.static_batch or 1, 3, *(r.input_size or r.card.input_size)]
        x = np.random.default_rng(seed).random(shape).astype(np.float32)
        times, kinds, wall = node_times(r, x, runs=runs, warmup=warmup)
        fused = r.fused_layers()
        used = r.inference_threads()
    # the IR's ops keep the ONNX tensor names on their outputs: add them to each executed node's layers
    ir = shared_core().read_model(str(xml))
    tensors = {
        op.get_friendly_name(): {t for o in op.outputs() for t in o.get_names()}
        for op in ir.get_ordered_ops()
    }
    fused = {k: names + sorted({t for n in names for t in tensors.get(n, ())}) for k, names in fused.items()}
    return {
        "median": {n: statistics.median(v) for n, v in times.items()},
        "kinds": kinds,
        "fused": fused,
        "batch": shape[0],
        "run_ms": 1000.0 * wall / runs,
        "threads": int(used),
    }


def cost_from_profiles(
    unit_names: list[str],
    *,
    fp32: tuple[dict[str, list[OnnxNode]], dict[str, Any]],
    int8: tuple[dict[str, list[OnnxNode]], dict[str, Any]],
) -> tuple[dict[str, float | None], dict[str, str], dict[str, Any]]:
    """({unit: ms per frame or None}, {unit: why not measured}, {unit: the nodes counted}) from the
    (unit -> ONNX nodes, profile) of each graph."""
    costs: dict[str, float | None] = {}
    missing: dict[str, str] = {}
    detail: dict[str, Any] = {}
    found = {}
    for name, (onnx_map, prof) in (("fp32", fp32), ("int8", int8)):
        found[name] = attribute(onnx_map, prof["fused"], set(prof["median"]))
    for u in unit_names:
        why = {k: found[k][1][u] for k in ("fp32", "int8") if u in found[k][1]}
        if why:
            costs[u] = None
            same = len(why) == 2 and len(set(why.values())) == 1
            missing[u] = next(iter(why.values())) if same else "; ".join(f"{k}: {w}" for k, w in why.items())
            continue
        ms = {
            k: sum(p["median"][n] for n in found[k][0][u]) / p["batch"]
            for k, p in (("fp32", fp32[1]), ("int8", int8[1]))
        }
        costs[u] = round(ms["fp32"] - ms["int8"], 6)
        detail[u] = {
            "fp32_ms": round(ms["fp32"], 6),
            "int8_ms": round(ms["int8"], 6),
            "fp32_nodes": found["fp32"][0][u],
            "int8_nodes": found["int8"][0][u],
        }
    return costs, missing, detail


def measure_layer_cost(
    qmodel: Any,
    float_model: Any,
    card: Any,
    *,
    runs: int = RUNS,
    warmup: int = WARMUP,
    threads: int | None = None,
    seed: int = 0,
    workdir: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The layer-cost record of ``qmodel`` (a calibrated, all-INT8 fake-quant model from
    ``placement.prepare``; not changed) against ``float_model`` at ``card.input_size``, measured on
    OpenVINO CPU (see the module docstring). Defaults: 50 timed runs after 10 warm-up runs of each IR,
    OpenVINO's threads, the IRs in a temporary folder (``workdir``: keep them there)."""
    import onnx

    from edgeseg._env import cpu_model
    from edgeseg.backends.openvino._core import import_openvino
    from edgeseg.backends.openvino.build import build_openvino
    from edgeseg.errors import EdgesegError
    from edgeseg.export.onnx import export_onnx
    from edgeseg.quant.mixed import float_layers, units
    from edgeseg.quant.qdq_export import export_qdq_onnx

    ov = import_openvino()
    if runs < 1 or warmup < 0:
        raise EdgesegError(f"runs must be >= 1 and warmup >= 0, found {runs} and {warmup}")
    if float_layers(qmodel):
        raise EdgesegError("measure_layer_cost needs the all-INT8 model (this one has layers in float)")
    unit_names = units(qmodel)
    size = tuple(card.input_size)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(workdir) if workdir is not None else Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        q = copy.deepcopy(qmodel).cpu()
        paths = {
            "int8": export_qdq_onnx(q, card, d / "int8.onnx", size=size),
            "fp32": export_onnx(copy.deepcopy(float_model).cpu(), card, d / "fp32.onnx", size=size),
        }
        profiles = {}
        for k, src in paths.items():
            xml = build_openvino(src, output=d / f"{k}.xml", threads=threads, log=lambda _m: None).path
            profiles[k] = (
                unit_onnx_nodes(rewritten(onnx.load(str(src))), unit_names),
                _profile(xml, runs=runs, warmup=warmup, threads=threads, seed=seed),
            )
            log(f"layer cost: {k} IR profiled, {profiles[k][1]['run_ms']:.2f} ms per run with PERF_COUNT")
    costs, missing, detail = cost_from_profiles(unit_names, fp32=profiles["fp32"], int8=profiles["int8"])
    version = ov.get_version().split("-")[0]
    cpu, used = cpu_model(), profiles["int8"][1]["threads"]
    table = {
        "kind": COST_FILE_KIND,
        "source": "openvino",
        "label": label(openvino=version, cpu=cpu, threads=used),
        "unit": "ms",
        "method": "per-node profile difference: median FP32 - median INT8 time of the nodes holding each "
        "unit's weighted op (see edgeseg.bench.layer_cost_openvino)",
        "openvino": version,
        "machine": {"cpu": cpu, "threads": used, "threads_asked": threads},
        "arch": card.arch,
        "input_size": list(size),
        "runs": runs,
        "warmup": warmup,
        "run_ms": {k: round(p[1]["run_ms"], 4) for k, p in profiles.items()},
        "costs": costs,
        "missing": missing,
        "nodes": detail,
    }
    return check_cost_table(table, where="the OpenVINO measurement")


def measure_checkpoint(
    checkpoint: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    calib_frames: int = 4,
    **options: Any,
) -> dict[str, Any]:
    """:func:`measure_layer_cost` of a FP32 ``checkpoint`` at ``size`` (default its card's), its INT8
    ranges calibrated (max) on ``calib_frames`` (default 4) random frames: kernel times do not depend
    on the ranges. ``options`` go to :func:`measure_layer_cost`."""
    from edgeseg.quant.calibrate import calibrate
    from edgeseg.quant.placement import prepare
    from edgeseg.train.checkpoint import load_checkpoint

    model, card, _ = load_checkpoint(checkpoint)
    card = card.replace(input_size=tuple(size or card.input_size))
    qmodel, _ = prepare(model)
    x = np.random.default_rng(0).random((calib_frames, 3, *card.input_size)).astype(np.float32)
    calibrate(qmodel, [x], method="max", progress=False)
    return measure_layer_cost(qmodel, model, card, **options)


def write_cost_file(table: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write the checked record ``table`` to ``path`` (atomically), for ``--layer-cost FILE.json``."""
    from edgeseg._io import atomic_write_json

    return atomic_write_json(path, check_cost_table(table, where=str(path)))
