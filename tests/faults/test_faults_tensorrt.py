"""Issue 16, fault table: TENSORRT timing caches and runner lifetime, with the FAKE tensorrt/pycuda of
tests/fakes (checked against NVIDIA's API manifests) standing in for TensorRT: these rows test
edgeseg's glue, never a figure.

Timing caches (refusal rows, real ``edgeseg build`` CLI): a first build writes ``cache/trt.timing``
and its key; then the cache is used by another TensorRT, on another GPU, or without its key. It
must be refused naming the cache and what differs, no engine written, the cache left byte for byte.

Runner lifetime (library rows): a runner closed twice frees everything once; closed from another
thread it refuses with an EdgesegError and frees nothing, and the opening thread can still close it,
freeing the page-locked host and device buffers inside the CUDA context.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

from faults_table import Row, params, run_row, work_dir

TRT = "10.3.0.26"


def _first_build(tmp, a, P) -> list[str]:
    from edgeseg.cli import main

    (tmp / "cache").mkdir()
    opts = ["--fp16", "--timing-cache", str(tmp / "cache" / "trt.timing")]
    with P.fake_tensorrt(TRT):
        assert main(["build", str(a.onnx), *opts, "-o", str(tmp / "first.engine")]) == 0
    assert (tmp / "cache" / "trt.timing.key.json").is_file()
    return ["build", str(a.onnx), *opts, "-o", str(tmp / "new.engine")]


def plant_timing_cache_first(tmp, a, P):
    return _first_build(tmp, a, P)


def plant_timing_cache_without_key(tmp, a, P):
    argv = _first_build(tmp, a, P)
    (tmp / "cache" / "trt.timing.key.json").unlink()
    return argv


def fake_tensorrt(version: str, compute_capability=(8, 7)):
    def patch(monkeypatch):
        import _plant

        _plant.install_fake_tensorrt(monkeypatch, version, compute_capability)

    return patch


_NOTHING = ("new.engine", "new.engine.card.json")
ROWS = [
    Row(
        "build-timing-cache-of-another-tensorrt-fake-trt",
        plant_timing_cache_first,
        r"timing cache \S*trt\.timing was made for another setup \(tensorrt_version: 10\.3\.0\.26 -> "
        r"10\.4\.0\.1\); "
        r"refusing it: delete it",
        (4,),
        absent=_NOTHING,
        unchanged=("cache",),
        patch=fake_tensorrt("10.4.0.1"),
    ),
    Row(
        "build-timing-cache-of-another-gpu-fake-trt",
        plant_timing_cache_first,
        r"trt\.timing was made for another setup \(compute_capability: 8\.7 -> 7\.2\)",
        (4,),
        absent=_NOTHING,
        unchanged=("cache",),
        patch=fake_tensorrt(TRT, (7, 2)),
    ),
    Row(
        "build-timing-cache-without-key-fake-trt",
        plant_timing_cache_without_key,
        r"trt\.timing has no key file \(trt\.timing\.key\.json\).*delete it",
        (4,),
        absent=_NOTHING,
        unchanged=("cache",),
        patch=fake_tensorrt(TRT),
    ),
]


@pytest.mark.parametrize("row", params(ROWS))
def test_fault(row: Row, tmp_path, artifacts, plant, capsys, monkeypatch):
    work = work_dir(tmp_path, monkeypatch)
    run_row(row, work, artifacts, plant, capsys, monkeypatch)


# ---- runner lifetime ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunnerRow:
    id: str
    issue_rows: tuple[int, ...]
    act: Callable  # (runner) -> None: the fault


def _close_twice(r) -> None:
    r.close()
    r.close()


def _close_from_another_thread(r) -> None:
    from edgeseg.errors import EdgesegError

    errors: list[BaseException] = []
    t = threading.Thread(target=lambda: _catch(r.close, errors))
    t.start()
    t.join()
    assert len(errors) == 1 and isinstance(errors[0], EdgesegError), errors
    assert "must be closed from the thread that opened it" in str(errors[0])
    assert r.infer(np.zeros((1, 3, 64, 96), np.float32)).shape[0] == 1  # untouched, still usable
    r.close()


def _catch(fn, errors) -> None:
    try:
        fn()
    except BaseException as e:  # noqa: BLE001
        errors.append(e)


RUNNER_ROWS = [
    RunnerRow("runner-closed-twice-fake-trt", (4,), _close_twice),
    RunnerRow("runner-closed-from-another-thread-fake-trt", (4,), _close_from_another_thread),
]


@pytest.mark.parametrize("row", params(RUNNER_ROWS, kind="lifetime"))
def test_runner_lifetime(row: RunnerRow, tmp_path, artifacts, plant, monkeypatch):
    from edgeseg.backends.tensorrt.build import build_tensorrt
    from edgeseg.backends.tensorrt.runner import TensorRTRunner

    plant.install_fake_tensorrt(monkeypatch, TRT)
    engine = build_tensorrt(artifacts.onnx, output=tmp_path / "m.engine", fp16=True, log=lambda s: None).path
    cuda = plant._load_fake("fake_pycuda")
    cuda.reset()
    r = TensorRTRunner(engine)
    r.infer(np.zeros((1, 3, 64, 96), np.float32))
    row.act(r)
    assert cuda.HOST_ALLOCS and all(a.freed for a in cuda.HOST_ALLOCS), "page-locked host memory leaked"
    assert not cuda.MEMORY and cuda.CONTEXT_STACK == []
    calls = [c[0] for c in cuda.CALLS]
    assert calls.count("detach") == 1 and calls.index("detach") > max(
        i for i, c in enumerate(calls) if c == "host_free"
    )
