"""ONNX export and the checks that follow it."""
