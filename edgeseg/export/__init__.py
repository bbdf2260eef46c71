"""ONNX export and the checks that follow it.

- ``export_checkpoint(checkpoint, ...)``: the checked export behind ``edgeseg export`` (``checked``).
- ``onnx.export_onnx(model, card, path, ...)``: the raw export of an in-memory model.
- ``compare.compare(ref, out, tolerance=...)``: the one comparator, with named tolerances.
- ``parity.check_parity``: an ONNX file against its PyTorch model on real frames.
"""

from edgeseg.export.checked import ExportResult, export_checkpoint

__all__ = ["ExportResult", "export_checkpoint"]
