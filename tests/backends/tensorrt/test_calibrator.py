"""The INT8 calibrator's batch stream and cache handling. TensorRT's side is the FAKE module
(tests/fakes), which only checks that we follow the documented calibrator protocol."""

from __future__ import annotations

import numpy as np
import pytest
from _build_helpers import ListCalibSet, random_frames

from edgeseg.backends.tensorrt._calib_cache import CacheKey, key_path, preprocessing_of, read_key, write_cache
from edgeseg.backends.tensorrt._calibrator import BatchFeeder, make_calibrator
from edgeseg.data.preprocess import preprocess
from edgeseg.errors import BuildError

SIZE = (16, 24)


def _key(card, batch=2):
    return CacheKey(
        onnx_sha256="0" * 64,
        calib_fingerprint="listcalib-A-5",
        preprocessing=preprocessing_of(card, SIZE),
        tensorrt_version="10.3.0.26",
        compute_capability="8.7",
        algorithm="entropy",
        batch=batch,
    )


def test_feeder_order_batches_and_exhaustion(camvid_card):
    frames = random_frames(5)
    cs = ListCalibSet(frames, camvid_card, batch=2, size=SIZE)
    feeder = BatchFeeder(cs, (2, 3, *SIZE))
    assert feeder.total == 3
    got = [feeder.next(), feeder.next()]
    assert feeder.next() is None  # the short last batch (1 frame) is dropped...
    assert feeder.next() is None  # ...and exhaustion stays exhausted
    assert feeder.fed == 2 and feeder.dropped == 1
    for i, b in enumerate(got):
        assert b.dtype == np.float32 and b.flags.c_contiguous and b.shape == (2, 3, *SIZE)
        np.testing.assert_array_equal(b, preprocess(frames[2 * i : 2 * i + 2], camvid_card, size=SIZE))


def test_feeder_rejects_wrong_shapes_and_nan(camvid_card):
    cs = ListCalibSet(random_frames(2), camvid_card, batch=2, size=SIZE)
    with pytest.raises(BuildError, match="network input takes"):
        BatchFeeder(cs, (2, 3, 32, 32)).next()

    class NaNSet(ListCalibSet):
        def batches(self):
            yield np.full((2, 3, *SIZE), np.nan, np.float32)

    with pytest.raises(BuildError, match="NaN"):
        BatchFeeder(NaNSet([], camvid_card, batch=2, size=SIZE), (2, 3, *SIZE)).next()


def test_calibrator_streams_preprocessed_batches_to_the_device(fake_trt, camvid_card, tmp_path):
    trt = fake_trt.install("10.3.0.26")
    cuda = fake_trt.pycuda
    frames = random_frames(4, seed=3)
    cs = ListCalibSet(frames, camvid_card, batch=2, size=SIZE)
    cache = tmp_path / "calib" / "m.entropy.cache"
    cache.parent.mkdir()
    with fake_trt.pycuda_context():
        cal = make_calibrator(
            trt,
            cuda,
            calib_set=cs,
            shape=(2, 3, *SIZE),
            algorithm="entropy",
            cache_path=cache,
            key=_key(camvid_card),
            reuse_cache=False,
            progress=False,
        )
        assert isinstance(cal, trt.IInt8EntropyCalibrator2)
        assert cal.get_batch_size() == 2
        assert cal.read_calibration_cache() is None  # not reusing: TensorRT must calibrate
        seen = []
        while (ptrs := cal.get_batch(["input"])) is not None:
            assert len(ptrs) == 1
            seen.append(cuda.read(ptrs[0], (2, 3, *SIZE)))
        assert cal.get_batch(["input"]) is None
        assert len(seen) == 2
        for i, b in enumerate(seen):
            np.testing.assert_array_equal(b, preprocess(frames[2 * i : 2 * i + 2], camvid_card, size=SIZE))
        cal.write_calibration_cache(b"TRT-cache-bytes")
        cal.close()
    assert cache.read_bytes() == b"TRT-cache-bytes" and read_key(cache) == _key(camvid_card)
    assert cal.cache_written and cal.error is None
    assert not cuda.MEMORY  # the device buffer was freed


def test_reused_cache_is_served_and_never_rewritten(fake_trt, camvid_card, tmp_path):
    trt = fake_trt.install("8.6.1.6")
    cache = write_cache(tmp_path / "m.cache", b"old scales", _key(camvid_card))
    before = key_path(cache).read_text()
    with fake_trt.pycuda_context():
        cal = make_calibrator(
            trt,
            fake_trt.pycuda,
            calib_set=None,
            shape=(2, 3, *SIZE),
            algorithm="minmax",
            cache_path=cache,
            key=_key(camvid_card),
            reuse_cache=True,
            progress=False,
        )
        assert isinstance(cal, trt.IInt8MinMaxCalibrator)
        assert cal.read_calibration_cache() == b"old scales"
        assert cal.get_batch(["input"]) is None
        cal.write_calibration_cache(b"new scales")
        cal.close()
    assert cache.read_bytes() == b"old scales" and key_path(cache).read_text() == before


def test_an_error_inside_get_batch_is_kept_and_no_cache_is_written(fake_trt, camvid_card, tmp_path):
    trt = fake_trt.install("10.3.0.26")

    class Broken(ListCalibSet):
        def batches(self):
            yield preprocess(random_frames(2), self.card, size=SIZE)
            raise OSError("disk went away")

    cache = tmp_path / "m.cache"
    with fake_trt.pycuda_context():
        cal = make_calibrator(
            trt,
            fake_trt.pycuda,
            calib_set=Broken(random_frames(4), camvid_card, batch=2, size=SIZE),
            shape=(2, 3, *SIZE),
            algorithm="entropy",
            cache_path=cache,
            key=_key(camvid_card),
            reuse_cache=False,
            progress=False,
        )
        assert cal.get_batch(["input"]) is not None
        assert cal.get_batch(["input"]) is None  # the exception did not cross into TensorRT
        cal.write_calibration_cache(b"partial")
        cal.close()
    assert isinstance(cal.error, OSError) and not cache.exists()


def test_tensorrt_11_has_no_calibrators(fake_trt, camvid_card, tmp_path):
    trt = fake_trt.install("11.0.0.1")
    with pytest.raises(BuildError, match="no IInt8EntropyCalibrator2"):
        make_calibrator(
            trt,
            fake_trt.pycuda,
            calib_set=None,
            shape=(1, 3, *SIZE),
            algorithm="entropy",
            cache_path=tmp_path / "c",
            key=_key(camvid_card),
            reuse_cache=True,
        )


def test_real_calibration_set_matches_preprocess(fake_trt, tmp_path, camvid_card):
    """With the real CalibrationSet (other helper's module): what reaches the device equals
    preprocess(read_image(path)) in paths() order."""
    calib_mod = pytest.importorskip("edgeseg.data.calib", reason="edgeseg.data.calib not written yet")
    import cv2

    from edgeseg.data.image import read_image

    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(random_frames(4, size=SIZE, seed=7)):
        cv2.imwrite(str(folder / f"f{i}.png"), f)
    cs = calib_mod.CalibrationSet(str(folder), camvid_card, num=4, batch=2, size=SIZE)
    trt = fake_trt.install("10.3.0.26")
    with fake_trt.pycuda_context():
        cal = make_calibrator(
            trt,
            fake_trt.pycuda,
            calib_set=cs,
            shape=(2, 3, *SIZE),
            algorithm="entropy",
            cache_path=tmp_path / "c.cache",
            key=_key(camvid_card),
            reuse_cache=False,
            progress=False,
        )
        seen = []
        while (ptrs := cal.get_batch(["input"])) is not None:
            seen.append(fake_trt.pycuda.read(ptrs[0], (2, 3, *SIZE)))
        cal.close()
    frames = [read_image(p) for p in cs.paths()]
    want = preprocess(frames, camvid_card, size=SIZE)
    np.testing.assert_allclose(np.concatenate(seen), want[: 2 * len(seen)], atol=1e-6)
    assert len(seen) == 2
