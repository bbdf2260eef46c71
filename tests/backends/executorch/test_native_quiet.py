"""ExecuTorch's native start-up notices are dropped; anything else native code prints still reaches stderr."""

from __future__ import annotations

import os


def test_quiet_drops_the_known_notices_and_keeps_other_lines(capfd):
    from edgeseg.backends.executorch._native import quiet

    with quiet():
        os.write(2, b"[cpuinfo_utils.cpp:71] Reading file /sys/devices/soc0/image_version\n")
        os.write(
            2, b"Failed to load /x/torchao/_C_mxfp8.so: Could not load this library: /x/torchao/_C_mxfp8.so\n"
        )
        os.write(2, b"[threadpool.cpp:66] Resetting threadpool to 1 threads.\n")
        os.write(2, b"E00:00:00.1 executorch:method.cpp:123] a real error\n")
    err = capfd.readouterr().err
    assert "a real error" in err
    assert "cpuinfo" not in err and "torchao" not in err and "Resetting threadpool" not in err


def test_quiet_restores_stderr_after_an_exception(capfd):
    import pytest

    from edgeseg.backends.executorch._native import quiet

    with pytest.raises(ValueError):
        with quiet():
            raise ValueError("boom")
    os.write(2, b"after\n")
    assert "after" in capfd.readouterr().err
