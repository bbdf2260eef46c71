"""Recording the rendered video, saving label masks and snapshots. All outputs are atomic.

The video is written into a temp folder beside the target and renamed over it when the run ends
(also after Ctrl-C, end of file or a lost source), so the file at the target path is always a
complete, playable video; a run that rendered no frame leaves no file. Every frame is written at
the size the writer was opened with: a ``cv2.VideoWriter`` fed another size silently writes an
empty file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeseg._io import atomic_path, atomic_write_bytes, check_output_path, ensure_writable_dir
from edgeseg.errors import EdgesegError

#: File suffix -> FourCC. mp4v and MJPG are written by the opencv-python wheels (FFmpeg) and by
#: JetPack's OpenCV; H.264 encoders differ between builds, so they are not the default.
FOURCCS: dict[str, str] = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class RecordError(EdgesegError):
    """The recording cannot be written."""


def check_record_path(path: str | os.PathLike) -> Path:
    """Refuse, before any work, a suffix we cannot encode or a folder that is missing/not writable."""
    p = Path(path)
    if p.suffix.lower() not in FOURCCS:
        raise RecordError(
            f"--record {p}: unsupported video type {p.suffix or '(none)'!r}; expected one of "
            f"{', '.join(FOURCCS)}"
        )
    return check_output_path(p)


def _writer_backends() -> str:
    import cv2

    try:
        return ", ".join(
            cv2.videoio_registry.getBackendName(b) for b in cv2.videoio_registry.getWriterBackends()
        )
    except Exception:  # noqa: BLE001
        return "unknown"


class Recorder:
    """A ``cv2.VideoWriter`` on a temp path, opened at the first frame's size, renamed on ``close``.

    ``probe()`` opens and discards a tiny writer so a codec/container this OpenCV cannot write is
    reported before the loop starts. ``fps`` defaults to 30.
    """

    def __init__(
        self, path: str | os.PathLike, *, fps: float = 30.0, factory: Callable[..., Any] | None = None
    ) -> None:
        self.path = check_record_path(path)
        self.fourcc = FOURCCS[self.path.suffix.lower()]
        self.fps = float(fps)
        self.factory = factory
        self.size_hw: tuple[int, int] | None = None
        self.frames = 0
        self._ctx: contextlib.AbstractContextManager | None = None
        self._writer: Any = None
        self._tmp = Path()

    def _open(self, tmp: Path, size_hw: tuple[int, int]) -> Any:
        import cv2

        factory = cv2.VideoWriter if self.factory is None else self.factory
        writer = factory(str(tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (size_hw[1], size_hw[0]))
        if not writer.isOpened():
            writer.release()
            raise RecordError(
                f"cannot open a video writer for {self.path} (FourCC {self.fourcc}, "
                f"{size_hw[1]}x{size_hw[0]} at "
                f"{self.fps:g} fps; OpenCV writer backends here: {_writer_backends()}); try another suffix "
                f"({', '.join(FOURCCS)})"
            )
        return writer

    def probe(self) -> None:
        """Open a 64x64 writer in the target folder and discard it; raises RecordError if it fails."""
        with contextlib.suppress(_Discard), atomic_path(self.path) as tmp:
            w = self._open(tmp, (64, 64))
            w.write(np.zeros((64, 64, 3), np.uint8))
            w.release()
            raise _Discard  # atomic_path deletes its temp folder and leaves the target untouched

    def write(self, image: np.ndarray) -> None:
        """Write one BGR frame; the first one fixes the size, later ones are resized to it."""
        import cv2

        if self._writer is None:
            self.size_hw = image.shape[:2]
            ctx = atomic_path(self.path)
            tmp = self._tmp = ctx.__enter__()
            try:
                self._writer = self._open(tmp, self.size_hw)
            except BaseException as e:
                ctx.__exit__(type(e), e, e.__traceback__)
                raise
            self._ctx = ctx
        if image.shape[:2] != self.size_hw:
            image = cv2.resize(image, (self.size_hw[1], self.size_hw[0]), interpolation=cv2.INTER_AREA)
        self._writer.write(np.ascontiguousarray(image))
        self.frames += 1

    def close(self) -> Path | None:
        """Finish the file and move it into place; returns its path, or None when nothing was written."""
        if self._writer is None:
            return None
        writer, ctx, self._writer, self._ctx = self._writer, self._ctx, None, None
        assert ctx is not None
        try:
            writer.release()
            if self.frames:
                readable = readable_frames(self._tmp, want=self.frames)
                if readable < self.frames:
                    raise RecordError(
                        f"{self.path}: the recording holds {readable} readable frames of the "
                        f"{self.frames} written "
                        "(disk full or a failing encoder); nothing was written, an earlier file there is kept"
                    )
        except BaseException as e:
            ctx.__exit__(type(e), e, e.__traceback__)
            raise
        if self.frames:
            ctx.__exit__(None, None, None)
        else:
            ctx.__exit__(_Discard, _Discard(), None)
        return self.path if self.frames else None


def readable_frames(path: Path, *, want: int) -> int:
    """How many frames of ``path`` OpenCV can decode, counting at most ``want`` (OpenCV's VideoWriter
    returns nothing from ``write``, so a full disk shows only in the file)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        n = 0
        while n < want and cap.grab():
            n += 1
        return n
    finally:
        cap.release()


class _Discard(Exception):
    pass


class MaskSaver:
    """Label maps (class ids, uint8 PNG, frame size) as ``DIR/<frame index:06d>.png``."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        if self.folder.exists():
            ensure_writable_dir(self.folder)
        else:  # created with the first mask: a source that fails to open leaves no empty folder
            ensure_writable_dir(self.folder.parent if str(self.folder.parent) else Path("."))
        self.count = 0

    def save(self, index: int, labels: np.ndarray, *, prefix: str = "") -> Path:
        """``DIR/<prefix><index:06d>.png`` (prefix ``s<source>_`` with several sources)."""
        if not self.count:
            ensure_writable_dir(self.folder, create=True)
        path = _write_png(self.folder / f"{prefix}{index:06d}.png", labels)
        self.count += 1
        return path


def save_snapshot(folder: str | os.PathLike, index: int, image: np.ndarray) -> Path:
    """``snapshot_<frame index:06d>.png`` in ``folder`` (atomic)."""
    return _write_png(Path(folder) / f"snapshot_{index:06d}.png", image)


def _write_png(path: Path, image: np.ndarray) -> Path:
    import cv2

    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise EdgesegError(f"could not encode {path.name} as PNG")
    return atomic_write_bytes(path, buf.tobytes())
