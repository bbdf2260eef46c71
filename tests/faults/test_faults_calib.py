"""Issue 8, fault table 6: CALIBRATION CACHES (issue row 5) through the real ``edgeseg build --int8
--calib``, with the FAKE tensorrt/pycuda of tests/fakes standing in for TensorRT (no engine is
really built: these rows test edgeseg's glue, the cache key and the refusal, and nothing else).

Each row first calibrates for real (real calibration folder, edgeseg's calibrator driven by the fake
builder), which writes ``cache/tiny.cache`` and its key; then it changes the model, the calibration
set or the cache, and builds again with the same ``--calib-cache``. The cache must be refused with
the changed field named, never reused silently, and nothing written; ``--recalibrate`` rebuilds it.
"""

from __future__ import annotations

import json

import pytest

from faults_table import Row, params, run_cli, run_row, work_dir

TRT = "10.3.0.26"


def _frame(src, dst) -> None:
    """A calibration frame at the card's 64x96 (no resize warning)."""
    import cv2

    cv2.imwrite(str(dst), cv2.resize(cv2.imread(str(src)), (96, 64)))


def _first_build(tmp, a, P) -> list[str]:
    """Calibrate once with the fake TensorRT: returns the build options (cache in tmp/cache)."""
    from edgeseg.cli import main

    (tmp / "calib").mkdir()
    for f in sorted((a.camvid / "val").glob("*.png")):
        _frame(f, tmp / "calib" / f.name)
    (tmp / "cache").mkdir()
    opts = ["--int8", "--calib", str(tmp / "calib"), "--calib-cache", str(tmp / "cache" / "tiny.cache")]
    with P.fake_tensorrt(TRT):
        assert main(["build", str(a.onnx), *opts, "-o", str(tmp / "first.engine")]) == 0
    assert (tmp / "cache" / "tiny.cache").is_file() and (tmp / "cache" / "tiny.cache.key.json").is_file()
    return opts


def _retrained_onnx(tmp, a):
    """The same model after more training: one weight moved, same card."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(a.onnx))
    init = proto.graph.initializer[0]
    arr = numpy_helper.to_array(init).copy()
    arr.flat[0] += 0.01
    init.CopyFrom(numpy_helper.from_array(arr, init.name))
    (tmp / "retrained.onnx").write_bytes(proto.SerializeToString())
    return tmp / "retrained.onnx"


def plant_cache_of_other_model(tmp, a, P):
    opts = _first_build(tmp, a, P)
    return ["build", str(_retrained_onnx(tmp, a)), *opts, "-o", str(tmp / "new.engine")]


def plant_cache_of_other_calib_set(tmp, a, P):
    opts = _first_build(tmp, a, P)
    _frame(a.image, tmp / "calib" / "z_new_frame.png")  # one more frame in the set
    return ["build", str(a.onnx), *opts, "-o", str(tmp / "new.engine")]


def plant_cache_frame_replaced(tmp, a, P):
    import cv2

    opts = _first_build(tmp, a, P)
    first = sorted((tmp / "calib").glob("*.png"))[0]
    cv2.imwrite(str(first), 255 - cv2.imread(str(first)))  # same names and count, other pixels
    return ["build", str(a.onnx), *opts, "-o", str(tmp / "new.engine")]


def plant_cache_edited(tmp, a, P):
    opts = _first_build(tmp, a, P)
    (tmp / "cache" / "tiny.cache").write_bytes(b"TRT-8601-EntropyCalibration2\ninput: 3c010a14\n")
    return ["build", str(a.onnx), *opts, "-o", str(tmp / "new.engine")]


def plant_cache_without_key(tmp, a, P):
    opts = _first_build(tmp, a, P)
    (tmp / "cache" / "tiny.cache.key.json").unlink()
    return ["build", str(a.onnx), *opts, "-o", str(tmp / "new.engine")]


def plant_cache_of_other_tensorrt(tmp, a, P):
    opts = _first_build(tmp, a, P)
    return ["build", str(a.onnx), *opts, "-o", str(tmp / "new.engine")]


def fake_tensorrt(version: str):
    def patch(monkeypatch):
        import _plant

        _plant.install_fake_tensorrt(monkeypatch, version)

    return patch


_NOTHING = ("new.engine", "new.engine.card.json")
ROWS = [
    Row(
        "build-int8-cache-of-another-model-fake-trt",
        plant_cache_of_other_model,
        r"calibration cache \S*tiny\.cache is stale \(onnx_sha256: [0-9a-f]{16} -> [0-9a-f]{16}\); "
        r"refusing to reuse it.*"
        r"--recalibrate",
        (5,),
        absent=_NOTHING,
        unchanged=("cache",),
        patch=fake_tensorrt(TRT),
    ),
    Row(
        "build-int8-cache-of-another-calib-set-fake-trt",
        plant_cache_of_other_calib_set,
        r"tiny\.cache is stale \(calib_fingerprint: \S+ -> \S+\); refusing to reuse it",
        (5,),
        absent=_NOTHING,
        unchanged=("cache",),
        patch=fake_tensorrt(TRT),
    ),
    Row(
        "build-int8-cache-calib-frame-replaced-fake-trt",
        plant_cache_frame_replaced,
        r"tiny\.cache is stale \(calib_fingerprint: \S+ -> \S+\)",
        (5,),
        absent=_NOTHING,
        unchanged=("cache",),
        patch=fake_tensorrt(TRT),
    ),
    Row(
        "build-int8-cache-edited-after-its-key-fake-trt",
        plant_cache_edited,
        r"tiny\.cache was changed after its key was written \(sha256 differs\); refusing to reuse it",
        (5,),
        absent=_NOTHING,
        unchanged=("cache",),
        patch=fake_tensorrt(TRT),
    ),
    Row(
        "build-int8-cache-without-key-fake-trt",
        plant_cache_without_key,
        r"tiny\.cache has no key file \(tiny\.cache\.key\.json\).*refusing to reuse it",
        (5,),
        absent=_NOTHING,
        unchanged=("cache",),
        patch=fake_tensorrt(TRT),
    ),
    Row(
        "build-int8-cache-of-another-tensorrt-fake-trt",
        plant_cache_of_other_tensorrt,
        r"tiny\.cache is stale \(tensorrt_version: 10\.3\.0\.26 -> 10\.4\.0\.1\)",
        (5,),
        absent=_NOTHING,
        unchanged=("cache",),
        patch=fake_tensorrt("10.4.0.1"),
    ),
]


@pytest.mark.parametrize("row", params(ROWS))
def test_fault(row: Row, tmp_path, artifacts, plant, capsys, monkeypatch):
    work = work_dir(tmp_path, monkeypatch)
    run_row(row, work, artifacts, plant, capsys, monkeypatch)


@pytest.mark.parametrize(
    "row",
    params(
        [Row("build-int8-recalibrate-replaces-a-stale-cache-fake-trt", plant_cache_of_other_model, "", (5,))],
        kind="rebuilt",
    ),
)
def test_recalibrate_rebuilds_the_stale_cache(row, tmp_path, artifacts, plant, capsys, monkeypatch):
    """The stale cache of row 1 is replaced when (and only when) the user asks with --recalibrate."""
    from edgeseg._io import sha256_file
    from edgeseg.card import read_sidecar

    monkeypatch.chdir(tmp_path)
    argv = row.plant(tmp_path, artifacts, plant)
    old_key = json.loads((tmp_path / "cache" / "tiny.cache.key.json").read_text())
    plant.install_fake_tensorrt(monkeypatch, TRT)
    code, out, err = run_cli([*argv, "--recalibrate"], child=False, capsys=capsys)
    assert code == 0, err
    key = json.loads((tmp_path / "cache" / "tiny.cache.key.json").read_text())
    assert key["onnx_sha256"] == sha256_file(tmp_path / "retrained.onnx") != old_key["onnx_sha256"]
    assert key["cache_sha256"] == sha256_file(tmp_path / "cache" / "tiny.cache")
    assert read_sidecar(tmp_path / "new.engine").calibration["recalibrated"] is True
