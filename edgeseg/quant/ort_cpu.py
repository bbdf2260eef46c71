"""CPU-flavoured INT8 through ONNX Runtime's own static quantization. CPU ONLY, NOT FOR TensorRT.

``onnxruntime.quantization.quantize_static`` in QDQ format with uint8 (asymmetric) activations and
int8 per-channel weights: the layout ONNX Runtime's x86/ARM CPU kernels run fastest (U8S8). Its
asymmetric activations break TensorRT's rules (``edgeseg check-qdq`` reports them), which is why
the card says ``extra["flavour"] = "onnxruntime-cpu"``; use ``edgeseg quantize --method ptq|qat``
for TensorRT.

``reduce_range`` (7-bit weights) avoids the saturation of the U8S8 ``VPMADDUBSW`` path on x86 CPUs
without VNNI; ``None`` (default) decides from the CPU this runs on (off when VNNI is present or
not x86) and records the choice in the card. Set it explicitly when quantizing for another machine.
"""

from __future__ import annotations

import logging
import platform
from pathlib import Path
from typing import Any, Callable, Sequence

from edgeseg._env import cpu_features, has_vnni
from edgeseg.data.calib_request import RECORD_KEY, CalibRequest
from edgeseg._io import atomic_path, check_output_path
from edgeseg.errors import EdgesegError, QuantizationError

#: WeightBiasQuantization (ONNX Runtime >= 1.21) quantizes the float weights of a Conv that reads a
#: DequantizeLinear and feeds a QuantizeLinear, so a layer a mixed model keeps float would run INT8 after
#: all: sessions on a mixed model disable it (the runner, the build, the budget check).
KEEP_FLOAT = ("WeightBiasQuantization",)

FLAVOUR = "onnxruntime-cpu"
#: Ops quantized for the CPU (ONNX Runtime has QLinear kernels or QDQ fusions for these).
#: BatchNormalization / PRelu stay float (ORT's per-channel path mishandles 1-D BN weights).
OP_TYPES = [
    "Conv",
    "ConvTranspose",
    "Gemm",
    "MatMul",
    "Add",
    "Mul",
    "Concat",
    "AveragePool",
    "GlobalAveragePool",
    "Resize",
    "Sigmoid",
    "Relu",
]
LABEL = "CPU only, not for TensorRT (asymmetric uint8 activations)"


def cpu_has_vnni() -> bool | None:
    """True/False on x86 Linux from /proc/cpuinfo; None when unknown (other OS / arch)."""
    return has_vnni(cpu_features(), platform.machine())


def default_reduce_range() -> bool:
    """7-bit weights only on x86 without VNNI (ONNX Runtime's advice for U8S8)."""
    return cpu_has_vnni() is False


class _Reader:
    """onnxruntime CalibrationDataReader over a CalibrationSet's batches (split to the model's
    fixed batch size when it has one)."""

    def __init__(self, calib, input_name: str, fixed_batch: int | None = None) -> None:
        self.calib, self.input_name, self.fixed_batch = calib, input_name, fixed_batch
        self._it = None

    def _chunks(self):
        for b in self.calib.batches():
            step = self.fixed_batch or len(b)
            for i in range(0, len(b), step):
                part = b[i : i + step]
                if len(part) == step:
                    yield part

    def get_next(self) -> dict[str, Any] | None:
        if self._it is None:
            self._it = self._chunks()
        batch = next(self._it, None)
        return None if batch is None else {self.input_name: batch}

    def rewind(self) -> None:
        self._it = None


def _request_of(calib) -> CalibRequest:
    """The request a CalibrationSet answers (for callers that opened the set themselves)."""
    return CalibRequest(
        source=calib.source, num=calib.num, method="minmax", batch=calib.batch, seed=calib.seed
    )


def first_last_convs(model) -> list[str]:
    """Names of the first and the last Conv in graph (topological) order: the layers edgeseg keeps in
    float for the CPU flavour (the 3-channel image conv is cheap and the classifier decides the
    classes; on the shipped CGNet keeping them took the MinMax INT8 mIoU from 60.73 to 61.03 %)."""
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    return list(dict.fromkeys(convs[:1] + convs[-1:]))


def _quantize_static(
    src: Path, pre: Path, out: Path, reader, *, per_channel: bool, reduce_range: bool, exclude: list[str]
) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime.quantization logs its advice through the root logger
    try:
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(out),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=OP_TYPES,
            nodes_to_exclude=exclude,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    finally:
        root.setLevel(level)


def quantize_ort_cpu(
    onnx_in: Path,
    onnx_out: Path,
    *,
    calib,
    per_channel: bool = True,
    reduce_range: bool | None = None,
    float_first_last: bool = True,
    request: CalibRequest | None = None,
    exclude_nodes: Sequence[str] = (),
    mixed: dict[str, Any] | None = None,
) -> Path:
    """Quantize an FP32 edgeseg ONNX (from ``export_onnx``) for ONNX Runtime CPU; returns ``onnx_out``.

    Defaults: per-channel int8 weights, uint8 activations (MinMax calibration over ``calib``, a
    CalibrationSet whose size must match the model's input), QDQ format, ``reduce_range`` by CPU.
    ``float_first_last`` (default True) keeps the first and last Conv in float (``first_last_convs``);
    ``exclude_nodes`` (default none) more node names left float (``nodes_to_exclude``; mixed precision, whose
    record ``mixed`` goes into the card's ``extra.quantization.mixed``; default none).
    The card in the output says precision int8, flavour "onnxruntime-cpu", asymmetric, CPU only, and
    records ``request`` (default: the one ``calib`` stands for) under ``calibration["request"]``.
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader

    from edgeseg.card import card_from_onnx, card_to_onnx

    src = Path(onnx_in)
    out = check_output_path(onnx_out)
    if not src.is_file():
        raise QuantizationError(f"{src}: FP32 ONNX not found")
    model = onnx.load(str(src))
    card = card_from_onnx(model)
    if card.precision != "fp32":
        raise QuantizationError(f"{src}: expected an FP32 model, found precision {card.precision!r}")
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node):
        raise QuantizationError(f"{src}: already has Q/DQ nodes; start from the FP32 export")
    inputs = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inputs) != 1:
        raise QuantizationError(f"{src}: expected one graph input, found {inputs}")
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    if len(dims) == 4 and dims[2] and dims[3] and tuple(dims[2:]) != tuple(calib.size):
        raise QuantizationError(
            f"{src}: input is {dims[3]}x{dims[2]} but the calibration set is "
            f"{calib.size[1]}x{calib.size[0]}; use --size to match"
        )
    rr = default_reduce_range() if reduce_range is None else bool(reduce_range)
    exclude = first_last_convs(model) if float_first_last else []
    exclude = list(dict.fromkeys([*exclude, *exclude_nodes]))
    unknown = sorted(set(exclude_nodes) - {n.name for n in model.graph.node})
    if unknown:
        raise QuantizationError(f"{src}: no nodes named {unknown[:3]} to leave in float")

    class Reader(_Reader, CalibrationDataReader):
        pass

    reader = Reader(calib, inputs[0], fixed_batch=dims[0] if dims and dims[0] > 0 else None)
    with atomic_path(out) as tmp:
        pre = tmp.with_name("preprocessed.onnx")
        try:
            _quantize_static(src, pre, tmp, reader, per_channel=per_channel, reduce_range=rr, exclude=exclude)
        except EdgesegError:
            raise
        except Exception as e:  # noqa: BLE001 - onnxruntime raises many kinds
            raise QuantizationError(
                f"onnxruntime quantize_static failed: {str(e).splitlines()[0][:300]}"
            ) from e
        pre.unlink(missing_ok=True)
        qmodel = onnx.load(str(tmp))
        qcard = card.replace(
            precision="int8",
            calibration={
                "method": "minmax",
                "fingerprint": calib.fingerprint(),
                "frames": len(calib),
                "source": calib.source,
                "size": list(calib.size),
                "batch": calib.batch,
                RECORD_KEY: (request or _request_of(calib)).record(),
            },
            extra={
                **card.extra,
                "flavour": FLAVOUR,
                "asymmetric": True,
                "note": LABEL,
                "quantization": {
                    "tool": "onnxruntime.quantization.quantize_static",
                    "format": "QDQ",
                    "activations": "uint8 asymmetric, per-tensor, MinMax",
                    "weights": f"int8 symmetric, {'per-channel' if per_channel else 'per-tensor'}",
                    "reduce_range": rr,
                    "float_nodes": exclude,
                    **({"mixed": mixed} if mixed else {}),
                },
            },
        )
        card_to_onnx(qmodel, qcard)
        onnx.save(qmodel, str(tmp))
    return out


def quantize_onnx_for_cpu(
    onnx_in: Path,
    onnx_out: Path,
    *,
    request: CalibRequest,
    card: Any,
    size: tuple[int, int] | None = None,
    per_channel: bool = True,
    reduce_range: bool | None = None,
    exclude_nodes: Sequence[str] = (),
    mixed: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> tuple[Path, Any]:
    """The one owner of ONNX Runtime CPU INT8 from a calibration request (``quantize --method ort-cpu``
    and ``build --backend onnxruntime --int8``): opens ``request``'s frames for ``card`` at ``size``
    (default: the graph's static input size, else the card's) in batches of the graph's static batch
    (else the request's, else 1), logs one line, runs ``quantize_ort_cpu``. Returns (``onnx_out``, the
    CalibrationSet, e.g. for a probe). ``request.method`` must be one onnxruntime takes (minmax).
    ``exclude_nodes`` / ``mixed`` (default none): mixed precision, as ``quantize_ort_cpu``."""
    import onnx

    request = request.for_tool("onnxruntime")
    graph = onnx.load(str(onnx_in), load_external_data=False).graph
    dims = [d.dim_value or None for d in graph.input[0].type.tensor_type.shape.dim] if graph.input else []
    if size is None:
        size = (dims[2], dims[3]) if len(dims) == 4 and dims[2] and dims[3] else tuple(card.input_size)
    batch = (dims[0] if dims else None) or request.batch or 1
    calib = request.open(card, size=size, batch=batch)
    if len(calib) < batch:
        raise QuantizationError(
            f"calibration set {request.source!r} has {len(calib)} frame(s), fewer than one batch of {batch}"
        )
    log(
        f"calibrating on {len(calib)} frames from {request.source} (onnxruntime MinMax, "
        f"{'per-channel' if per_channel else 'per-tensor'} weights)"
    )
    out = quantize_ort_cpu(
        onnx_in,
        onnx_out,
        calib=calib,
        per_channel=per_channel,
        reduce_range=reduce_range,
        request=request,
        exclude_nodes=exclude_nodes,
        mixed=mixed,
    )
    return out, calib


def is_cpu_flavour(card) -> bool:
    return card.extra.get("flavour") == FLAVOUR
