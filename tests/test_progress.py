"""Progress bars: tqdm's redraw rate on a terminal, a slow one in logs (no wall of \\r lines)."""

from __future__ import annotations

import io

from edgeseg._progress import LOG_INTERVAL_S, progress_bar


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_streams_get_a_long_redraw_interval_terminals_keep_tqdms():
    log, tty = io.StringIO(), _Tty()
    with progress_bar(range(3), file=log) as a, progress_bar(range(3), file=tty) as b:
        assert a.mininterval == LOG_INTERVAL_S and b.mininterval < 1.0
        assert list(a) == [0, 1, 2] and list(b) == [0, 1, 2]
    assert "3/3" in log.getvalue()  # the final state is always printed
    with progress_bar(total=5, file=io.StringIO(), mininterval=0.5) as c:
        assert c.mininterval == 0.5  # an explicit choice wins


def test_many_quick_updates_write_few_lines_to_a_log():
    log = io.StringIO()
    with progress_bar(total=2000, file=log) as bar:
        for _ in range(2000):
            bar.update(1)
    assert log.getvalue().count("\r") <= 4
