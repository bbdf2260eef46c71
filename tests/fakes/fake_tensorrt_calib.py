"""Calibration side of the FAKE ``tensorrt`` (tests only): TensorRT's calibration protocol as the
builder drives it, and the IInt8 calibrator base classes of 8.x-10.x (removed in 11.x). Loaded by
fake_tensorrt.py; never imported outside tests/.
"""

from __future__ import annotations

import types
from typing import Any


def calibrate(cal: Any, network: Any, config: Any, dynamic: bool, *, pycuda: Any, calls: list) -> bool:
    """TensorRT's protocol: get_batch_size, read_calibration_cache, get_batch until None, then
    write_calibration_cache(memoryview). Exceptions in callbacks are printed, not raised (as the
    real trampolines do), and fail the build."""
    try:
        bs = cal.get_batch_size()
        calls.append(("get_batch_size", bs))
        if not isinstance(bs, int) or bs < 1:
            return False
        cache = cal.read_calibration_cache()
        calls.append(("read_calibration_cache", cache is not None))
        if cache is not None:
            return True
        names = [t.name for t in network._inputs]
        shape = (
            config._calibration_profile._shapes[names[0]][1] if dynamic else tuple(network._inputs[0].shape)
        )
        n = 0
        while True:
            ptrs = cal.get_batch(names)
            if not ptrs:
                break
            batch = pycuda.read(ptrs[0], shape)
            calls.append(("calib_batch", n, float(batch.sum())))
            n += 1
        if n == 0:
            return False  # "Calibration failure occurred with no scaling factors detected"
        cal.write_calibration_cache(memoryview(b"FAKE-CALIB-CACHE batches=%d" % n))
        return True
    except Exception as e:  # noqa: BLE001
        calls.append(("calibrator_exception", repr(e)))
        return False


def add_calibrators(m: types.ModuleType, *, calls: list, module: str) -> None:
    """Add IInt8Calibrator, IInt8EntropyCalibrator2 and IInt8MinMaxCalibrator to ``m`` (8.x-10.x);
    ``module``: the ``__module__`` the derived classes report."""

    class _NeedsBaseInit(type):
        """pybind11: a Python subclass must call the base __init__ (TypeError at construction otherwise)."""

        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            obj = super().__call__(*args, **kwargs)
            if not getattr(obj, "_base_init_called", False):
                raise TypeError(
                    f"{cls.__mro__[1].__name__}.__init__() must be called when overriding __init__"
                )
            return obj

    class IInt8Calibrator(metaclass=_NeedsBaseInit):
        def __init__(self) -> None:
            self._base_init_called = True
            calls.append(("IInt8Calibrator.__init__", type(self).__mro__[1].__name__))

        def get_batch_size(self) -> int:
            raise RuntimeError('Tried to call pure virtual function "IInt8Calibrator::get_batch_size"')

        def get_batch(self, names: list[str]) -> list[int]:
            raise RuntimeError('Tried to call pure virtual function "IInt8Calibrator::get_batch"')

        def read_calibration_cache(self) -> buffer:
            return None

        def write_calibration_cache(self, cache: Any) -> None:
            pass

    IInt8EntropyCalibrator2 = type("IInt8EntropyCalibrator2", (IInt8Calibrator,), {"__module__": module})
    IInt8MinMaxCalibrator = type("IInt8MinMaxCalibrator", (IInt8Calibrator,), {"__module__": module})

    m.IInt8Calibrator, m.IInt8EntropyCalibrator2, m.IInt8MinMaxCalibrator = (
        IInt8Calibrator,
        IInt8EntropyCalibrator2,
        IInt8MinMaxCalibrator,
    )
