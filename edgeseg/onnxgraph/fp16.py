"""FP32 -> FP16 ONNX conversion for strongly typed TensorRT builds (TensorRT 11 has no FP16 flag).

Uses onnxconverter-common's ``float16.convert_float_to_float16`` with:

- IO kept float32 (``keep_io_types``), so runners and preprocessing do not change;
- numerically sensitive ops kept in FP32 (``FP32_OPS``: Resize, Softmax, reductions, exp/log/pow,
  plus the converter's own default list), with Casts inserted around them;
- two fixes for converter bugs met on our exports: stale ``value_info`` types (dropped before
  converting) and a graph output left FP16 when its producer is a kept-FP32 op (a final Cast is added).
"""

from __future__ import annotations

from typing import Any

from edgeseg.errors import BuildError, MissingDependencyError

#: Ops kept in FP32 on top of onnxconverter-common's DEFAULT_OP_BLOCK_LIST.
FP32_OPS = (
    "Resize",
    "Upsample",
    "Softmax",
    "LogSoftmax",
    "ReduceMean",
    "ReduceSum",
    "ReduceSumSquare",
    "ReduceL2",
    "ReduceLogSumExp",
    "ReduceProd",
    "GlobalAveragePool",
    "Exp",
    "Log",
    "Pow",
)


def fp16_converter() -> Any:
    try:
        from onnxconverter_common import float16
    except ImportError as e:
        raise MissingDependencyError(
            "onnxconverter-common",
            "fp16",
            "FP16 builds (onnxruntime --fp16, TensorRT 11 --fp16) convert the ONNX with it",
        ) from e
    return float16


def convert_onnx_fp16(model: Any, *, keep_fp32_ops: tuple[str, ...] = FP32_OPS) -> Any:
    """Return an FP16 copy of ``model`` (a ModelProto) with float32 inputs/outputs. Metadata is kept."""
    import onnx

    float16 = fp16_converter()
    src = onnx.ModelProto()
    src.CopyFrom(model)
    del src.graph.value_info[:]  # stale FP32 value_info makes the converter emit type-inconsistent graphs
    io_types = {v.name: v.type.tensor_type.elem_type for v in list(src.graph.input) + list(src.graph.output)}
    block = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(keep_fp32_ops))
    import warnings

    try:
        with warnings.catch_warnings(record=True) as caught:  # one line per tiny weight: summarized below
            warnings.simplefilter("always")
            out = float16.convert_float_to_float16(src, keep_io_types=True, op_block_list=block)
    except Exception as e:  # noqa: BLE001 - the converter raises many kinds
        raise BuildError(f"FP16 conversion of the ONNX failed: {e.__class__.__name__}: {str(e)[:200]}") from e
    clipped = [w for w in caught if "truncated" in str(w.message)]
    if clipped:
        warnings.warn(
            f"FP16: {len(clipped)} float32 values outside float16's range were clamped by the converter "
            "(magnitudes below 1e-7 or above 65504; the accuracy check measures the effect)",
            stacklevel=2,
        )
    _restore_float_outputs(out, io_types)
    try:
        onnx.checker.check_model(out)
    except Exception as e:  # noqa: BLE001
        raise BuildError(f"the FP16 ONNX failed onnx.checker: {str(e)[:300]}") from e
    return out


def _restore_float_outputs(model: Any, io_types: dict[str, int]) -> None:
    """Give every graph output that was float32 before conversion a final Cast back to float32."""
    from onnx import TensorProto, helper

    for out in model.graph.output:
        tt = out.type.tensor_type
        if io_types.get(out.name) != TensorProto.FLOAT or tt.elem_type != TensorProto.FLOAT16:
            continue
        inner = f"{out.name}__fp16"
        for node in model.graph.node:
            node.output[:] = [inner if o == out.name else o for o in node.output]
            node.input[:] = [inner if i == out.name else i for i in node.input]
        model.graph.node.append(
            helper.make_node("Cast", [inner], [out.name], to=TensorProto.FLOAT, name=f"{out.name}__to_fp32")
        )
        tt.elem_type = TensorProto.FLOAT
