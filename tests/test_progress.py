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


def test_a_log_gets_a_line_every_tenth_and_a_final_line_without_cursor_codes():
    log = io.StringIO()
    bar = progress_bar(
        total=100, file=log, desc="calibrate", unit="batch", leave=False
    )  # leave=False: still a final line
    for _ in range(100):
        bar.update(1)
    bar.close()
    text = log.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert [int(l.split("(")[1].split("%")[0]) for l in lines[:-1]] == list(range(10, 100, 10))
    assert lines[-1].startswith("calibrate: done 100/100 batch (100%)")


def test_a_quick_bar_in_a_log_is_never_only_its_zero_frame():
    log = io.StringIO()
    for _ in progress_bar(range(3), file=log, desc="mIoU", leave=False):
        pass
    assert log.getvalue().splitlines() == [
        l for l in log.getvalue().splitlines() if "0%" not in l or "100%" in l
    ]
    assert log.getvalue().splitlines()[-1].startswith("mIoU: done 3/3")


def test_without_a_total_a_log_line_comes_every_interval(monkeypatch):
    import edgeseg._progress as prog

    clock = [0.0]
    monkeypatch.setattr(prog.time, "monotonic", lambda: clock[0])
    log = io.StringIO()
    bar = progress_bar(iter(range(1000)), file=log, desc="steps")
    for _ in bar:
        clock[0] += 0.1  # 100 s in all: a line every 10 s
    lines = log.getvalue().splitlines()
    assert 9 <= len(lines) - 1 <= 10 and lines[-1].startswith("steps: done 1000 it")


def test_library_progress_bars_are_summarized_in_one_line(monkeypatch):
    import sys

    from edgeseg._libprogress import capture_progress

    real = io.StringIO()
    monkeypatch.setattr(sys, "stderr", real)
    logged = []
    with capture_progress("coremltools", log=logged.append):
        from tqdm import tqdm

        for _ in tqdm(range(5), desc="Running MIL default pipeline", mininterval=0):
            pass
        for _ in tqdm(range(3), desc="Running MIL backend_mlprogram pipeline", mininterval=0):
            pass
        print("a real warning", file=sys.stderr)
    assert real.getvalue() == "a real warning\n"  # other text passes through; no bar frames
    assert len(logged) == 1 and logged[0].startswith("coremltools: 2 progress bar(s) in ")
    assert "Running MIL default pipeline; Running MIL backend_mlprogram pipeline" in logged[0]
