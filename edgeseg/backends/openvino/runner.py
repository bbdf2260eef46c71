"""OpenVinoRunner: an OpenVINO IR built by ``edgeseg build --backend openvino`` on the CPU.

The card comes from the IR's rt_info. Before compiling, the weights file (``model.bin``) is checked
against the size and sha256 the card records, so an xml paired with another build's weights is
refused instead of running. Math is pinned to f32 (OpenVINO's CPU plugin would pick bf16 on CPUs
with AVX512-BF16 or AMX); an INT8 IR still runs its quantized Convs with int8 kernels.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg._io import sha256_file
from edgeseg.runner import BaseRunner, check_threads, resolve_threads
from edgeseg.backends.openvino import RT_INFO_CARD, card_in_xml, weights_path
from edgeseg.card import ModelCard, head_of
from edgeseg.errors import EdgesegError, ExportError


def _peek_card(xml: Path) -> ModelCard | None:
    """The card from the xml text alone, or None (only for messages when OpenVINO cannot read the pair)."""
    try:
        return card_in_xml(xml)
    except Exception:  # noqa: BLE001 - a truncated or foreign xml: OpenVINO's own error is reported
        return None


def _check_weights_size(xml: Path, weights: Path, size: int, card: ModelCard) -> None:
    recorded = card.extra.get("weights_size")
    if recorded is not None and int(recorded) != size:
        raise ExportError(
            f"{weights} is {size} bytes but the card in {xml.name} records {recorded}: the pair is from "
            "different builds or truncated; rebuild with edgeseg build MODEL.onnx --backend openvino"
        )


class OpenVinoRunner(BaseRunner):
    """OpenVINO CPU inference of an edgeseg IR (``.xml`` + ``.bin``).

    Defaults: ``threads=None`` (the ``threads`` the build recorded in the card, else
    OpenVINO's default), ``verify_weights=True`` (sha256 of the .bin against the card; its size is
    always checked), ``perf_count=False`` (True: per-node times in ``profiling_info()``, for
    ``edgeseg profile``). ``input_size`` is the IR's static (H, W), or None when height/width are dynamic.
    A labels head (``card.extra["head"]``) gives N x 1 x H x W uint8 label maps instead of logits.
    """

    backend = "openvino"

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        threads: int | None = None,
        verify_weights: bool = True,
        perf_count: bool = False,
    ) -> None:
        from edgeseg.backends.openvino._core import import_openvino, shared_core
        from edgeseg.backends.openvino.build import compile_config

        import_openvino()  # MissingDependencyError before anything else
        p = Path(path)
        self.path = p
        if not p.is_file():
            raise EdgesegError(f"{p}: OpenVINO IR (.xml) not found")
        check_threads(threads, where="openvino runner")
        weights = weights_path(p)
        if not weights.is_file():
            raise ExportError(
                f"{p}: its weights {weights.name} are missing beside it; rebuild with edgeseg build "
                "--backend openvino"
            )
        core = shared_core()
        size = weights.stat().st_size
        try:
            model = core.read_model(str(p))
        except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses of its own
            # OpenVINO reads the weights with the xml and refuses a .bin shorter than the xml's offsets
            # ("Incorrect weights in bin file!"): name the .bin when the card says it is the wrong size
            peeked = _peek_card(p)
            if peeked is not None:
                _check_weights_size(p, weights, size, peeked)
            raise ExportError(
                f"{p}: OpenVINO cannot read it (truncated or corrupt?): "
                f"{str(e).strip().splitlines()[-1][:300]}"
            ) from e
        if not model.has_rt_info(RT_INFO_CARD):
            raise ExportError(
                f"{p}: no edgeseg model card in its rt_info; build it with edgeseg build MODEL.onnx "
                "--backend openvino"
            )
        self.card: ModelCard = ModelCard.from_json(model.get_rt_info(RT_INFO_CARD).astype(str), where=str(p))
        extra = self.card.extra
        _check_weights_size(p, weights, size, self.card)
        if verify_weights and extra.get("weights_sha256") and sha256_file(weights) != extra["weights_sha256"]:
            raise ExportError(
                f"{weights} does not match the sha256 in the card of {p.name} (modified or replaced); "
                "rebuild it"
            )
        threads = resolve_threads(option=threads, card=self.card)
        self._check_io(model)
        precision = str(extra.get("inference_precision") or "f32")  # a --bf16-float build: "bf16"
        if precision not in ("f32", "bf16"):
            raise ExportError(f"{p}: its card's inference_precision is {precision!r}, expected f32 or bf16")
        try:
            config = {
                **compile_config(threads=threads, inference_precision=precision),
                **({"PERF_COUNT": True} if perf_count else {}),
            }
            self._compiled = core.compile_model(model, "CPU", config)
        except Exception as e:  # noqa: BLE001
            raise ExportError(
                f"{p}: OpenVINO could not compile it for the CPU: {str(e).strip().splitlines()[-1][:300]}"
            ) from e
        self._request = self._compiled.create_infer_request()
        self.threads = threads
        self.precision = self.card.precision
        self.options = {"threads": threads, "inference_precision": precision, "device": "CPU"}
        self._limits(size=self._size, batch=(self._static, self._static) if self._static else None)

    def _check_io(self, model: Any) -> None:
        p, card = self.path, self.card
        if len(model.inputs) != 1 or len(model.outputs) < 1:
            raise ExportError(
                f"{p}: expected one input and an output, found {len(model.inputs)} inputs, "
                f"{len(model.outputs)} outputs"
            )
        shape = model.input(0).get_partial_shape()
        if (
            shape.rank.is_dynamic
            or shape.rank.get_length() != 4
            or (shape[1].is_static and shape[1].get_length() != 3)
        ):
            raise ExportError(f"{p}: input shape {shape}, expected (N, 3, H, W)")
        dims = [d.get_length() if d.is_static else None for d in shape]
        self._static = dims[0]
        if dims[2] is not None and dims[3] is not None:
            if (dims[2], dims[3]) != tuple(card.input_size):
                raise ExportError(
                    f"{p}: input is {dims[2]}x{dims[3]} but its card says input_size "
                    f"{card.input_size[0]}x{card.input_size[1]}"
                )
            self._size: tuple[int, int] | None = (dims[2], dims[3])
        else:
            self._size = None
        out = model.output(0).get_partial_shape()
        self._labels = head_of(card) != "logits"
        if self._labels:  # a labels head: N x 1 x H x W u8
            kind = model.output(0).get_element_type().get_type_name()
            if kind != "u8" or (
                out.rank.is_static
                and (out.rank.get_length() != 4 or (out[1].is_static and out[1].get_length() != 1))
            ):
                raise ExportError(
                    f"{p}: its card says head {head_of(card)!r} but the output is {kind} {out}, "
                    "expected u8 (N, 1, H, W)"
                )
        elif out.rank.is_static and (
            out.rank.get_length() != 4 or (out[1].is_static and out[1].get_length() != card.num_classes)
        ):
            raise ExportError(
                f"{p}: output shape {out}, expected (N, {card.num_classes}, H, W) for the card's classes"
            )

    def _infer_chunk(self, x: np.ndarray) -> np.ndarray:
        # the input is read in place (contiguous float32 from check_batch; infer is synchronous); the
        # output is copied because OpenVINO reuses its tensor on the next call
        self._request.infer({0: x}, share_inputs=True)
        return np.array(
            self._request.get_output_tensor(0).data, dtype=np.uint8 if self._labels else np.float32
        )

    def profiling_info(self) -> list[Any]:
        """OpenVINO's per-node records of the last ``infer`` (needs ``perf_count=True``)."""
        if self._closed:
            raise EdgesegError(f"{self.name} is closed: profiling_info() after close()")
        return list(self._request.profiling_info)

    def fused_layers(self) -> dict[str, list[str]]:
        """{executed node name: the original (ONNX-derived) layer names it fuses}, from the compiled
        model's runtime graph (``originalLayersNames`` rt_info); the keys are ``profiling_info()``'s
        ``node_name``."""
        if self._closed:
            raise EdgesegError(f"{self.name} is closed: fused_layers() after close()")
        out = {}
        for op in self._compiled.get_runtime_model().get_ordered_ops():
            info = op.get_rt_info()
            names = info["originalLayersNames"].astype(str) if "originalLayersNames" in info else ""
            out[op.get_friendly_name()] = [n for n in names.split(",") if n]
        return out

    def inference_threads(self) -> int:
        """The CPU threads the compiled model runs on (OpenVINO's choice when ``threads`` is None)."""
        return int(self._compiled.get_property("INFERENCE_NUM_THREADS"))

    def _release(self) -> None:
        self._request = None
        self._compiled = None
