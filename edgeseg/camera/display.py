"""The on-screen window and the check for whether there is a screen at all."""

from __future__ import annotations

import os
import re
import sys


def gui_reason(
    build_info: str | None = None, env: dict[str, str] | None = None, platform: str | None = None
) -> str | None:
    """None when a window can be shown, else why not (then the loop runs headless).

    No window when OpenCV was built without a GUI backend (``opencv-python-headless``), or on
    Linux when neither ``DISPLAY`` nor ``WAYLAND_DISPLAY`` is set.
    """
    if build_info is None:
        import cv2

        build_info = cv2.getBuildInformation()
    env = dict(os.environ) if env is None else env
    platform = sys.platform if platform is None else platform
    m = re.search(r"^\s*GUI:\s*(\S+)", build_info, re.MULTILINE)
    if m is None or m.group(1).upper() in ("NONE", "NO"):
        return "this OpenCV has no GUI backend"
    if platform.startswith("linux") and not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        return "no DISPLAY or WAYLAND_DISPLAY is set"
    return None


class CvWindow:
    """A resizable OpenCV window. ``show`` returns the key pressed (or -1)."""

    def __init__(self, title: str = "edgeseg camera") -> None:
        import cv2

        self.title = title
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def show(self, image, wait_ms: int = 1) -> int:
        import cv2

        cv2.imshow(self.title, image)
        key = cv2.waitKey(max(int(wait_ms), 1))
        return -1 if key < 0 else key & 0xFF

    def poll(self, wait_ms: int = 10) -> int:
        import cv2

        key = cv2.waitKey(max(int(wait_ms), 1))
        key = -1 if key < 0 else key & 0xFF
        try:
            if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                return ord("q")  # the window was closed
        except Exception:  # noqa: BLE001 - some backends lack the property
            pass
        return key

    def close(self) -> None:
        import cv2

        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except Exception:  # noqa: BLE001
            pass
