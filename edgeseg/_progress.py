"""One place that makes edgeseg's progress bars. Callers update postfixes with ``refresh=False``.

On a terminal: tqdm as usual (redrawn in place every 0.1 s). In a pipe or a log file (stderr not a
TTY): ``LogProgress``, plain lines with no ``\\r`` and no cursor escape codes, one each time the
progress crosses a tenth of the total or ``LOG_INTERVAL_S`` seconds (default 10) pass, and always a
final line when the bar closes, so a log never shows only a ``0%`` frame.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Iterable, Iterator

LOG_INTERVAL_S = 10.0
LOG_STEPS = 10  # a line each time another tenth of the total is done


class LogProgress:
    """tqdm's interface (iterate, ``update``, ``set_postfix``, ``write``, ``close``, context manager) as log
    lines."""

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: float | None = None,
        desc: str | None = None,
        unit: str = "it",
        initial: float = 0,
        disable: bool = False,
        file: Any = None,
        mininterval: float = LOG_INTERVAL_S,
        **_ignored: Any,
    ) -> None:
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc or "progress", unit
        self.n = self._start = initial
        self.disable, self.file, self.mininterval = disable, file or sys.stderr, mininterval
        self.postfix = ""
        self._t0 = self._last_t = time.monotonic()
        self._last_step = self._step(initial)
        self._closed = False

    def _step(self, n: float) -> int:
        return int(n * LOG_STEPS // self.total) if self.total else 0

    def _line(self, final: bool = False) -> str:
        el = time.monotonic() - self._t0
        rate = (self.n - self._start) / el if el > 0 else 0.0
        done = (
            f"{self.n:g}/{self.total:g} {self.unit} ({100 * self.n / self.total:.0f}%)"
            if self.total
            else f"{self.n:g} {self.unit}"
        )
        head = f"{self.desc}: {'done ' if final else ''}{done}"
        return f"{head} in {el:.0f} s, {rate:.3g} {self.unit}/s" + (
            f", {self.postfix}" if self.postfix else ""
        )

    def _print(self, text: str) -> None:
        print(text, file=self.file, flush=True)

    def update(self, n: float = 1) -> None:
        if self.disable:
            return
        self.n += n
        now, step = time.monotonic(), self._step(self.n)
        if step > self._last_step or now - self._last_t >= self.mininterval:
            self._last_step, self._last_t = step, now
            if not (self.total and self.n >= self.total):  # the final line comes from close()
                self._print(self._line())

    def set_postfix(
        self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any
    ) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or self.desc

    def write(self, text: str) -> None:
        self._print(text)

    def close(self) -> None:
        if not self._closed and not self.disable:
            self._print(self._line(final=True))
        self._closed = True

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> "LogProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_bar(iterable: Any = None, **kwargs: Any) -> Any:
    """``tqdm(iterable, **kwargs)`` on stderr when it is a terminal, else ``LogProgress`` (plain lines)."""
    stream = kwargs.setdefault("file", sys.stderr)
    isatty = getattr(stream, "isatty", None)
    if callable(isatty) and isatty():
        from tqdm import tqdm

        return tqdm(iterable, **kwargs)
    kwargs.setdefault("mininterval", LOG_INTERVAL_S)
    return LogProgress(iterable, **kwargs)
