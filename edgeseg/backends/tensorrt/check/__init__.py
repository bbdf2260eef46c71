"""Checking TensorRT against ONNX Runtime on real hardware (a Jetson or an NVIDIA GPU).

- ``tolerances``: the accuracy bounds (Polygraphy's defaults for FP32/FP16 outputs, MMDeploy's mIoU
  bound for reduced precision), their sources, and the element-wise comparison they are used with.
- ``report``: runs the real-TensorRT tests (``pytest -m tensorrt``) and writes
  ``edgeseg-jetson-report.json`` / ``.md`` with the machine facts and each test's figures.

``edgeseg trt-check`` is the command (docs/jetson.md). Nothing here imports TensorRT.
"""

#: Environment variables the real-TensorRT tests read (set by ``edgeseg trt-check``).
ENV_DATA = "EDGESEG_TRT_DATA"  # labelled dataset spec, e.g. camvid:/data/CamVid (enables the mIoU checks)
ENV_ONNX = (
    "EDGESEG_TRT_ONNX"  # FP32 ONNX of the trained model (default: export edgeseg/weights/cgnet_camvid.pt)
)
ENV_QDQ_ONNX = (
    "EDGESEG_TRT_QDQ_ONNX"  # its Q/DQ INT8 ONNX (default: edgeseg quantize --method ptq, needs torch)
)
ENV_MAX_FRAMES = "EDGESEG_TRT_MAX_FRAMES"  # evaluate the first N frames only (default: the whole split)
