"""Build an OpenVINO IR (``model.xml`` + ``model.bin``) for x86-64 / ARM64 CPUs from an exported ONNX.

FP32 from the float export; INT8 from a Q/DQ ONNX (the same file ``edgeseg quantize`` writes for
TensorRT): OpenVINO runs its quantized Convs with int8 (VNNI) kernels. Three silent changes are
ruled out here:

- ``ov.save_model`` compresses weights to FP16 unless told not to: edgeseg saves them as they are.
- The CPU plugin computes in bf16 by default on CPUs with AVX512-BF16 or AMX: the runner (and the
  parity check below) pins ``INFERENCE_PRECISION_HINT`` to f32, so FP32 means FP32.
- The ``.bin`` beside an ``.xml`` could be from another build: the card (in the IR's rt_info)
  records the weights' size and sha256, and the runner checks them before compiling.

The graph is first rewritten for the CPU (``rewrite``, see ``build_openvino``). Before anything is
written the IR is run on synthetic street scenes against ONNX Runtime on the
source ONNX (``_build.compare_with_source``): FP32 must pass the comparator's "export" tolerance
(atol = rtol = 1e-3, 99.9 % argmax agreement); INT8 (real int8 kernels against ORT's float
simulation of the Q/DQ graph) its "int8" tolerance (97 % of the decisive pixels). The figures go
into the card.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeseg._io import check_output_path, sha256_file
from edgeseg.backends._build import BuildResult, build_time, timed_build
from edgeseg.backends._mixed import build_from_mixed, mixed_request
from edgeseg.backends.openvino import RT_INFO_CARD, SPEC, weights_path
from edgeseg.backends.openvino._core import import_openvino
from edgeseg.onnxgraph.info import graph_inputs, load_exported
from edgeseg.runner import check_threads
from edgeseg.card import ModelCard, head_of
from edgeseg.errors import BuildError


def compile_config(*, threads: int | None, inference_precision: str = "f32") -> dict[str, Any]:
    """CPU plugin settings edgeseg uses everywhere: latency mode, one stream, f32 math unless
    ``inference_precision`` (default "f32") is "bf16" (a build with ``bf16_float``; see its card)."""
    cfg: dict[str, Any] = {
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,
        "INFERENCE_PRECISION_HINT": inference_precision,
    }
    if threads is not None:
        cfg["INFERENCE_NUM_THREADS"] = int(threads)
    return cfg


@timed_build("openvino")
def build_openvino(
    onnx: str | os.PathLike,
    *,
    output: str | os.PathLike | None = None,
    int8: bool = False,
    threads: int | None = None,
    rewrite: bool = True,
    bf16_float: bool = False,
    calib: str | None = None,
    calib_num: int | None = None,
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
    """Write ``output`` (default model.xml, weights in model.bin beside it). ``int8`` asks for INT8 and
    needs a Q/DQ ONNX (a float ONNX with ``int8`` is refused; a Q/DQ ONNX is INT8 anyway).
    ``threads``: CPU threads recorded in the card for the runner (None: OpenVINO's default).
    ``rewrite`` (default True): before conversion, ``onnxgraph.rewrite.rewrite_for_cpu`` (float graphs: all
    three rewrites, checked equal to the export in ONNX Runtime; Q/DQ graphs: PRelu only, none for a file
    in its deploy form), listed in card.extra["rewrites"]. The parity check always compares the IR with
    the ONNX as given.
    ``bf16_float`` (default False: f32 pinned): the float parts (everything not int8) run in bf16, on a CPU
    whose OpenVINO plugin reports BF16 (AVX512-BF16 / AMX); card.extra["inference_precision"] = "bf16".
    ``max_drop`` (default None: off; with ``int8``, ``calib`` (``calib_num`` frames, default 256) and
    ``val_data``; ``class_drop`` default 1.0, ``sensitivity_frames`` default 16): ``onnx`` is the FP32
    checkpoint (or an FP32 ONNX with it beside), quantized as ``quantize --max-drop`` does (the mixed Q/DQ
    export: no Q/DQ on the float layers, ``edgeseg.backends._mixed``), and that ONNX is converted.
    ``layer_cost`` (default "flops"), ``prefer_cheap`` (default False) and ``layer_cost_measure`` (the
    function "openvino" needs): ``quantize --max-drop``'s ``--layer-cost`` and ``--prefer-cheap``;
    ``drop_reference`` / ``budget_frames``: its ``--drop-reference`` (default
    "fp32") / ``--budget-frames`` (default: the sensitivity frames)."""
    ov = import_openvino()
    src = Path(onnx)
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
    if mixed is None and (calib or calib_num):
        raise BuildError(
            "--calib/--calib-num for openvino are for --int8 --max-drop (INT8 otherwise comes from a Q/DQ "
            "ONNX, which needs no calibration)"
        )
    if mixed is not None:
        out = check_output_path(output or src.with_suffix(".xml"))
        if out.suffix.lower() != ".xml":
            raise BuildError(f"output {out}: an OpenVINO IR is written as NAME.xml (+ NAME.bin)")
        if bf16_float:
            check_bf16(ov)
        kw = dict(threads=threads, rewrite=rewrite, bf16_float=bf16_float, command=command, log=log)
        return build_from_mixed(
            "openvino",
            src,
            out=out,
            then=lambda q: build_openvino.__wrapped__(q, output=out, int8=True, **kw),
            mixed=mixed,
            val_data=str(val_data),
            calib=str(calib),
            calib_num=calib_num or SPEC.calib_num,
            command=command,
            log=log,
        )
    if src.suffix.lower() != ".onnx":
        raise BuildError(
            f"{src}: the openvino backend builds from an exported .onnx, found {src.suffix or 'no suffix'!r}"
        )
    out = check_output_path(output or src.with_suffix(".xml"))
    if out.suffix.lower() != ".xml":
        raise BuildError(
            f"output {out}: an OpenVINO IR is written as NAME.xml (+ NAME.bin), "
            f"found {out.suffix or 'no suffix'!r}"
        )
    check_threads(threads, where="--threads", error=BuildError)
    inference_precision = "bf16" if bf16_float else "f32"
    if bf16_float:
        check_bf16(ov)
    model, card, qdq = load_exported(src)
    if int8 and not qdq:
        raise BuildError(
            f"{src.name} is a float ONNX: OpenVINO INT8 runs a Q/DQ ONNX. Make one with `edgeseg quantize "
            "CHECKPOINT --method ptq --calib FRAMES` (or --method qat) and build that"
        )
    precision = "int8" if qdq else card.precision
    inputs = graph_inputs(model)
    if len(inputs) != 1:
        raise BuildError(f"{src}: expected one graph input, found {[i.name for i in inputs]}")
    path_name = f"OpenVINO {ov.get_version().split('-')[0]} CPU: {precision.upper()}"
    path_name += " (Q/DQ ONNX: int8 kernels)" if qdq else " (f32 weights and math)"
    if bf16_float:
        path_name += ", bf16 float parts (--bf16-float)"

    with tempfile.TemporaryDirectory(prefix=".edgeseg-ov-", dir=out.parent) as tmp:
        source, rewrites = (
            _rewritten(src, Path(tmp), qdq=qdq, card=card, input_name=inputs[0].name, dims=inputs[0].dims)
            if rewrite and not _deploy_form(card, qdq=qdq)
            else (src, [])
        )
        if rewrites:
            path_name += (
                f", {len(rewrites)} graph rewrite{'' if len(rewrites) == 1 else 's'} before conversion "
                "(listed in the card)"
            )
        try:
            ir = ov.convert_model(str(source))
        except Exception as e:  # noqa: BLE001 - the ONNX frontend raises its own error types
            raise BuildError(
                f"OpenVINO could not convert {src.name}: {str(e).strip().splitlines()[-1][:300]}"
            ) from e
        first = Path(tmp) / "first.xml"
        _save(ov, ir, first, out)
        parity = _check_parity(
            ov, first, src, card, threads=threads, int8=qdq, inference_precision=inference_precision
        )
        bin_first = weights_path(first)
        new_card = card.replace(
            precision=precision,
            source=f"{src.name}@sha256:{sha256_file(src)[:16]}",
            extra={
                **card.extra,
                "onnx_source": card.source,
                "backend": "openvino",
                "openvino_version": ov.get_version(),
                "device": "CPU",
                "threads": threads,  # None: the library's default
                "inference_precision": inference_precision,
                "build_path": path_name,
                "parity": parity,
                "rewrites": rewrites,
                "weights_size": bin_first.stat().st_size,
                "weights_sha256": sha256_file(bin_first),
                **build_time(),
                "build_command": command,
            },
        )
        ir.set_rt_info(new_card.to_json(), RT_INFO_CARD)
        final = Path(tmp) / "model.xml"
        _save(ov, ir, final, out)
        if (
            sha256_file(weights_path(final)) != new_card.extra["weights_sha256"]
        ):  # pragma: no cover - OpenVINO guarantee
            raise BuildError("OpenVINO wrote different weights on the second save; refusing to write the IR")
        _place(final, out)
    log(
        f"parity against ONNX Runtime on {parity['frames']} built-in probe scenes "
        f"(the build reads no dataset): {parity['summary']}"
    )
    return BuildResult(path=out, precision=precision, path_name=path_name, card=new_card, comparison=parity)


def _deploy_form(card: ModelCard, *, qdq: bool) -> bool:
    """A Q/DQ file in its model's deploy form (``quantize --target cpu``, ``quant.deploy_fakequant``): each
    branch PReLU fuses into the int8 conv before it, which the PRelu rewrite would undo (on the shipped
    CGNet 285 nodes and 76 float subgraphs instead of 224 and 5; docs/quantization.md), so it is built as
    exported."""
    quant = (card.extra or {}).get("quantization") or {}
    return qdq and bool(quant.get("rewrites"))


def _rewritten(
    src: Path, tmp: Path, *, qdq: bool, card: ModelCard, input_name: str, dims: Any
) -> tuple[Path, list[str]]:
    """``src`` rewritten for the CPU into ``tmp`` (see ``build_openvino``), or ``src`` when nothing
    changed."""
    import onnx

    from edgeseg.onnxgraph.rewrite import check_same, probe_shape, rewrite_for_cpu

    graph = onnx.load(str(src))
    original = onnx.ModelProto()
    original.CopyFrom(graph)
    rewrites = rewrite_for_cpu(graph, prelu_only=qdq)
    if not rewrites:
        return src, []
    if (
        not qdq
    ):  # float: the rewritten graph must compute what the export computes (Q/DQ: the IR parity check)
        check_same(original, graph, input_name=input_name, shape=probe_shape(dims, card.input_size))
    path = tmp / "rewritten.onnx"
    onnx.save(graph, str(path))
    return path, rewrites


def _save(ov: Any, ir: Any, path: Path, out: Path) -> None:
    """``ov.save_model`` with float32 weights; a failed write (disk full, quota, I/O error: OpenVINO
    raises a RuntimeError naming its temp file) is a BuildError naming the user's output."""
    try:
        ov.save_model(ir, str(path), compress_to_fp16=False)
    except Exception as e:  # noqa: BLE001 - OpenVINO's own exception types
        last = str(e).strip().splitlines()[-1][:300] if str(e).strip() else type(e).__name__
        raise BuildError(
            f"could not write the OpenVINO IR {out} (+ {weights_path(out).name}): {last}; nothing written"
        ) from e


def _place(tmp_xml: Path, out: Path) -> None:
    """Move the finished pair into place (the temp folder is beside ``out``, so each move is an atomic
    rename): weights first, then the xml (the file readers open). A reader that sees the old xml with
    the new weights is refused by the weights check in the card."""
    for src, dst in ((weights_path(tmp_xml), weights_path(out)), (tmp_xml, out)):
        with open(src, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(src, dst)


def _check_parity(
    ov: Any,
    xml: Path,
    src: Path,
    card: ModelCard,
    *,
    threads: int | None,
    int8: bool,
    inference_precision: str = "f32",
) -> dict[str, Any]:
    """The IR (compiled as the runner compiles it, chunked as the runner chunks) against ONNX Runtime
    on the source ONNX; BuildError when they disagree (see ``compare_with_source``)."""
    from edgeseg.backends._build import compare_with_source
    from edgeseg.runner import run_in_chunks

    from edgeseg.backends.openvino._core import shared_core

    core = shared_core()
    config = compile_config(threads=threads, inference_precision=inference_precision)
    compiled = core.compile_model(core.read_model(str(xml)), "CPU", config)
    request = compiled.create_infer_request()
    dim = compiled.input(0).get_partial_shape()[0]
    static = dim.get_length() if dim.is_static else None

    labels = head_of(card) != "logits"  # a labels head: label maps are compared (share of equal pixels)

    def run(x: np.ndarray) -> np.ndarray:
        request.infer({0: x})
        return np.array(request.get_output_tensor(0).data, dtype=np.uint8 if labels else np.float32)

    def infer(batch: np.ndarray) -> np.ndarray:  # a static-batch IR gets full chunks, the last one padded
        return run_in_chunks(np.ascontiguousarray(batch, dtype=np.float32), run, step=static, pad_to=static)

    return compare_with_source(
        infer,
        src,
        card,
        precision="int8"
        if int8
        else ("fp16" if inference_precision == "bf16" else "fp32"),  # bf16: fp16's rule
        enforce=True,
        what="OpenVINO IR",
        threads=threads,
    )


def check_bf16(ov: Any) -> None:
    """BuildError in one line unless this CPU's OpenVINO plugin reports BF16 among its capabilities."""
    from edgeseg.backends.openvino._core import shared_core

    caps = list(shared_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    if "BF16" not in caps:
        raise BuildError(
            f"--bf16-float: this CPU's OpenVINO plugin has no BF16 (capabilities: {', '.join(caps)}); "
            "it needs AVX512-BF16 or AMX. Build without --bf16-float (f32 float parts)"
        )
