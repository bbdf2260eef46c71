"""Build an ExecuTorch ``.pte`` program (XNNPACK delegate; FP32, or INT8 through PT2E) from a checkpoint.

ExecuTorch converts from PyTorch, so an ``.onnx`` argument is only used to find its checkpoint and
input size (``edgeseg.backends._checkpoint``). INT8 needs calibration frames (``--calib``),
preprocessed from the card at the program's size. A QAT checkpoint (``edgeseg quantize --method qat
--save-checkpoint``) builds INT8 from its fake-quant-trained weights: those weights were trained
on the same symmetric per-channel int8 grid XNNPACK's weight quantizer uses (amax / 127), so they
quantize as QAT left them; the activation ranges are calibrated again with XNNPACK's observers
(its activations are asymmetric, unlike the TensorRT ranges QAT learned). PT2E's own QAT is not
used: it would be a second training path for the same result.

The written program is opened with the ExecuTorch runtime and compared with PyTorch on the
checkpoint (enforced for FP32; reported for INT8), and its card is read back before it is moved
into place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from edgeseg._io import atomic_write_bytes, check_output_path
from edgeseg.backends._build import BuildResult, build_time, calib_probe, timed_build
from edgeseg.backends._mixed import fp32_checkpoint, mixed_request, proxy_layers
from edgeseg.runner import check_threads
from edgeseg.backends.executorch import SPEC, version
from edgeseg.errors import BuildError


@timed_build("executorch")
def build_executorch(
    model: str | os.PathLike,
    *,
    output: str | os.PathLike | None = None,
    int8: bool = False,
    calib: str | None = None,
    calib_num: int | None = None,
    threads: int | None = None,
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
    """Write ``output`` (default <checkpoint stem>.pte beside the input). ``int8``: PT2E INT8 calibrated on
    ``calib`` (``calib_num`` frames, default 100); needed for a QAT checkpoint. ``threads``: the thread
    count recorded for the runner (None: the runtime's default, one per core) and used for the comparison.
    ``max_drop`` (default None: off; with ``int8``, ``calib`` and ``val_data``; ``class_drop`` default 1.0,
    ``sensitivity_frames`` default 16): the search of ``quantize --max-drop`` on the FP32 checkpoint
    (``edgeseg.backends._mixed.proxy_layers``); its layers stay out of the XNNPACK annotation, and its
    record goes into the card. A mixed Q/DQ ONNX given as ``model`` leaves its card's layers float.
    ``layer_cost`` (default "flops"), ``prefer_cheap`` (default False) and ``layer_cost_measure`` (the
    function "openvino" needs): ``quantize --max-drop``'s ``--layer-cost`` and ``--prefer-cheap``;
    ``drop_reference`` / ``budget_frames``: its ``--drop-reference`` (default
    "fp32") / ``--budget-frames`` (default: the sensitivity frames)."""
    import torch

    from edgeseg.backends._calib_set import open_calib_set
    from edgeseg.backends._checkpoint import find_checkpoint
    from edgeseg.quant.qcheckpoint import is_quantized_checkpoint
    from edgeseg.train.checkpoint import checkpoint_source, load_checkpoint

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
        ckpt, onnx_size, used = fp32_checkpoint(model, backend="executorch")
    else:
        ckpt, onnx_size, used = find_checkpoint(
            model, backend="executorch", converter="ExecuTorch (torch.export)"
        )
    out = check_output_path(output or Path(model).with_name(f"{ckpt.stem}.pte"))
    if out.suffix != ".pte":
        raise BuildError(f"ExecuTorch output must end in .pte, found {out.name}")
    if calib and not int8:
        raise BuildError("--calib is for INT8 builds: add --int8 (an FP32 program needs no calibration)")
    if int8 and not calib:
        raise BuildError(
            "--int8 for executorch calibrates the activations and needs frames: --calib LIST|DIR|SPEC"
        )
    net, card, payload = load_checkpoint(ckpt)
    qat = is_quantized_checkpoint(payload)
    if qat and mixed is not None:
        raise BuildError(
            f"{ckpt} is a quantized (QAT) checkpoint: --max-drop searches from the FP32 checkpoint"
        )
    if qat and not int8:
        raise BuildError(
            f"{ckpt} is a quantized (QAT) checkpoint: build it with --int8 --calib ..., "
            "or pass the FP32 checkpoint"
        )
    h, w = onnx_size or card.input_size
    calib_set = None
    if int8:
        calib_set = open_calib_set(calib, card, num=calib_num or SPEC.calib_num, batch=1, size=(h, w))
    log(f"using {used}")
    float_layers, mixed_record = _recorded_mixed(Path(model)) if int8 else ([], None)
    if mixed is not None:
        float_layers, mixed_record = proxy_layers(
            net,
            card.replace(input_size=(h, w)),
            mixed=mixed,
            val_data=str(val_data),
            calib=str(calib),
            calib_num=calib_num or SPEC.calib_num,
            log=log,
        )
        log(f"leaving {len(float_layers)} layers in float: out of the XNNPACK quantizer's annotation")
    elif float_layers:
        log(
            f"leaving {len(float_layers)} layers in float, as {Path(model).name}'s card records "
            "(edgeseg quantize --max-drop): out of the XNNPACK quantizer's annotation"
        )
    precision = "int8" if int8 else "fp32"
    if threads is not None:
        torch.set_num_threads(int(threads))
    if calib_set is not None:
        log(
            f"quantizing for XNNPACK (PT2E INT8, per-channel weights) on {len(calib_set)} frames from {calib}"
            + (" (the QAT checkpoint's weights)" if qat else "")
        )

    current = {"layers": float_layers}  # the float layers of the program being lowered

    def card_json(lowered: Any) -> str:
        return _card(
            card,
            ckpt=ckpt,
            precision=precision,
            size=(h, w),
            lowered=lowered,
            calib_set=calib_set,
            calib=calib,
            qat=qat,
            threads=threads,
            command=command,
            source=checkpoint_source(ckpt),
            float_layers=current["layers"],
            mixed=mixed_record,
        ).to_json()

    from edgeseg.backends.executorch._lower import lower

    def lower_once(layers: list[str]) -> Any:
        current["layers"] = layers
        return lower(
            net,
            torch.zeros(1, 3, h, w),
            card_json=card_json,
            calib=None if calib_set is None else calib_set.batches(),
            float_modules=layers,
            arch=card.arch,
            log=log,
        )

    if mixed is None:
        lowered = lower_once(float_layers)
    else:  # the search ran on a proxy: check the budget on the program itself
        from edgeseg.backends.executorch._verify import program_check
        from edgeseg.quant.budget_check import BudgetFrames, extend_until_met

        frames = BudgetFrames(net, card.replace(input_size=(h, w)), mixed=mixed, val_data=str(val_data))
        lowered, float_layers = extend_until_met(
            lower_once,
            lambda lowered: program_check(frames, lowered.buffer, out=out, threads=threads),
            float_layers=float_layers,
            record=mixed_record,
            what="the built program",
            log=log,
        )
        lowered.buffer = lowered.restamp(card_json(lowered))  # the card with the program's own checks
    warn = lowered.warning()
    if warn:
        log(warn)
    path_name = (
        f"ExecuTorch {version()}: XNNPACK {precision.upper()}"
        + (" (PT2E, XNNPACK quantizer" + (", QAT weights)" if qat else ")") if int8 else "")
        + f", {lowered.delegated_nodes} ops delegated"
        + (f", {sum(lowered.not_delegated.values())} not" if lowered.not_delegated else "")
    )
    probe = None if calib_set is None else calib_probe(calib_set)
    new_card, comparison = _check(
        lowered.buffer, out=out, ckpt=ckpt, precision=precision, threads=threads, size=(h, w), probe=probe
    )
    atomic_write_bytes(out, lowered.buffer)
    return BuildResult(
        path=out,
        precision=precision,
        path_name=path_name,
        card=new_card,
        comparison=comparison,
        notes=(warn,) if warn else (),
    )


def _recorded_mixed(model: Path) -> tuple[list[str], dict[str, Any] | None]:
    """(float layers, the mixed record) a mixed-precision Q/DQ ONNX's card records (none for a checkpoint
    or another ONNX)."""
    if model.suffix != ".onnx":
        return [], None
    from edgeseg.card import card_from_onnx

    mixed = card_from_onnx(model).extra.get("quantization", {}).get("mixed") or None
    if not mixed:
        return [], None
    return [u for u in mixed.get("float_layers", []) if not u.endswith("residual_quantizer")], mixed


def _card(
    card: Any,
    *,
    ckpt: Path,
    precision: str,
    size: tuple[int, int],
    lowered: Any,
    calib_set: Any,
    calib: str | None,
    qat: bool,
    threads: int | None,
    command: str | None,
    source: str,
    float_layers: list[str] | None = None,
    mixed: dict[str, Any] | None = None,
) -> Any:
    from edgeseg.backends.executorch._lower import XNNPACK_INT8

    extra = {k: v for k, v in card.extra.items() if k not in ("quantization", "flavour")}
    extra.update(
        {
            "backend": "executorch",
            "executorch_version": version(),
            "graph_capture": "torch.export",
            "delegation": lowered.delegation,
            "threads": threads,  # None: the runtime's default
            **build_time(),
            "build_command": command,
        }
    )
    calibration = dict(card.calibration)
    if precision == "int8":
        from edgeseg.quant.ptq import calib_facts

        extra["flavour"] = "xnnpack-pt2e"
        extra["quantization"] = {
            **XNNPACK_INT8,
            "weights_from": "QAT checkpoint (fake-quant trained weights; activation ranges calibrated again)"
            if qat
            else "FP32 checkpoint",
        }
        if float_layers:
            extra["quantization"]["float_layers"] = list(float_layers)
        if mixed:
            extra["quantization"]["mixed"] = mixed
        calibration = {"method": "histogram (XNNPACK quantizer)", **calib_facts(calib_set), "spec": calib}
    return card.replace(
        precision=precision,
        input_size=(int(size[0]), int(size[1])),
        source=source,
        calibration=calibration,
        extra=extra,
    )


def _check(
    buffer: bytes,
    *,
    out: Path,
    ckpt: Path,
    precision: str,
    threads: int | None,
    size: tuple[int, int],
    probe: Any = None,
) -> tuple[Any, dict[str, Any]]:
    """Open the program from a temporary copy beside ``out``: its card, and its logits against PyTorch on
    the checkpoint (enforced for FP32)."""
    from edgeseg.backends._build import compare_with_source
    from edgeseg.backends.executorch.runner import ExecuTorchRunner

    with tempfile.TemporaryDirectory(prefix=".edgeseg-et-", dir=out.parent) as tmp:
        staged = Path(tmp) / out.name
        staged.write_bytes(buffer)
        with ExecuTorchRunner(staged, threads=threads) as runner:
            card = runner.card
            if card.extra.get("backend") != "executorch" or card.precision != precision:
                raise BuildError(
                    f"the program's stored card did not arrive intact (read back {card.precision}, "
                    f"backend {card.extra.get('backend')!r}); nothing written"
                )
            comparison = compare_with_source(
                runner.infer,
                ckpt,
                card,
                precision=precision,
                enforce=precision == "fp32",
                what="ExecuTorch program",
                threads=threads,
                size=size,
                probe=probe,
            )
    return card, comparison
