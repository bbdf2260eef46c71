"""The live page in a real browser: headless Chromium opens ``/`` twice, a second apart, and the
stream in the screenshots changes (the page shows a moving picture, not a still or a broken image).
Skipped, with the reason, where ``/usr/bin/chromium`` is absent. ``EDGESEG_KEEP_SCREENSHOTS=DIR``
keeps the two screenshots for a person to look at."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from camera_fakes import FakeCapture, FakeOpener
from camera_http import LoopThread
from camera_media import scene
from edgeseg.camera.pipeline import CameraLoop, CameraOptions
from edgeseg.camera.publish import ServeOptions

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=960,540",
    "--timeout=3000",
]


def _screenshot(url: str, out: Path, profile: Path) -> np.ndarray:
    import cv2

    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}", url]
    proc = subprocess.run(cmd, capture_output=True, timeout=60)
    assert out.is_file(), (
        f"chromium wrote no screenshot (rc {proc.returncode}): {proc.stderr.decode()[-500:]}"
    )
    img = cv2.imread(str(out))
    assert img is not None
    return img


@pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} not found (apt-get install chromium)"
)
def test_page_in_headless_chromium_shows_a_moving_stream(runner, tmp_path):
    import cv2

    cam = FakeCapture(lambda i: scene(i, (240, 320)), count=None, interval=0.05)  # a car moving 5 px a frame
    opts = CameraOptions(headless=True, serve=ServeOptions(port=0, token="tok"))
    loop = CameraLoop(runner, "0", opts, open_capture=FakeOpener([cam]), handle_signals=False)
    t = LoopThread(loop)
    t.start()
    url = f"{loop.publisher.url}?token=tok"
    try:
        deadline = time.monotonic() + 10
        while loop.stats.rendered < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        a = _screenshot(url, tmp_path / "a.png", tmp_path / "profile_a")
        time.sleep(1.0)
        b = _screenshot(url, tmp_path / "b.png", tmp_path / "profile_b")
        served = loop.publisher.server.served
    finally:
        loop.stop()
        t.join(10)
    keep = os.environ.get("EDGESEG_KEEP_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for name in ("a.png", "b.png"):
            shutil.copy(tmp_path / name, Path(keep) / name)
    assert t.error is None and served >= 2  # both page loads opened the MJPEG stream
    # the stream is the picture's left part (the side panel is 280 px); it is not blank (background #111)
    view = (slice(20, 300), slice(20, 600))
    assert a[view].std() > 20 and b[view].std() > 20
    assert np.abs(a[view].astype(int) - b[view].astype(int)).mean() > 1.0  # the stream moved between shots
    # and the page's numbers were filled from /stats.json (the side panel is not empty)
    side = cv2.cvtColor(b[:, 700:], cv2.COLOR_BGR2GRAY)
    assert (side > 150).sum() > 2000
