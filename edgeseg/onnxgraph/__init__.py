"""ONNX graph tools the builds share, not backend code: facts about an exported file (``info``: inputs,
Q/DQ detection, ``--shapes`` profiles, the exported card), exact float rewrites for CPU kernels
(``rewrite`` with ``concat`` and ``prelu``), FP32 -> FP16 conversion (``fp16``) and external weight
files (``external``). Below ``quant`` and ``backends`` in docs/architecture.md; nothing here imports
either."""
