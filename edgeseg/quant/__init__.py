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
- ``pipeline``: ``quantize_ptq`` / ``quantize_qat`` / ``quantize_cpu``, each taking one calibration request
  (``edgeseg.data.calib_request.CalibRequest``), and ``quantize(checkpoint, method=...)``, the flat
  keywords of ``edgeseg quantize`` mapped onto them; ``methods``: its methods and defaults;
  ``qdq_steps``: the steps PTQ and QAT share; ``val_check``: measuring INT8 on val.

See docs/quantization.md.
"""

from edgeseg.quant.pipeline import quantize, quantize_cpu, quantize_ptq, quantize_qat

__all__ = ["quantize", "quantize_cpu", "quantize_ptq", "quantize_qat"]
