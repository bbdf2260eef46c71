"""Datasets, transforms, the one preprocessing function, and calibration readers."""
