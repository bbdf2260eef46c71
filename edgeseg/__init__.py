"""edgeseg: train, quantize, build and benchmark lightweight segmentation models for edge devices."""

__version__ = "0.1.0"
