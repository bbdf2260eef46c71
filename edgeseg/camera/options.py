"""``CameraOptions``: the camera loop's settings (view, HUD, recording, sizes, live mode, watchdog
and reconnect timings, HTTP serving, stream output)."""

from __future__ import annotations

from dataclasses import dataclass

from edgeseg.camera.publish import ServeOptions


@dataclass(frozen=True)
class CameraOptions:
    """Loop settings. Defaults: overlay view at alpha 0.5, all classes, HUD and legend on, headless
    when there is no screen (``headless=None``), inference at ``runner.input_size`` (else the
    card's), newest-frame mode for cameras/streams and every-frame mode for files (``live=None``;
    True/False forces one), watchdog 3 s, give up after 30 s
    of failed reconnects, backoff 0.2 s doubling to 2 s, recording at the source's fps (else 30);
    no HTTP server (``serve``), no RTSP/RTP output (``stream_out``)."""

    view: str = "overlay"
    alpha: float = 0.5
    classes: tuple[str, ...] | None = None
    hud: bool = True
    legend: bool = True
    headless: bool | None = None
    record: str | None = None
    record_fps: float | None = None
    save_masks: str | None = None
    snapshot_dir: str = "."
    max_frames: int | None = None
    size: tuple[int, int] | None = None
    live: bool | None = None
    stale_timeout: float = 3.0
    reconnect_timeout: float = 30.0
    backoff: tuple[float, float] = (0.2, 2.0)
    queue_size: int = 4
    serve: ServeOptions | None = None
    stream_out: str | None = None
