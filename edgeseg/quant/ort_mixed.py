"""``quantize --method ort-cpu --max-drop`` (and ``build --backend onnxruntime --int8 --max-drop``): the
search's layers left float in ONNX Runtime's own static quantization, and the budget checked on the
quantized model itself.

The search ranks on edgeseg's symmetric fake quant (``mixed_ptq.proxy_float_layers``), a proxy for ONNX
Runtime's asymmetric uint8 activations. Each candidate is quantized with the layers' nodes in
``nodes_to_exclude`` into ``work``, run by ONNX Runtime on the budget frames (``budget_check``), and while
it misses, more of the ranking goes float (``extend_until_met``). The accepted node set is then quantized
into the output with the final record (every check in the card).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from edgeseg.errors import QuantizationError
from edgeseg.quant.budget_check import BudgetFrames, extend_until_met


def quantize_ort_mixed(
    model: Any,
    card: Any,
    request: Any,
    fp32: Path,
    out: Path,
    mixed: Any,
    *,
    data: str,
    split: str,
    work: Path,
    quantize: Callable[..., Any],
    log: Callable[[str], None] = print,
) -> list[str]:
    """The float nodes of the written ``out``: ``quantize(fp32, path, exclude_nodes=..., mixed=record)``
    (``ort_cpu.quantize_onnx_for_cpu`` with the caller's settings bound) for each candidate in ``work``,
    checked in ONNX Runtime on the budget frames of ``data``, then once more into ``out``."""
    import onnx
    import onnxruntime as ort

    from edgeseg.quant.mixed import onnx_nodes
    from edgeseg.quant.mixed_ptq import proxy_float_layers
    from edgeseg.quant.ort_cpu import KEEP_FLOAT

    layers, record = proxy_float_layers(
        model, card, request, mixed, data=data, split=split, progress=False, log=log
    )
    graph = onnx.load(str(fp32))
    frames = BudgetFrames(model, card, mixed=mixed, val_data=data)
    tries = iter(range(1, 1000))

    def build(candidate: list[str]) -> Path:
        path = work / f"candidate{next(tries)}.onnx"
        quantize(fp32, path, exclude_nodes=onnx_nodes(graph, candidate), mixed=record)
        return path

    def check(path: Path) -> dict[str, Any]:
        so = ort.SessionOptions()
        so.log_severity_level = 3
        sess = ort.InferenceSession(
            str(path),
            sess_options=so,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=list(KEEP_FLOAT),
        )
        name = sess.get_inputs()[0].name
        return frames.result(lambda b: sess.run(None, {name: b})[0])

    def maps(unit: str) -> bool:  # a unit the export folded away (a tiny Linear) has no node to exclude
        try:
            return bool(onnx_nodes(graph, [unit]))
        except QuantizationError:
            return False

    ranking = [u for u in record.get("ranking", []) if not u.endswith("residual_quantizer") and maps(u)]
    _, layers = extend_until_met(
        build,
        check,
        float_layers=layers,
        record=record,
        ranking=ranking,
        what="the ONNX Runtime model",
        log=log,
    )
    nodes = onnx_nodes(graph, layers)
    log(f"leaving {len(nodes)} nodes in float for ONNX Runtime (nodes_to_exclude)")
    quantize(fp32, out, exclude_nodes=nodes, mixed=record)
    return nodes
