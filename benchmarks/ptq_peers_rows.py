"""The rows of benchmarks/ptq_peers.py, one builder per tool: edgeseg PTQ per calibration method and
bias correction, the default `edgeseg quantize` output, OpenVINO NNCF, and ONNX Runtime's quantizer;
``make_row`` is the record every builder returns. Imported by ptq_peers.py (beside it); not a test."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np


class OpenVinoModel:
    """A compiled OpenVINO model as a Runner for ``evaluate`` (f32 inference precision, N threads)."""

    backend = "openvino"

    def __init__(self, ov_model: Any, card: Any, *, threads: int) -> None:
        from edgeseg.backends.openvino._core import shared_core
        from edgeseg.backends.openvino.build import compile_config

        self.card = card
        self.compiled = shared_core().compile_model(ov_model, "CPU", compile_config(threads=threads))

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.card.input_size)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.compiled(batch)[0])


def single_frames(calib) -> list[np.ndarray]:
    """The calibration set as single frames (1, 3, H, W), NNCF's dataset items."""
    return [b[i : i + 1] for b in calib.batches() for i in range(len(b))]


def make_row(rid: str, tool: str, evaluator: str, res: dict, **facts: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "tool": tool,
        **facts,
        "evaluator": evaluator,
        "miou": round(float(res["miou"]), 6),
        "per_class_iou": {
            k: (None if v is None else round(float(v), 6)) for k, v in res["per_class_iou"].items()
        },
        "frames": res["frames"],
        "eval_s": res["seconds"],
        **({"vs_fp32": res["vs_fp32"]} if "vs_fp32" in res else {}),
    }


def edgeseg_rows(
    model, card, calib, val, tmp: Path, *, methods, modes, threads: int, ev: Callable, log
) -> list[dict]:
    from edgeseg.backends import open_runner
    from edgeseg.quant.bias_correction import correct_bias
    from edgeseg.quant.calibrate import apply_amax, collect_statistics
    from edgeseg.quant.placement import prepare
    from edgeseg.quant.ptq import calib_facts, quantized_card
    from edgeseg.quant.qdq_export import export_qdq_onnx

    t0 = time.perf_counter()
    base, placement = prepare(model)
    stats = collect_statistics(base, calib.batches(), total=calib.num_batches(), progress=False)
    stats_s = time.perf_counter() - t0
    rows = []
    for method in methods:
        for mode in modes:
            t0 = time.perf_counter()
            qmodel = copy.deepcopy(base)
            apply_amax(qmodel, stats, method)
            correct_bias(qmodel, calib.batches(), mode=mode, total=calib.num_batches(), progress=False)
            qcard = quantized_card(
                card, method=method, calib_facts=calib_facts(calib), placement=placement, bias_correction=mode
            )
            path = export_qdq_onnx(qmodel, qcard, tmp / f"edgeseg_{method}_{mode}.onnx")
            q_s = time.perf_counter() - t0 + stats_s
            with open_runner(path, threads=threads) as runner:
                res = ev(runner, f"{method}/{mode}")
            rows.append(
                make_row(
                    f"edgeseg {method} / bc {mode}",
                    "edgeseg",
                    "onnxruntime (exported Q/DQ ONNX)",
                    res,
                    calibration=method,
                    bias_correction=mode,
                    quantize_s=round(q_s, 1),
                    bytes=path.stat().st_size,
                )
            )
            log(rows[-1])
    return rows


def default_row(args, card, tmp: Path, *, ev: Callable, log) -> dict:
    from edgeseg.backends import open_runner
    from edgeseg.card import card_from_onnx
    from edgeseg.quant import quantize

    t0 = time.perf_counter()
    out = quantize(
        args.checkpoint,
        calib=args.data,
        num_calib=args.calib_num,
        calib_batch=args.calib_batch,
        size=tuple(card.input_size),
        output=tmp / "edgeseg_default.onnx",
        device="cpu",
        progress=False,
        log=lambda s: None,
    )
    q_s = time.perf_counter() - t0
    qcard = card_from_onnx(out)
    with open_runner(out, threads=args.threads) as runner:
        res = ev(runner, "default")
    row = make_row(
        "edgeseg default",
        "edgeseg",
        "onnxruntime (exported Q/DQ ONNX)",
        res,
        calibration=qcard.calibration["method"],
        bias_correction=qcard.calibration["bias_correction"],
        quantize_s=round(q_s, 1),
        bytes=out.stat().st_size,
        command=f"edgeseg quantize {args.checkpoint} --calib {args.data} --calib-num {args.calib_num}",
    )
    log(row)
    return row


def nncf_rows(fp32_onnx: Path, card, calib, *, threads: int, ev: Callable, log) -> list[dict]:
    import nncf

    from edgeseg.backends.openvino._core import shared_core

    rows = []
    frames = single_frames(calib)
    for rid, fast in (("nncf default", True), ("nncf full bc", False)):
        t0 = time.perf_counter()
        ov_model = shared_core().read_model(str(fp32_onnx))
        qmodel = nncf.quantize(
            ov_model, nncf.Dataset(frames), subset_size=len(frames), fast_bias_correction=fast
        )
        q_s = time.perf_counter() - t0
        res = ev(OpenVinoModel(qmodel, card, threads=threads), rid)
        rows.append(
            make_row(
                rid,
                f"nncf {nncf.__version__}",
                "openvino CPU, f32 inference precision",
                res,
                calibration="nncf default (preset performance: symmetric)",
                bias_correction="fast" if fast else "full",
                quantize_s=round(q_s, 1),
                settings=f"nncf.quantize(ov_model, dataset, subset_size={len(frames)}, "
                f"fast_bias_correction={fast})",
            )
        )
        log(rows[-1])
    return rows


def ort_row(fp32_onnx: Path, calib, tmp: Path, *, threads: int, ev: Callable, log) -> dict:
    from edgeseg.backends import open_runner
    from edgeseg.card import card_from_onnx
    from edgeseg.quant.ort_cpu import quantize_ort_cpu

    t0 = time.perf_counter()
    out = quantize_ort_cpu(fp32_onnx, tmp / "ort_int8.onnx", calib=calib)
    q_s = time.perf_counter() - t0
    with open_runner(out, threads=threads) as runner:
        res = ev(runner, "ort")
    rr = card_from_onnx(out).extra["quantization"]["reduce_range"]
    row = make_row(
        "ort quantizer",
        "onnxruntime.quantization",
        "onnxruntime",
        res,
        calibration="minmax",
        bias_correction="none",
        quantize_s=round(q_s, 1),
        bytes=out.stat().st_size,
        settings=f"quantize_ort_cpu: QDQ, uint8 asymmetric activations, per-channel int8 weights, "
        f"first/last conv float, reduce_range={rr}",
    )
    log(row)
    return row
