import errno
import os
import stat

import pytest

from edgeseg import _io
from edgeseg.errors import EdgesegError


def test_atomic_write_replaces_only_on_success(tmp_path):
    p = tmp_path / "a.bin"
    _io.atomic_write_bytes(p, b"good")
    with pytest.raises(RuntimeError):
        with _io.atomic_write(p) as f:
            f.write(b"half")
            raise RuntimeError("killed mid-write")
    assert p.read_bytes() == b"good"
    assert [q.name for q in tmp_path.iterdir()] == ["a.bin"]  # no temp left behind


def test_disk_full_leaves_nothing(tmp_path, monkeypatch):
    p = tmp_path / "b.bin"

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(EdgesegError, match="no space left"):
        _io.atomic_write_bytes(p, b"data")
    assert list(tmp_path.iterdir()) == []


def test_outputs_have_normal_permissions(tmp_path):
    p = _io.atomic_write_text(tmp_path / "c.txt", "x")
    mode = stat.S_IMODE(p.stat().st_mode)
    assert mode & stat.S_IRGRP, oct(mode)  # not mkstemp's 0600


def test_missing_or_unwritable_folder_refused_before_work(tmp_path):
    with pytest.raises(EdgesegError, match="does not exist"):
        _io.check_output_path(tmp_path / "nope" / "x.onnx")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user that can write anywhere")
        with pytest.raises(EdgesegError, match="not writable"):
            _io.ensure_writable_dir(ro)
    finally:
        ro.chmod(0o700)


def test_atomic_path_replaces_folders(tmp_path):
    target = tmp_path / "m.mlpackage"
    with _io.atomic_path(target) as t:
        t.mkdir()
        (t / "v").write_text("1")
    with pytest.raises(RuntimeError):
        with _io.atomic_path(target) as t:
            t.mkdir()
            (t / "v").write_text("2")
            raise RuntimeError
    assert (target / "v").read_text() == "1"
    with _io.atomic_path(target) as t:
        t.mkdir()
        (t / "v").write_text("3")
    assert (target / "v").read_text() == "3"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["m.mlpackage"]


def test_sha256_of_file_and_folder(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_bytes(b"1")
    h1 = _io.sha256_file(tmp_path / "d")
    (tmp_path / "d" / "x").write_bytes(b"2")
    assert _io.sha256_file(tmp_path / "d") != h1
