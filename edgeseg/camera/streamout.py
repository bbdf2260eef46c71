"""RTSP / RTP output of the rendered video through OpenCV's GStreamer writer.

``--stream-out rtp://HOST:PORT`` sends H.264 over RTP/UDP (``udpsink``; play it with an SDP file
or ``gst-launch-1.0 udpsrc port=PORT caps=... ! rtph264depay ! ...``); ``--stream-out
rtsp://HOST:PORT/PATH`` pushes to an RTSP server such as MediaMTX (``rtspclientsink``), where any
player can open it. Both need an OpenCV built with GStreamer (JetPack's is; the pip wheels are
not): without it ``StreamOut(...)`` raises a one-line error before the camera opens. Hosts, ports
and paths are validated, so nothing but an address reaches the pipeline string.
"""

from __future__ import annotations

import re

import numpy as np

from edgeseg.errors import EdgesegError

ENCODE = (
    "appsrc ! videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency "
    "speed-preset=ultrafast key-int-max=30"
)
_URL = re.compile(r"^(rtp|rtsp)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):([0-9]{1,5})(/[A-Za-z0-9/_.-]*)?$")


class StreamOutError(EdgesegError):
    """The RTSP/RTP output cannot be used here."""


def stream_pipeline(url: str) -> str:
    """The GStreamer writer pipeline for ``rtp://HOST:PORT`` or ``rtsp://HOST:PORT/PATH``."""
    m = _URL.match(url.strip())
    if m is None or not 1 <= int(m.group(3)) <= 65535:
        raise StreamOutError(f"--stream-out expects rtp://HOST:PORT or rtsp://HOST:PORT/PATH, found {url!r}")
    scheme, host, port, path = m.group(1), m.group(2).strip("[]"), int(m.group(3)), m.group(4) or ""
    if scheme == "rtp":
        if path:
            raise StreamOutError(f"--stream-out rtp:// takes no path, found {url!r}")
        return f"{ENCODE} ! rtph264pay config-interval=1 pt=96 ! udpsink host={host} port={port} sync=false"
    return f"{ENCODE} ! rtspclientsink location=rtsp://{m.group(2)}:{port}{path}"


class StreamOut:
    """A ``cv2.VideoWriter`` on a GStreamer pipeline, opened at the first frame's size (default 30 fps)."""

    def __init__(self, url: str, *, fps: float = 30.0, build_info: str | None = None) -> None:
        from edgeseg.camera.capture import backend_facts, describe_backends

        self.url, self.fps = url, float(fps)
        self.pipeline = stream_pipeline(url)
        facts = backend_facts(build_info)
        if not facts["GStreamer"]:
            import cv2

            raise StreamOutError(
                f"--stream-out {url} needs OpenCV's GStreamer backend, which this OpenCV "
                f"({cv2.__version__}) lacks "
                f"(video backends: {describe_backends(facts)}); use --serve for an MJPEG stream "
                "instead, or JetPack's OpenCV"
            )
        self.size_hw: tuple[int, int] | None = None
        self.frames = 0
        self._writer = None

    def write(self, image: np.ndarray) -> None:
        import cv2

        if self._writer is None:
            self.size_hw = image.shape[:2]
            self._writer = cv2.VideoWriter(
                self.pipeline, cv2.CAP_GSTREAMER, 0, self.fps, (image.shape[1], image.shape[0])
            )
            if not self._writer.isOpened():
                raise StreamOutError(
                    f"GStreamer could not open the --stream-out pipeline for {self.url}: {self.pipeline}"
                )
        if image.shape[:2] != self.size_hw:
            image = cv2.resize(image, (self.size_hw[1], self.size_hw[0]), interpolation=cv2.INTER_AREA)
        self._writer.write(np.ascontiguousarray(image))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
