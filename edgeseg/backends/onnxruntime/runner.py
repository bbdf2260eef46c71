"""OrtRunner: an edgeseg ``.onnx`` file (FP32 or Q/DQ INT8) through ONNX Runtime.

The model card comes from the file's metadata_props; the graph input is checked against it
before the first frame. Providers default to CPU; CUDA / TensorRT only when asked for, and a
provider ONNX Runtime cannot enable is an error, never a silent CPU fallback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgeseg.runner import BaseRunner, check_threads, resolve_threads
from edgeseg.backends.onnxruntime import OPT_LEVELS, disabled_optimizers
from edgeseg.card import ONNX_METADATA_KEY, ModelCard, card_from_onnx, head_of
from edgeseg.errors import EdgesegError, ExportError, UnsupportedOptionError

#: Must equal edgeseg.export.onnx.INPUT_NAME (not imported: that module imports torch, which an
#: ONNX-Runtime-only deployment need not have). A test checks they agree.
INPUT_NAME = "input"

#: Short names accepted in ``providers`` besides ONNX Runtime's own names.
PROVIDER_ALIASES: dict[str, str] = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
}

_INPUT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
_QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger"}


def _load_proto(p: Path) -> Any:
    import onnx
    from google.protobuf.message import DecodeError

    try:
        return onnx.load(str(p), load_external_data=False)
    except (
        DecodeError,
        ValueError,
        RuntimeError,
        OSError,
    ) as e:  # onnx raises DecodeError / ValueError for junk
        raise ExportError(
            f"{p}: not a readable ONNX model (truncated or corrupt?): "
            f"{str(e).splitlines()[0][:200] or type(e).__name__}"
        ) from e


def check_finite_initializers(proto: Any, *, where: str) -> None:
    """ExportError naming the first float initializer holding NaN or infinity (such a model runs and
    gives confident nonsense)."""
    from onnx import TensorProto, numpy_helper

    floats = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16)
    for t in proto.graph.initializer:
        if t.data_type in floats and t.data_location != TensorProto.EXTERNAL:
            a = numpy_helper.to_array(t)
            if not np.isfinite(a.astype(np.float32, copy=False)).all():
                raise ExportError(
                    f"{where}: initializer {t.name!r} holds {int((~np.isfinite(a)).sum())} NaN/infinite "
                    f"value(s) of {a.size}; the model is corrupt or came from a diverged training"
                )


def resolve_providers(requested: Sequence[Any] | None, available: Sequence[str]) -> list[Any]:
    """Map aliases to ONNX Runtime names and reject unknown ones (Polygraphy style).
    Items may be names or ``(name, options)`` pairs. Default: CPU only."""
    if requested is None:
        return ["CPUExecutionProvider"]
    if isinstance(requested, str):
        requested = [requested]
    out: list[Any] = []
    for item in requested:
        name, opts = item if isinstance(item, (tuple, list)) else (item, None)
        full = PROVIDER_ALIASES.get(str(name).lower(), str(name))
        if full not in available:
            raise UnsupportedOptionError(
                f"requested provider {name!r}, available providers are {list(available)}"
            )
        out.append((full, opts) if opts is not None else full)
    if not out:
        raise UnsupportedOptionError(f"providers is empty; available providers are {list(available)}")
    return out


class OrtRunner(BaseRunner):
    """ONNX Runtime inference of an edgeseg-exported ONNX file.

    Defaults: ``providers=None`` (CPU only; "cuda"/"tensorrt" or full names when installed),
    ``threads=None`` (the ``threads`` an ``edgeseg build --threads N`` recorded in the card,
    else ONNX Runtime's default, one per physical core), ``optimization="all"`` (disable | basic |
    extended | all), ``spin=True`` (ONNX Runtime's default: its intra-op threads busy-wait after each
    call for the next one; False turns that off, ``session.intra_op.allow_spinning = 0``, for a process
    that does other work between inferences: the camera loop's capture and drawing, or another runtime
    timed in the same process, which the spinning threads would otherwise slow).
    ``input_size`` is the graph's static (H, W), or None when height/width are dynamic.
    A labels head (``card.extra["head"]``) gives N x 1 x H x W uint8 label maps instead of logits.
    A graph with a static batch B runs a batch of N frames in chunks of B (the last chunk padded).
    """

    backend = "onnxruntime"

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        providers: Sequence[Any] | None = None,
        threads: int | None = None,
        optimization: str = "all",
        spin: bool = True,
    ) -> None:
        import onnxruntime as ort

        p = Path(path)
        self.path = p
        if not p.is_file():
            raise EdgesegError(f"{p}: ONNX file not found")
        if optimization not in OPT_LEVELS:
            raise UnsupportedOptionError(
                f"onnxruntime runner: optimization {optimization!r} is not one of {', '.join(OPT_LEVELS)}"
            )
        check_threads(threads, where="onnxruntime runner")
        if not isinstance(spin, bool):
            raise UnsupportedOptionError(f"onnxruntime runner: spin must be True or False, found {spin!r}")
        prov = resolve_providers(providers, ort.get_available_providers())

        proto = _load_proto(p)
        if not proto.graph.node:  # a zero-byte or non-ONNX file parses as an empty ModelProto
            raise ExportError(
                f"{p}: not an ONNX model (empty graph; {p.stat().st_size} bytes; truncated or another "
                "kind of file?)"
            )
        has_card = any(prop.key == ONNX_METADATA_KEY for prop in proto.metadata_props)
        try:
            self.card: ModelCard = card_from_onnx(proto)
        except EdgesegError as e:
            if has_card:  # the card is there but invalid: say why, not "no card"
                raise ExportError(f"{p}: its edgeseg model card is invalid: {e}") from e
            raise ExportError(
                f"{p}: not exported by edgeseg; no model card in its metadata_props (class names, "
                "palette and "
                f"preprocessing are unknown). Export it with `edgeseg export CHECKPOINT`"
            ) from e
        check_finite_initializers(proto, where=str(p))
        ops = {n.op_type for n in proto.graph.node}
        del proto
        threads = resolve_threads(option=threads, card=self.card)

        so = ort.SessionOptions()
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPT_LEVELS[optimization])
        so.log_severity_level = 3  # errors only; provider fallback is checked below, not left to a warning
        if threads is not None:
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
        if not spin:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            off = disabled_optimizers(self.card)  # mixed precision: its float layers stay float
            kw = {"disabled_optimizers": off} if off else {}
            self.session = ort.InferenceSession(str(p), sess_options=so, providers=prov, **kw)
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own pybind exception types
            raise ExportError(
                f"{p}: ONNX Runtime cannot load it (truncated, corrupt or unsupported?): "
                f"{str(e).splitlines()[0][:300]}"
            ) from e

        wanted = [x[0] if isinstance(x, tuple) else x for x in prov]
        got = self.session.get_providers()
        missing = [w for w in wanted if w not in got]
        if missing:
            raise UnsupportedOptionError(
                f"requested provider {missing[0]!r} but ONNX Runtime could not enable it (session uses "
                f"{got}); "
                "check that its libraries (CUDA, cuDNN, TensorRT) are installed"
            )
        self.providers: list[str] = got
        self.threads = threads
        self.optimization = optimization
        self._check_io()
        if ops & _QUANT_OPS:
            self.precision = "int8"
        elif self._in_dtype == np.float16:
            self.precision = "fp16"
        else:
            self.precision = self.card.precision
        self.options = {
            "providers": self.providers,
            "threads": threads,
            "optimization": optimization,
            "spin": spin,
        }
        self._limits(size=self._size, batch=(self._static, self._static) if self._static else None)

    # -- graph vs card ----------------------------------------------------------------------------
    def _check_io(self) -> None:
        p, card = self.path, self.card
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ExportError(
                f"{p}: expected one graph input ({INPUT_NAME!r}), found {[i.name for i in inputs]}"
            )
        inp = inputs[0]
        if inp.name != INPUT_NAME:
            raise ExportError(
                f"{p}: graph input is named {inp.name!r}, expected {INPUT_NAME!r} as edgeseg exports it"
            )
        shape = list(inp.shape)
        if len(shape) != 4:
            raise ExportError(
                f"{p}: graph input {inp.name!r} has rank {len(shape)} {shape}, expected 4 (N, 3, H, W)"
            )
        if shape[1] != 3:
            raise ExportError(
                f"{p}: graph input {inp.name!r} has {shape[1]} channels {shape}, expected 3 (N, 3, H, W)"
            )
        if inp.type not in _INPUT_DTYPES:
            raise ExportError(
                f"{p}: graph input {inp.name!r} has type {inp.type}, expected tensor(float) or "
                "tensor(float16)"
            )
        self._in_dtype = _INPUT_DTYPES[inp.type]
        self._input_name = inp.name
        h, w = shape[2], shape[3]
        if isinstance(h, int) and isinstance(w, int):
            if (h, w) != tuple(card.input_size):
                raise ExportError(
                    f"{p}: graph input is {h}x{w} but its model card says input_size "
                    f"{card.input_size[0]}x{card.input_size[1]}; re-export it with edgeseg"
                )
            self._size: tuple[int, int] | None = (h, w)
        else:
            self._size = None
        self._static = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        outputs = self.session.get_outputs()
        if not outputs:
            raise ExportError(f"{p}: the graph has no outputs")
        out = outputs[0]
        self._output_name = out.name
        oshape = list(out.shape)
        self._labels = head_of(card) != "logits"
        if self._labels:  # a labels head (edgeseg export --head labels|labels-lowres): N x 1 x H x W uint8
            if (
                len(oshape) != 4
                or (isinstance(oshape[1], int) and oshape[1] != 1)
                or out.type != "tensor(uint8)"
            ):
                raise ExportError(
                    f"{p}: its card says head {head_of(card)!r} but graph output {out.name!r} is "
                    f"{out.type} {oshape}, expected tensor(uint8) (N, 1, H, W)"
                )
        elif len(oshape) != 4 or (isinstance(oshape[1], int) and oshape[1] != card.num_classes):
            raise ExportError(
                f"{p}: graph output {out.name!r} has shape {oshape}, expected (N, {card.num_classes}, H, W) "
                f"for the card's {card.num_classes} classes"
            )

    # -- BaseRunner ---------------------------------------------------------------------------------
    def _infer_chunk(self, x: np.ndarray) -> np.ndarray:
        y = self.session.run([self._output_name], {self._input_name: x.astype(self._in_dtype, copy=False)})[0]
        return np.ascontiguousarray(y, dtype=np.uint8 if self._labels else np.float32)

    def _release(self) -> None:
        self.session = None
