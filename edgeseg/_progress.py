"""One place that makes edgeseg's progress bars (tqdm). Callers update postfixes with
``refresh=False`` so the interval below holds.

On a terminal a bar redraws as tqdm does by default (every 0.1 s). When stderr is not a terminal
(CI logs, ``> log 2>&1``, a pipe) every redraw would be one more ``\\r`` line in the file, so a bar
there redraws at most every ``LOG_INTERVAL_S`` seconds (default 10) and always prints its last state.
"""

from __future__ import annotations

import sys
from typing import Any

LOG_INTERVAL_S = 10.0


def progress_bar(iterable: Any = None, **kwargs: Any) -> Any:
    """``tqdm(iterable, **kwargs)`` on stderr, with a long redraw interval when stderr is not a TTY."""
    from tqdm import tqdm

    stream = kwargs.setdefault("file", sys.stderr)
    isatty = getattr(stream, "isatty", None)
    if not (callable(isatty) and isatty()):
        kwargs.setdefault("mininterval", LOG_INTERVAL_S)
    return tqdm(iterable, **kwargs)
