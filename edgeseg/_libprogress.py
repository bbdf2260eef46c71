"""Progress bars printed by libraries we call (coremltools' "Running MIL ..." tqdm bars), summarized.

``capture_progress("coremltools", log=print)`` swaps ``sys.stderr`` for the block when it is not a
terminal: the libraries' bar frames (``desc: 40%|████  | 2/5 [...]``, redrawn with ``\\r``) are
collected and summarized in one line afterwards; any other text they write passes through. On a
terminal the bars stay as they are.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import time
from typing import Callable, Iterator

#: A tqdm frame: "desc: 40%|...| 2/5 [00:01<00:02, 1.5 ops/s]" (desc optional).
_FRAME = re.compile(r"^\s*(?:(?P<desc>.*?):\s*)?\d{1,3}%\|.*\|\s*\d+/\d+")


class _Splitter(io.TextIOBase):
    """Collects tqdm frames; forwards complete other lines to ``real``."""

    def __init__(self, real) -> None:
        self.real = real
        self.buf = ""
        self.bars: dict[str, int] = {}

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, s: str) -> int:
        self.buf += s
        *parts, self.buf = re.split(r"[\r\n]", self.buf)
        for part in parts:
            self._one(part)
        return len(s)

    def _one(self, part: str) -> None:
        text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", part)  # cursor-movement codes of nested bars
        if not text.strip():
            return
        m = _FRAME.match(text)
        if m:
            self.bars[(m.group("desc") or "progress").strip()] = 1
        else:
            self.real.write(text + "\n")

    def flush(self) -> None:
        if self.buf:
            self._one(self.buf)
            self.buf = ""
        self.real.flush()


@contextlib.contextmanager
def capture_progress(library: str, *, log: Callable[[str], None]) -> Iterator[None]:
    """Summarize ``library``'s progress bars in one ``log`` line when stderr is not a terminal."""
    real = sys.stderr
    isatty = getattr(real, "isatty", None)
    if callable(isatty) and isatty():
        yield
        return
    sink = _Splitter(real)
    t0 = time.perf_counter()
    sys.stderr = sink
    try:
        yield
    finally:
        sink.flush()
        sys.stderr = real
        if sink.bars:
            names = list(sink.bars)
            shown = "; ".join(names[:4]) + (f"; and {len(names) - 4} more" if len(names) > 4 else "")
            log(f"{library}: {len(names)} progress bar(s) in {time.perf_counter() - t0:.1f} s ({shown})")
