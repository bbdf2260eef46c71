"""Small loop controls: keys, the stop signals and whether several frames can share one inference."""

from __future__ import annotations

import signal
import threading
from typing import Any, Callable

import numpy as np

from edgeseg.errors import EdgesegError

KEY_QUIT = (ord("q"), ord("Q"), 27)
KEY_PAUSE = ord(" ")
KEY_SNAPSHOT = (ord("s"), ord("S"))


def handle_key(
    key: int,
    *,
    index: int | None,
    canvas: np.ndarray | None,
    paused: bool,
    stop: Callable[[str], None],
    snapshot_dir: str,
    log: Callable[[str], None],
) -> bool:
    """q/Esc stop, space toggles pause (returns the new paused state), s saves a snapshot of ``canvas``."""
    if key in KEY_QUIT:
        stop("quit key")
    elif key == KEY_PAUSE:
        return not paused
    elif key in KEY_SNAPSHOT and canvas is not None and index is not None:
        from edgeseg._io import ensure_writable_dir
        from edgeseg.camera.record import save_snapshot

        try:  # a snapshot that cannot be written must not end the run
            ensure_writable_dir(snapshot_dir, create=True)
            log(f"camera: saved {save_snapshot(snapshot_dir, index, canvas)}")
        except EdgesegError as e:
            log(f"camera: snapshot not saved: {e}")
    return paused


def install_stop_signals(stop: Callable[[str], None], stopped: threading.Event) -> dict[int, Any]:
    """SIGINT/SIGTERM call ``stop(name)``; a second Ctrl-C (``stopped`` already set) raises
    KeyboardInterrupt. Returns the old handlers to restore; nothing off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, _frame: Any) -> None:
        if stopped.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop(signal.Signals(signum).name)

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):
            pass
    return old


def batch_allowed(runner: Any, n: int) -> bool:
    """True when one ``runner.infer`` call takes a batch of ``n`` frames as it is: the artifact's
    batch dimension is free or its range reaches ``n`` (``batch_limits``; None = any). A runner
    that does not say (or a static batch of 1) gets the frames one by one."""
    if not hasattr(runner, "batch_limits"):
        return False
    limits = runner.batch_limits
    return limits is None or limits[0] <= n <= limits[1]
