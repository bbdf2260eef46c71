"""Source specs -> what to hand ``cv2.VideoCapture``. A pure function, no I/O, no shell.

Accepted specs (``parse_source``):

=====================  ========  ===================================================  =====
spec                   kind      ``cv2.VideoCapture`` arguments                       live
=====================  ========  ===================================================  =====
``0``, ``1``, ...      index     ``(0, cv2.CAP_ANY)``                                 yes
``/dev/video0``        device    ``("/dev/video0", cv2.CAP_V4L2)``                    yes
``rtsp://...``         url       ``(url, cv2.CAP_FFMPEG)`` (also rtsps, rtmp, http)   yes
``csi://0``            csi       ``(nvarguscamerasrc pipeline, cv2.CAP_GSTREAMER)``   yes
``gst:PIPELINE``       gst       ``(PIPELINE, cv2.CAP_GSTREAMER)``                    yes
anything else          file      ``(absolute path, cv2.CAP_FFMPEG)``                  no
=====================  ========  ===================================================  =====

A file name is only ever a file name: it is made absolute (so FFmpeg cannot read a prefix such
as ``concat:`` as a protocol) and never passes through a shell. ``csi://N`` pipelines come from
one template with validated integers; a raw ``gst:`` pipeline is taken as the user wrote it on
their own command line (it can name any GStreamer element, so never build one from untrusted
input). A live source always infers the newest frame; a file keeps every frame, in order.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from edgeseg.errors import EdgesegError

# cv2 constants, spelled out so parsing needs no cv2 import (values are fixed by OpenCV's API).
CAP_ANY = 0
CAP_V4L2 = 200
CAP_GSTREAMER = 1800
CAP_FFMPEG = 1900

#: Jetson CSI camera through Argus. Every field is an int checked by ``csi_pipeline``.
CSI_TEMPLATE = (
    "nvarguscamerasrc sensor-id={sensor} ! "
    "video/x-raw(memory:NVMM),width={width},height={height},framerate={fps}/1 ! "
    "nvvidconv flip-method={flip} ! video/x-raw,format=BGRx ! videoconvert ! "
    "video/x-raw,format=BGR ! appsink drop=true max-buffers=1"
)

#: Option -> (low, high) inclusive bounds for the CSI template.
CSI_LIMITS: dict[str, tuple[int, int]] = {
    "sensor": (0, 15),
    "width": (16, 7680),
    "height": (16, 4320),
    "fps": (1, 240),
    "flip": (0, 7),
}
CSI_DEFAULTS = {"width": 1280, "height": 720, "fps": 30, "flip": 0}

URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https")
_INDEX = re.compile(r"^[0-9]{1,3}$")
_DEVICE = re.compile(r"^/dev/video[0-9]{1,3}$")
_CSI = re.compile(r"^csi://(.*)$", re.IGNORECASE)
_URL = re.compile(r"^(" + "|".join(URL_SCHEMES) + r")://\S+$", re.IGNORECASE)


@dataclass(frozen=True)
class Source:
    """A parsed source: ``kind``, the ``cv2.VideoCapture(*args)`` arguments, and ``live``."""

    spec: str
    kind: str
    args: tuple[Any, ...]
    live: bool

    @property
    def api(self) -> int:
        return int(self.args[1])

    def describe(self) -> str:
        return f"{self.kind} source {self.spec!r}"


def _check_int(name: str, value: Any) -> int:
    lo, hi = CSI_LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            if isinstance(value, str) and re.fullmatch(r"[0-9]{1,5}", value.strip()):
                value = int(value)
            else:
                raise ValueError
        except ValueError:
            raise EdgesegError(
                f"csi option {name} must be an integer in {lo}..{hi}, found {value!r}"
            ) from None
    if not lo <= value <= hi:
        raise EdgesegError(f"csi option {name} must be in {lo}..{hi}, found {value}")
    return int(value)


def csi_pipeline(*, sensor: int, width: int, height: int, fps: int, flip: int) -> str:
    """The ``nvarguscamerasrc`` pipeline for one CSI sensor; every value is range-checked."""
    vals = {
        k: _check_int(k, v)
        for k, v in dict(sensor=sensor, width=width, height=height, fps=fps, flip=flip).items()
    }
    return CSI_TEMPLATE.format(**vals)


def parse_source(
    spec: str | int,
    *,
    width: int | None = None,
    height: int | None = None,
    fps: int | None = None,
    flip: int | None = None,
) -> Source:
    """Parse a ``--source`` value. ``width/height/fps/flip`` apply to ``csi://`` only
    (defaults 1280x720 at 30 fps, flip-method 0); giving them for another kind is an error."""
    if isinstance(spec, int) and not isinstance(spec, bool):
        spec = str(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise EdgesegError(
            f"expected a source (0, /dev/video0, clip.mp4, rtsp://..., csi://0, gst:...), found {spec!r}"
        )
    csi_opts = {
        k: v for k, v in dict(width=width, height=height, fps=fps, flip=flip).items() if v is not None
    }
    src = _parse(spec)
    if csi_opts and src.kind != "csi":
        raise EdgesegError(
            f"--{'/--'.join(csi_opts)} only apply to csi:// sources (a {src.kind} source delivers its own "
            "frame size; use --size for the inference size)"
        )
    if src.kind == "csi":
        sensor = _CSI.match(spec).group(1)  # type: ignore[union-attr]
        if not re.fullmatch(r"[0-9]{1,2}", sensor):
            raise EdgesegError(f"csi source must be csi://N with a sensor id 0..15, found {spec!r}")
        pipe = csi_pipeline(sensor=int(sensor), **{**CSI_DEFAULTS, **csi_opts})
        return Source(spec, "csi", (pipe, CAP_GSTREAMER), True)
    return src


def _parse(spec: str) -> Source:
    if spec.startswith("gst:"):
        pipe = spec[4:].strip()
        if not pipe:
            raise EdgesegError("gst: source is empty; expected gst:PIPELINE ending in appsink")
        if not re.search(r"\bappsink\b", pipe):
            raise EdgesegError(
                "a gst: pipeline must end in appsink for OpenCV, e.g. "
                "'gst:v4l2src device=/dev/video0 ! videoconvert ! video/x-raw,format=BGR ! appsink "
                "drop=true max-buffers=1'"
            )
        return Source(spec, "gst", (pipe, CAP_GSTREAMER), True)
    if _CSI.match(spec):
        return Source(spec, "csi", (), True)  # completed by parse_source
    if _INDEX.match(spec):
        return Source(spec, "index", (int(spec), CAP_ANY), True)
    if _DEVICE.match(spec):
        return Source(spec, "device", (spec, CAP_V4L2), True)
    if _URL.match(spec):
        return Source(spec, "url", (spec, CAP_FFMPEG), True)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", spec):
        raise EdgesegError(
            f"unsupported source scheme in {spec!r}; expected one of "
            f"{', '.join(s + '://' for s in URL_SCHEMES)}, "
            "csi://N, gst:PIPELINE, a camera index, /dev/videoN or a video file"
        )
    return Source(spec, "file", (os.path.abspath(spec), CAP_FFMPEG), False)
