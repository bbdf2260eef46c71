"""Keyed TensorRT timing caches (``edgeseg build --timing-cache FILE``).

TensorRT does not reliably refuse a foreign timing cache: ``set_timing_cache`` returns False only
for another GPU; a cache from another TensorRT version (or a damaged one) is dropped with a logged
"The timing cache will not be used!" and the build carries on, after which writing the config's
cache back would overwrite the user's file with a fresh one. So, like the calibration cache
(``_calib_cache``), ``FILE`` gets a key beside it, ``FILE.key.json``: TensorRT version, GPU name
and compute capability, and the cache's sha256. A cache is only loaded when its key matches this
build, and only written back when it was applied (or is new). A cache without a key, with another
key, or changed since its key was written is refused with what differs; the fix is to delete it
(it only makes rebuilds faster) or to pass another file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgeseg._io import atomic_write_bytes, atomic_write_json, sha256_bytes
from edgeseg.errors import BuildError

KEY_SUFFIX = ".key.json"
KEY_FORMAT = "edgeseg.timing-cache-key/1"
FIX = "delete it (it only makes rebuilds faster) or pass --timing-cache another file"


@dataclass(frozen=True)
class TimingKey:
    """What a timing cache depends on."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: str


def key_path(cache: str | os.PathLike) -> Path:
    p = Path(cache)
    return p.with_name(p.name + KEY_SUFFIX)


def check_timing_cache(cache: str | os.PathLike, wanted: TimingKey) -> bytes:
    """The bytes to give ``create_timing_cache``: ``b""`` (a new cache) when ``cache`` does not exist,
    else its content once its key matches ``wanted``. Raises BuildError naming the cache otherwise."""
    p = Path(cache)
    if not p.exists():
        return b""
    if not p.is_file():
        raise BuildError(f"--timing-cache {p}: not a file")
    kp = key_path(p)
    if not kp.is_file():
        raise BuildError(
            f"timing cache {p} has no key file ({kp.name}), so the TensorRT and GPU it was made with "
            "are unknown "
            f"(TensorRT may drop a foreign cache silently and it would then be overwritten); {FIX}"
        )
    try:
        d = json.loads(kp.read_text())
        if d.get("format") != KEY_FORMAT:
            raise ValueError(f"format {d.get('format')!r}, expected {KEY_FORMAT!r}")
        stored = TimingKey(**{k: str(d[k]) for k in TimingKey.__dataclass_fields__})
        recorded = d["cache_sha256"]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise BuildError(f"{kp}: not a readable timing-cache key ({e}); {FIX}") from e
    diffs = [f"{k}: {a} -> {b}" for k, a in asdict(stored).items() if (b := asdict(wanted)[k]) != a]
    if diffs:
        raise BuildError(
            f"timing cache {p} was made for another setup (" + "; ".join(diffs) + f"); refusing it: {FIX}"
        )
    data = p.read_bytes()
    if recorded != sha256_bytes(data):
        raise BuildError(f"timing cache {p} was changed after its key was written (sha256 differs); {FIX}")
    return data


def apply_timing_cache(config: Any, cache: str | os.PathLike, data: bytes) -> Any:
    """Create the TensorRT timing cache from ``data`` and attach it to ``config`` (strictly: no
    ignore_mismatch). Returns the cache object; BuildError when TensorRT cannot read or use it."""
    obj = config.create_timing_cache(data)
    if obj is None:
        raise BuildError(
            f"TensorRT could not read timing cache {cache} (damaged, or not a timing cache); {FIX}"
        )
    if config.set_timing_cache(obj, False) is False:
        raise BuildError(f"timing cache {cache} was made by another TensorRT version or GPU; {FIX}")
    return obj


def save_timing_cache(config: Any, cache: str | os.PathLike, key: TimingKey) -> Path:
    """Write the config's (applied) timing cache and then its key, both atomically."""
    obj = config.get_timing_cache()
    if obj is None:
        raise BuildError(f"TensorRT lost the timing cache during the build; {cache} was left as it was")
    data = bytes(obj.serialize())
    p = atomic_write_bytes(cache, data)
    atomic_write_json(key_path(p), {"format": KEY_FORMAT, **asdict(key), "cache_sha256": sha256_bytes(data)})
    return p
