"""Keyed INT8 calibration caches: a cache is only reused for the exact model, data and TensorRT it
was made with.

Beside ``calib/NAME.cache`` lives ``calib/NAME.cache.key.json`` with the key: ONNX sha256,
calibration-set fingerprint, preprocessing (mean/std/channel order/size), TensorRT version, GPU
compute capability, algorithm and batch. A cache whose key differs (or that has no key) is
REFUSED with the fields that changed, or recalibrated when the user says ``--recalibrate``;
it is never reused silently (TensorRT itself would accept any cache that parses).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgeseg._io import atomic_write_bytes, atomic_write_json, sha256_bytes
from edgeseg.card import ModelCard
from edgeseg.errors import BuildError

KEY_SUFFIX = ".key.json"
KEY_FORMAT = "edgeseg.calib-key/1"

#: Fields that may be left unchecked when reusing a cache without the calibration set at hand.
SET_FIELDS = ("calib_fingerprint",)


@dataclass(frozen=True)
class CacheKey:
    """What a calibration cache depends on."""

    onnx_sha256: str
    calib_fingerprint: str
    preprocessing: dict[str, Any]
    tensorrt_version: str
    compute_capability: str
    algorithm: str
    batch: int

    def to_dict(self) -> dict[str, Any]:
        return {"format": KEY_FORMAT, **json.loads(json.dumps(asdict(self)))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CacheKey":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


def preprocessing_of(card: ModelCard, size: tuple[int, int]) -> dict[str, Any]:
    """The preprocessing facts that change what the calibrator sees."""
    return {
        "mean": [float(v) for v in card.mean],
        "std": [float(v) for v in card.std],
        "channel_order": card.channel_order,
        "size": [int(size[0]), int(size[1])],
    }


def key_path(cache: str | os.PathLike) -> Path:
    p = Path(cache)
    return p.with_name(p.name + KEY_SUFFIX)


def read_key(cache: str | os.PathLike) -> CacheKey | None:
    """The key stored beside ``cache``; None when the key file is absent. Malformed -> BuildError."""
    kp = key_path(cache)
    if not kp.is_file():
        return None
    try:
        d = json.loads(kp.read_text())
        if d.get("format") != KEY_FORMAT:
            raise ValueError(f"format {d.get('format')!r}")
        return CacheKey.from_dict(d)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise BuildError(
            f"{kp}: not a readable calibration-cache key ({e}); delete it and the cache, or --recalibrate"
        ) from e


def differences(stored: CacheKey, wanted: CacheKey, *, ignore: tuple[str, ...] = ()) -> list[str]:
    """Human-readable 'field: stored -> wanted' for every differing field."""
    out = []
    a, b = asdict(stored), asdict(wanted)
    for k in a:
        if k in ignore or a[k] == b[k]:
            continue
        sa, sb = (str(a[k])[:16], str(b[k])[:16]) if k.endswith(("sha256", "fingerprint")) else (a[k], b[k])
        out.append(f"{k}: {sa} -> {sb}")
    return out


def check_cache(
    cache: str | os.PathLike, wanted: CacheKey, *, recalibrate: bool = False, have_set: bool = True
) -> bool:
    """Decide whether ``cache`` may be reused. True: reuse it. False: calibrate (and write it).

    Refuses (BuildError) a cache without a key or with a different key unless ``recalibrate``.
    Without the calibration set (``have_set=False``) the set fingerprint cannot be compared and
    is taken from the stored key; a missing cache is then an error (nothing to calibrate with).
    """
    p = Path(cache)
    if recalibrate:
        if not have_set:
            raise BuildError("--recalibrate needs the calibration set (--calib LIST|DIR)")
        return False
    if not p.exists():
        if not have_set:
            raise BuildError(
                f"calibration cache {p} does not exist; give a calibration set with --calib LIST|DIR"
            )
        return False
    stored = read_key(p)
    if stored is None:
        raise BuildError(
            f"calibration cache {p} has no key file ({key_path(p).name}), so what it was made from is "
            "unknown; refusing to reuse it. Pass --recalibrate (with --calib) to replace it, or delete it"
        )
    diffs = differences(stored, wanted, ignore=SET_FIELDS if not have_set else ())
    if diffs:
        raise BuildError(
            f"calibration cache {p} is stale (" + "; ".join(diffs) + "); refusing to reuse it. "
            "Pass --recalibrate (with --calib) to recalibrate, or --calib-cache another file"
        )
    recorded = json.loads(key_path(p).read_text()).get("cache_sha256")
    if recorded and recorded != sha256_bytes(p.read_bytes()):
        raise BuildError(
            f"calibration cache {p} was changed after its key was written (sha256 differs); refusing to "
            "reuse it. Pass --recalibrate (with --calib) to replace it"
        )
    return True


def read_cache(cache: str | os.PathLike) -> bytes:
    return Path(cache).read_bytes()


def write_cache(cache: str | os.PathLike, data: bytes, key: CacheKey) -> Path:
    """Write the cache, then its key (both atomically). The key records the cache's sha256."""
    p = atomic_write_bytes(cache, bytes(data))
    atomic_write_json(key_path(p), {**key.to_dict(), "cache_sha256": sha256_bytes(bytes(data))})
    return p
