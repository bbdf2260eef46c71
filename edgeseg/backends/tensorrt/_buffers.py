"""Freeing a TensorRT runner's pycuda buffers while their CUDA context is active.

Page-locked host arrays (``pycuda.driver.pagelocked_empty``) carry their allocation in ``.base``;
left to the garbage collector they are freed after the runner released its context, and pycuda
then fails with "cannot activate dead context". So they are freed explicitly, with the device
buffers, by the caller that holds the context.
"""

from __future__ import annotations

from typing import Any, Iterable


def free_buffers(host: dict[str, Any], device: Iterable[Any]) -> None:
    """Free every page-locked host array's allocation and every device allocation. Call inside
    the CUDA context they were made in. The first failure is raised after trying all of them."""
    first: BaseException | None = None
    for arr in list(host.values()):
        alloc = getattr(arr, "base", None)
        free = getattr(alloc, "free", None)
        if callable(free):
            try:
                free()
            except Exception as e:  # noqa: BLE001 - keep freeing the rest
                first = first or e
    for buf in list(device):
        try:
            buf.free()
        except Exception as e:  # noqa: BLE001
            first = first or e
    if first is not None:
        raise first
