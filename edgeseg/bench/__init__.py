"""Benchmarking: latency, memory, FLOPs/parameters, roofline."""
