"""Symmetric INT8 fake quantization as TensorRT executes it, built on PyTorch's own fake-quantize ops.

- Range [-128, 127], zero point 0, ``scale = amax / 127`` (TensorRT's explicit-quantization scheme).
- Activations: one per-tensor ``amax`` from calibration (:mod:`edgeseg.quant.calibrate`), then fixed
  (QAT trains the weights through a straight-through estimator; the activation ranges stay put).
- Weights: per-channel ``amax`` = max |w| over each output channel (axis 0 for Conv2d / Linear,
  axis 1 for ConvTranspose2d), recomputed from the current weights on every forward.

``torch.fake_quantize_per_{tensor,channel}_affine`` with quant range (-128, 127) export through the
TorchScript ONNX exporter as QuantizeLinear/DequantizeLinear pairs with int8 zero points.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

QMIN, QMAX = -128, 127
#: ``amax`` below this is raised to it (an all-zero tensor or channel would give scale 0).
AMAX_FLOOR = 1e-6

MODES = ("quant", "calib", "off")


def _scale(amax: torch.Tensor) -> torch.Tensor:
    # amax is kept >= AMAX_FLOOR when set, so the exporter folds this Div into a constant scale
    return amax / QMAX


def fake_quant_per_tensor(x: torch.Tensor, amax: torch.Tensor) -> torch.Tensor:
    """Symmetric per-tensor INT8 fake quantization of ``x`` with range ``amax`` (a 0-d tensor)."""
    zp = torch.zeros((), dtype=torch.int32, device=x.device)
    return torch.fake_quantize_per_tensor_affine(x, _scale(amax), zp, QMIN, QMAX)


def fake_quant_per_channel(x: torch.Tensor, amax: torch.Tensor, axis: int) -> torch.Tensor:
    """Symmetric per-channel INT8 fake quantization along ``axis`` (``amax`` has one value per channel)."""
    zp = torch.zeros(amax.numel(), dtype=torch.int32, device=x.device)
    return torch.fake_quantize_per_channel_affine(x, _scale(amax), zp, axis, QMIN, QMAX)


class TensorQuantizer(nn.Module):
    """One quantization point: a Q/DQ pair in the exported ONNX.

    ``axis=None``: per-tensor (activations; ``amax`` is a calibrated 0-d buffer, NaN until
    calibrated). ``axis=k``: per-channel along ``k`` with ``dynamic=True`` (weights; ``amax`` is
    refreshed from the tensor on every forward outside ONNX export). Modes: "quant" (default,
    fake-quantize), "calib" (pass through and feed ``observer``), "off" (pass through).
    ``where`` names the tensor for error messages, e.g. "input of stage1.0.0".
    """

    def __init__(
        self, *, axis: int | None = None, channels: int = 1, dynamic: bool = False, where: str = ""
    ) -> None:
        super().__init__()
        self.axis = axis
        self.dynamic = dynamic
        self.where = where
        self.mode = "quant"
        self.observer = None  # callable(tensor) while calibrating; set by edgeseg.quant.calibrate
        shape = () if axis is None else (channels,)
        self.register_buffer("amax", torch.full(shape, float("nan")))

    def extra_repr(self) -> str:
        kind = "per-tensor" if self.axis is None else f"per-channel axis={self.axis}"
        a = self.amax
        rng = (
            f"amax={a.item():.4g}"
            if a.dim() == 0
            else f"amax=[{a.min().item():.3g}, {a.max().item():.3g}]({a.numel()})"
        )
        return f"int8 {kind} {rng} mode={self.mode}"

    @property
    def calibrated(self) -> bool:
        return bool(torch.isfinite(self.amax).all())

    def set_amax(self, amax: float | torch.Tensor) -> None:
        value = torch.as_tensor(amax, dtype=torch.float32).reshape(self.amax.shape)
        with torch.no_grad():
            self.amax.copy_(value.clamp_min(AMAX_FLOOR))

    def refresh(self, x: torch.Tensor) -> None:
        """Recompute a dynamic (weight) quantizer's per-channel amax from ``x``."""
        dims = (
            [d for d in range(x.dim()) if d != self.axis] if self.axis is not None else list(range(x.dim()))
        )
        with torch.no_grad():
            self.amax.copy_(
                x.detach().abs().amax(dim=dims).reshape(self.amax.shape).float().clamp_min(AMAX_FLOOR)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "off":
            return x
        if self.mode == "calib":
            if self.observer is not None:
                self.observer(x.detach())
            return x
        tracing = torch.onnx.is_in_onnx_export() or torch.jit.is_tracing()
        if self.dynamic and not tracing:
            self.refresh(x)
        if not self.dynamic and not tracing and not self.calibrated:
            from edgeseg.errors import QuantizationError

            raise QuantizationError(
                f"quantizer for {self.where or 'a tensor'} has no range yet: calibrate first"
            )
        if self.axis is None:
            return fake_quant_per_tensor(x, self.amax)
        return fake_quant_per_channel(x, self.amax, self.axis)


class _WeightQuantMixin:
    """Adds ``weight_quantizer`` (per-channel, dynamic) to a weighted module."""

    weight_axis = 0

    def _init_weight_quantizer(self, name: str) -> None:
        channels = self.weight.shape[self.weight_axis]
        self.weight_quantizer = TensorQuantizer(
            axis=self.weight_axis, channels=channels, dynamic=True, where=f"weight of {name}"
        )

    def quantized_weight(self) -> torch.Tensor:
        return self.weight_quantizer(self.weight)


class QuantConv2d(_WeightQuantMixin, nn.Conv2d):
    """Conv2d (any groups, incl. depthwise) with a per-output-channel INT8 weight quantizer."""

    @classmethod
    def from_float(cls, m: nn.Conv2d, *, name: str = "") -> "QuantConv2d":
        q = cls(
            m.in_channels,
            m.out_channels,
            m.kernel_size,
            stride=m.stride,
            padding=m.padding,
            dilation=m.dilation,
            groups=m.groups,
            bias=m.bias is not None,
            padding_mode=m.padding_mode,
            device=m.weight.device,
            dtype=m.weight.dtype,
        )
        q.weight, q.bias = m.weight, m.bias
        q._init_weight_quantizer(name)
        return q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.quantized_weight(), self.bias)


class QuantConvTranspose2d(_WeightQuantMixin, nn.ConvTranspose2d):
    """ConvTranspose2d (groups 1) with a per-output-channel INT8 weight quantizer (weight axis 1)."""

    weight_axis = 1

    @classmethod
    def from_float(cls, m: nn.ConvTranspose2d, *, name: str = "") -> "QuantConvTranspose2d":
        if m.groups != 1:
            from edgeseg.errors import QuantizationError

            raise QuantizationError(
                f"{name}: grouped ConvTranspose2d (groups={m.groups}) has no per-output-channel INT8 "
                "weight axis; only groups=1 is supported"
            )
        q = cls(
            m.in_channels,
            m.out_channels,
            m.kernel_size,
            stride=m.stride,
            padding=m.padding,
            output_padding=m.output_padding,
            groups=m.groups,
            bias=m.bias is not None,
            dilation=m.dilation,
            padding_mode=m.padding_mode,
            device=m.weight.device,
            dtype=m.weight.dtype,
        )
        q.weight, q.bias = m.weight, m.bias
        q._init_weight_quantizer(name)
        return q

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        pad = self._output_padding(
            x, output_size, self.stride, self.padding, self.kernel_size, 2, self.dilation
        )
        return F.conv_transpose2d(
            x, self.quantized_weight(), self.bias, self.stride, self.padding, pad, self.groups, self.dilation
        )


class QuantLinear(_WeightQuantMixin, nn.Linear):
    """Linear (Gemm/MatMul in ONNX) with a per-output-feature INT8 weight quantizer."""

    @classmethod
    def from_float(cls, m: nn.Linear, *, name: str = "") -> "QuantLinear":
        q = cls(
            m.in_features,
            m.out_features,
            bias=m.bias is not None,
            device=m.weight.device,
            dtype=m.weight.dtype,
        )
        q.weight, q.bias = m.weight, m.bias
        q._init_weight_quantizer(name)
        return q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.quantized_weight(), self.bias)


#: Float module type -> its quantized replacement. Exact types only (subclasses may change forward).
QUANT_MODULES: dict[type, type] = {
    nn.Conv2d: QuantConv2d,
    nn.ConvTranspose2d: QuantConvTranspose2d,
    nn.Linear: QuantLinear,
}


def quantizers(model: nn.Module) -> dict[str, TensorQuantizer]:
    """All quantizers of a model by qualified name (activation and weight)."""
    return {n: m for n, m in model.named_modules() if isinstance(m, TensorQuantizer)}


def activation_quantizers(model: nn.Module) -> dict[str, TensorQuantizer]:
    return {n: q for n, q in quantizers(model).items() if not q.dynamic}


def set_mode(model: nn.Module, mode: str) -> None:
    """Set every activation quantizer to "quant", "calib" or "off" (weight quantizers stay on)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, found {mode!r}")
    for q in activation_quantizers(model).values():
        q.mode = mode


def refresh_weight_ranges(model: nn.Module) -> None:
    """Recompute every weight quantizer's amax from its weights (done before ONNX export)."""
    for m in model.modules():
        if isinstance(m, _WeightQuantMixin):
            m.weight_quantizer.refresh(m.weight)
