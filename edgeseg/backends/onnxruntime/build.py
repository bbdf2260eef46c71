"""Build an offline-optimized ONNX Runtime CPU model (FP32, or INT8 with CPU-flavoured quantization).

The optimization level defaults to EXTENDED (fusions such as Conv+activation into com.microsoft
FusedConv, portable across x86-64 and ARM64 CPUs). ``opt_level="all"`` adds layout transforms
(NCHWc) that ONNX Runtime itself warns are hardware specific: such a file should only be run on the
machine that wrote it, so it is not the default. ``basic`` keeps only constant folding and
redundant-node removal (opset-standard ops only).

The card travels in metadata_props (re-inserted after ORT writes the file) with the thread
settings, ORT version and optimization level in ``card.extra``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from edgeseg._io import atomic_write_bytes, check_output_path, sha256_file
from edgeseg.backends._build import BuildResult, build_time, timed_build
from edgeseg.backends._mixed import build_from_mixed, mixed_request
from edgeseg.backends.onnxruntime import OPT_LEVELS, SPEC, disabled_optimizers
from edgeseg.onnxgraph.info import graph_inputs, load_exported
from edgeseg.onnxgraph.rewrite import check_same, probe_shape, rewrite_for_cpu
from edgeseg.runner import check_threads
from edgeseg.card import card_from_onnx, card_to_onnx
from edgeseg.errors import BuildError

DEFAULT_OPT_LEVEL = "extended"
#: what ``--opt-level`` offers (the runner also takes "disable")
BUILD_OPT_LEVELS = ("basic", "extended", "all")


@timed_build("onnxruntime")
def build_onnxruntime(
    onnx: str | os.PathLike,
    *,
    output: str | os.PathLike | None = None,
    int8: bool = False,
    fp16: bool = False,
    calib: str | None = None,
    calib_num: int | None = None,
    per_channel: bool = True,
    threads: int | None = None,
    opt_level: str = DEFAULT_OPT_LEVEL,
    rewrite: bool = True,
    max_drop: float | None = None,
    class_drop: float | None = None,
    sensitivity_frames: int | None = None,
    val_data: str | None = None,
    layer_cost: str | None = None,
    prefer_cheap: bool | None = None,
    drop_reference: str | None = None,
    budget_frames: int | None = None,
    layer_cost_measure: Callable[..., dict[str, Any]] | None = None,
    command: str | None = None,
    log: Callable[[str], None] = print,
) -> BuildResult:
    """Write ``output`` (default model.ort.onnx). ``threads``: intra-op threads recorded in the card
    and used while optimizing (None = ORT's default, one per physical core). ``int8`` quantizes with
    ``edgeseg.quant.ort_cpu.quantize_ort_cpu`` on the ``calib`` set (per-channel unless told not).
    ``fp16`` converts the weights and activations to float16 with the converter the TensorRT 11
    path uses (IO, Resize and reductions stay float32), so its accuracy can be measured on a CPU.
    ``rewrite`` (default True) applies ``onnxgraph.rewrite.rewrite_for_cpu`` to float graphs and checks the
    rewritten graph's outputs against the original before optimizing (listed in card.extra["rewrites"]).
    ``max_drop`` (default None: off; with ``int8``, ``calib`` and ``val_data``; ``class_drop`` default 1.0,
    ``sensitivity_frames`` default 16): ``onnx`` is the FP32 checkpoint (or an FP32 ONNX with it beside),
    quantized as ``quantize --method ort-cpu --max-drop`` does (``edgeseg.backends._mixed``). ``layer_cost``
    (default "flops"), ``prefer_cheap`` (default False) and ``layer_cost_measure`` (the function "openvino"
    needs): ``quantize --max-drop``'s ``--layer-cost`` and ``--prefer-cheap``;
    ``drop_reference`` / ``budget_frames``: its ``--drop-reference`` (default "fp32") /
    ``--budget-frames`` (default: the sensitivity frames)."""
    import onnx as onnx_lib
    import onnxruntime as ort

    src = Path(onnx)
    out = check_output_path(output or SPEC.default_output(src))
    if out.resolve() == src.resolve():
        raise BuildError(f"output {out} would overwrite the input ONNX; pass -o another path")
    if opt_level not in BUILD_OPT_LEVELS:
        raise BuildError(f"--opt-level {opt_level!r}: expected one of {', '.join(BUILD_OPT_LEVELS)}")
    check_threads(threads, where="--threads", error=BuildError)
    mixed = mixed_request(
        int8=int8,
        calib=calib,
        max_drop=max_drop,
        class_drop=class_drop,
        sensitivity_frames=sensitivity_frames,
        val_data=val_data,
        layer_cost=layer_cost,
        prefer_cheap=prefer_cheap,
        drop_reference=drop_reference,
        budget_frames=budget_frames,
        layer_cost_measure=layer_cost_measure,
    )
    if mixed is not None:
        if fp16:
            raise BuildError("--fp16 and INT8 exclude each other for onnxruntime: pick one")
        kw = dict(threads=threads, opt_level=opt_level, rewrite=rewrite, command=command, log=log)
        return build_from_mixed(
            "onnxruntime",
            src,
            out=out,
            then=lambda q: build_onnxruntime.__wrapped__(q, output=out, int8=True, **kw),
            mixed=mixed,
            val_data=str(val_data),
            calib=str(calib),
            calib_num=calib_num or SPEC.calib_num,
            per_channel=per_channel,
            log=log,
        )
    model, card, qdq = load_exported(src)
    if fp16 and (int8 or qdq):
        raise BuildError(
            "--fp16 and INT8 exclude each other for onnxruntime: pick one (a Q/DQ ONNX is already INT8)"
        )
    if int8 and qdq:
        log("note: the ONNX is already quantized (Q/DQ); optimizing it as it is")
    elif int8 and not calib:
        raise BuildError(
            "--int8 for onnxruntime quantizes the FP32 ONNX and needs a calibration set: --calib LIST|DIR"
        )
    precision = "int8" if (int8 or qdq) else ("fp16" if fp16 else "fp32")
    path_name = f"ONNX Runtime {ort.__version__} CPU: {precision.upper()}, {opt_level} graph optimizations"
    if qdq:
        path_name += " (Q/DQ ONNX as given)"
    elif int8:
        path_name += f" after quantize_ort_cpu ({'per-channel' if per_channel else 'per-tensor'} weights)"

    calibration = dict(card.calibration)
    with tempfile.TemporaryDirectory(prefix=".edgeseg-ort-", dir=out.parent) as tmp:
        source, probe = src, None
        if int8 and not qdq:
            source, probe = _quantize(
                src,
                Path(tmp) / "quant.onnx",
                card=card,
                calib=calib,
                calib_num=calib_num,
                per_channel=per_channel,
                log=log,
            )
            quant_card = card_from_onnx(source)  # quantize_ort_cpu's card: calibration + flavour facts
            calibration = dict(quant_card.calibration)
            card = card.replace(extra={**card.extra, **quant_card.extra})
        rewrites: list[str] = []
        if not (int8 or qdq):  # float graphs: the same function in ops ORT's CPU kernels run fast
            graph = onnx_lib.load(str(src))
            if rewrite:
                original = onnx_lib.ModelProto()
                original.CopyFrom(graph)
                rewrites = rewrite_for_cpu(graph)
                if rewrites:
                    worst = check_same(
                        original,
                        graph,
                        input_name=graph_inputs(model)[0].name,
                        shape=probe_shape(graph_inputs(model)[0].dims, card.input_size),
                    )
                    path_name += (
                        f", {len(rewrites)} rewrites for the CPU kernels (outputs equal to the export, "
                        f"max diff {worst:.1g}; listed in the card)"
                    )
                del original
            if fp16:
                from edgeseg.onnxgraph.fp16 import convert_onnx_fp16

                graph = convert_onnx_fp16(graph)
                path_name += " (float16 graph from the TensorRT-11 FP16 converter; float32 IO)"
            source = Path(tmp) / "float.onnx"
            onnx_lib.save(graph, str(source))
        optimized = Path(tmp) / "optimized.onnx"
        so = ort.SessionOptions()
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPT_LEVELS[opt_level])
        so.optimized_model_filepath = str(optimized)
        if threads is not None:
            so.intra_op_num_threads = int(threads)
        off = disabled_optimizers(card)  # mixed precision: ORT must not quantize its float layers
        try:
            kw: dict[str, Any] = {"disabled_optimizers": off} if off else {}
            ort.InferenceSession(str(source), so, providers=["CPUExecutionProvider"], **kw)
        except Exception as e:  # noqa: BLE001 - ORT raises its own Fail/InvalidGraph types
            raise BuildError(
                f"ONNX Runtime could not load/optimize {source.name}: {str(e).splitlines()[0][:300]}"
            ) from e
        if not optimized.is_file():
            raise BuildError("ONNX Runtime did not write the optimized model")
        proto = onnx_lib.load(str(optimized))

    new_card = card.replace(
        precision=precision,
        source=f"{src.name}@sha256:{sha256_file(src)[:16]}",
        calibration=calibration,
        extra={
            **card.extra,
            "onnx_source": card.source,
            "backend": "onnxruntime",
            "onnxruntime_version": ort.__version__,
            "execution_provider": "CPUExecutionProvider",
            "opt_level": opt_level,
            "threads": threads,  # None: the library's default
            "build_path": path_name,
            "rewrites": rewrites,
            **({"disabled_optimizers": off} if off else {}),
            **build_time(),
            "build_command": command,
        },
    )
    card_to_onnx(proto, new_card)
    data = proto.SerializeToString()
    _check_loads(data, graph_inputs(model)[0].name if graph_inputs(model) else None, off)
    comparison = _compare(
        data, src, new_card, out=out, threads=threads, enforce=not (fp16 or (int8 and not qdq)), probe=probe
    )
    atomic_write_bytes(out, data)
    return BuildResult(
        path=out, precision=precision, path_name=path_name, card=new_card, comparison=comparison
    )


def _compare(
    data: bytes, src: Path, card: Any, *, out: Path, threads: int | None, enforce: bool, probe: Any = None
) -> dict[str, Any]:
    """The written model against its source ONNX (``compare_with_source``, on ``probe`` frames when
    given); enforced unless the build changed the precision (FP16 conversion, INT8 quantization of a
    float graph)."""
    from edgeseg.backends._build import compare_with_source
    from edgeseg.backends.onnxruntime.runner import OrtRunner

    with tempfile.TemporaryDirectory(prefix=".edgeseg-ort-", dir=out.parent) as tmp:
        final = Path(tmp) / out.name
        final.write_bytes(data)
        with OrtRunner(final, threads=threads) as built:
            return compare_with_source(
                built.infer,
                src,
                card,
                precision=card.precision,
                enforce=enforce,
                what="optimized ONNX Runtime model",
                threads=threads,
                probe=probe,
            )


def _quantize(
    src: Path,
    dst: Path,
    *,
    card: Any,
    calib: str | None,
    calib_num: int | None,
    per_channel: bool,
    log: Callable[[str], None],
) -> tuple[Path, Any]:
    """``quant.ort_cpu.quantize_onnx_for_cpu`` (the one owner of ONNX Runtime CPU INT8) on the
    calibration request; returns (quantized model, the first frames as a probe)."""
    from edgeseg.backends._build import calib_probe
    from edgeseg.data.calib_request import CalibRequest
    from edgeseg.quant.ort_cpu import quantize_onnx_for_cpu

    request = CalibRequest(source=calib, num=calib_num or SPEC.calib_num)
    out, calib_set = quantize_onnx_for_cpu(
        src, dst, request=request, card=card, per_channel=per_channel, log=log
    )
    return Path(out), calib_probe(calib_set)


def _check_loads(data: bytes, input_name: str | None, off: list[str] | None = None) -> None:
    """The written model must load in a plain CPU session with the same input name (``off``: the
    transformers the runner disables for it, default none)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    kw: dict[str, Any] = {"disabled_optimizers": off} if off else {}
    try:
        sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"], **kw)
    except Exception as e:  # noqa: BLE001
        raise BuildError(
            f"the optimized model does not load in ONNX Runtime: {str(e).splitlines()[0][:300]}"
        ) from e
    names = [i.name for i in sess.get_inputs()]
    if input_name is not None and input_name not in names:
        raise BuildError(f"the optimized model lost its input {input_name!r} (has {names})")
