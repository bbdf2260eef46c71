"""Keyed calibration caches: reused only for the same model, data, preprocessing, TensorRT, GPU,
algorithm and batch; anything else is refused (or recalibrated on request), never reused silently."""

from __future__ import annotations

import dataclasses
import json

import pytest

from edgeseg.backends.tensorrt._calib_cache import (
    CacheKey,
    check_cache,
    key_path,
    preprocessing_of,
    read_key,
    write_cache,
)
from edgeseg.errors import BuildError


@pytest.fixture
def key(camvid_card):
    return CacheKey(
        onnx_sha256="a" * 64,
        calib_fingerprint="set-1",
        preprocessing=preprocessing_of(camvid_card, (64, 96)),
        tensorrt_version="10.3.0.26",
        compute_capability="8.7",
        algorithm="entropy",
        batch=1,
    )


def test_missing_cache_means_calibrate(tmp_path, key):
    assert check_cache(tmp_path / "m.cache", key) is False


def test_written_cache_is_reused_with_the_same_key(tmp_path, key):
    cache = write_cache(tmp_path / "m.cache", b"TRT-8601-EntropyCalibration2\ninput: 3c010a14\n", key)
    assert read_key(cache) == key
    assert json.loads(key_path(cache).read_text())["format"] == "edgeseg.calib-key/1"
    assert check_cache(cache, key) is True


@pytest.mark.parametrize(
    "field,value",
    [
        ("onnx_sha256", "b" * 64),
        ("calib_fingerprint", "set-2"),
        ("tensorrt_version", "10.4.0.1"),
        ("compute_capability", "7.2"),
        ("algorithm", "minmax"),
        ("batch", 4),
    ],
)
def test_any_changed_field_is_refused_and_named(tmp_path, key, field, value):
    cache = write_cache(tmp_path / "m.cache", b"scales", key)
    changed = dataclasses.replace(key, **{field: value})
    with pytest.raises(BuildError) as e:
        check_cache(cache, changed)
    assert "stale" in str(e.value) and field in str(e.value) and "--recalibrate" in str(e.value)
    assert check_cache(cache, changed, recalibrate=True) is False  # explicit opt-in recalibrates


def test_changed_preprocessing_is_refused(tmp_path, key, camvid_card):
    cache = write_cache(tmp_path / "m.cache", b"scales", key)
    bgr = dataclasses.replace(
        key, preprocessing=preprocessing_of(camvid_card.replace(channel_order="BGR"), (64, 96))
    )
    with pytest.raises(BuildError, match="preprocessing"):
        check_cache(cache, bgr)


def test_cache_without_key_is_refused(tmp_path, key):
    cache = tmp_path / "orphan.cache"
    cache.write_bytes(b"scales from somewhere")
    with pytest.raises(BuildError, match="no key file"):
        check_cache(cache, key)


def test_edited_cache_is_refused(tmp_path, key):
    cache = write_cache(tmp_path / "m.cache", b"scales", key)
    cache.write_bytes(b"other scales")
    with pytest.raises(BuildError, match="changed after its key"):
        check_cache(cache, key)


def test_malformed_key_is_refused(tmp_path, key):
    cache = write_cache(tmp_path / "m.cache", b"scales", key)
    key_path(cache).write_text('{"format": "something else"}')
    with pytest.raises(BuildError, match="not a readable calibration-cache key"):
        check_cache(cache, key)


def test_without_the_set_the_fingerprint_is_taken_from_the_key(tmp_path, key):
    cache = write_cache(tmp_path / "m.cache", b"scales", key)
    assert check_cache(cache, dataclasses.replace(key, calib_fingerprint=""), have_set=False) is True
    with pytest.raises(BuildError, match="tensorrt_version"):
        check_cache(
            cache, dataclasses.replace(key, calib_fingerprint="", tensorrt_version="8.6.1"), have_set=False
        )
    with pytest.raises(BuildError, match="does not exist"):
        check_cache(tmp_path / "none.cache", key, have_set=False)
    with pytest.raises(BuildError, match="--recalibrate needs"):
        check_cache(cache, key, recalibrate=True, have_set=False)
