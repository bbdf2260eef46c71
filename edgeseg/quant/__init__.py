"""INT8 quantization: TensorRT-ready Q/DQ ONNX from PTQ or QAT, a Q/DQ rule checker, and an
ONNX Runtime CPU flavour.

- ``fakequant``: symmetric INT8 fake quantizers (torch ops that export as Q/DQ) and quantized modules.
- ``placement``: where Q/DQ go (TensorRT rules), via ``torch.fx``; BN folding.
- ``calibrate``: max / percentile / entropy / mse activation ranges from one statistics pass.
- ``ptq`` / ``qat``: post-training calibration, quantization-aware fine-tuning.
- ``qdq_export``: ONNX export with int8 weight initializers, checked before anything is written.
- ``qdq_check``: ``check_qdq(model_or_path) -> list[Violation]``.
- ``qcheckpoint``: QAT checkpoints that still load as FP32 with ``load_checkpoint``.
- ``ort_cpu``: ``quantize_ort_cpu`` (asymmetric, CPU only, not for TensorRT).
- ``compare``: pick the calibration method by validation mIoU.
- ``pipeline``: ``quantize(checkpoint, method=...)``, the library function behind ``edgeseg quantize``.

See docs/quantization.md.
"""

from edgeseg.quant.pipeline import quantize

__all__ = ["quantize"]
