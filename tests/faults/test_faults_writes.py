"""Issue 8, fault table 5: WRITES THAT DIE (issue rows 9, 10). Every row has an earlier good file at
the path the command writes, and the write is killed or fails halfway:

- SIGKILL (row 9): the real CLI runs in a child whose first write to the target is paused halfway
  by the test hook (hooks/sitecustomize.py: half the bytes in the temp file, fsynced); this process
  sends a real SIGKILL. The earlier file must be byte-identical, no half file may sit at the target,
  and the only trace is ONE hidden temp named after the target (``.NAME.XXXX.tmp``, or a ``.NAME.XXXX``
  folder). Documented choice (edgeseg/_io.py, docs/reliability.md): such temps are NOT removed on
  the next run; the row checks that the next run succeeds beside it and leaves it alone.
- Disk full (row 10): a real tmpfs a little larger than what is already on it (skipped where
  mounting is not allowed), an ENOSPC injected by the hook (runs everywhere), and a real EFBIG from
  a file-size limit (RLIMIT_FSIZE). One-line error naming the file, exit 2, the folder unchanged,
  no temp left.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from faults_table import (
    check_error_line,
    child_env,
    copy_file,
    hooked_env,
    params,
    run_cli,
    snapshot,
    work_dir,
)


def _size_kib(*paths: Path) -> int:
    return (
        sum(q.stat().st_size for p in paths for q in ([p] if p.is_file() else p.rglob("*")) if q.is_file())
        // 1024
    )


def _valid_onnx(path: Path) -> None:
    import onnx

    from edgeseg.card import card_from_onnx

    assert card_from_onnx(onnx.load(str(path))).num_classes == 11


def _epoch_2_checkpoint(path: Path) -> None:
    from edgeseg.train.checkpoint import read_checkpoint

    assert read_checkpoint(path)["epoch"] == 2


# ---- 9. SIGKILL halfway through a write ---------------------------------------------------------------


@dataclass(frozen=True)
class KillRow:
    id: str
    plant: Callable  # (work, artifacts, P) -> (argv, target path holding an earlier good file)
    valid: Callable  # (target) -> None: the file the next, unhooked run writes is complete
    issue_rows: tuple[int, ...] = (9,)


def plant_kill_checkpoint(work, a, P):
    run = P.copy_run(P.trained_run, work / "run")
    argv = ["train", *P.TRAIN_ARGS, "--epochs", "2", "--resume", str(run / "last.pt"), "--out", str(run)]
    return argv, run / "last.pt"


def plant_kill_export(work, a, P):
    return ["export", str(a.ckpt), "-o", str(work / "good.onnx")], copy_file(a.onnx, work / "good.onnx")


def plant_kill_ort_build(work, a, P):
    return (
        ["build", str(a.onnx), "--backend", "onnxruntime", "-o", str(work / "m.ort.onnx")],
        copy_file(a.onnx, work / "m.ort.onnx"),
    )


KILL_ROWS = [
    KillRow("sigkill-during-checkpoint-write", plant_kill_checkpoint, _epoch_2_checkpoint),
    KillRow("sigkill-during-onnx-export-write", plant_kill_export, _valid_onnx),
    KillRow("sigkill-during-ort-build-write", plant_kill_ort_build, _valid_onnx),
]


@pytest.mark.parametrize("row", params(KILL_ROWS, kind="sigkill"))
def test_sigkill_mid_write(row: KillRow, tmp_path, artifacts, plant, trained, capsys, monkeypatch):
    from types import SimpleNamespace

    from faults_proc import kill_at, start_hooked

    work = work_dir(tmp_path, monkeypatch)
    argv, target = row.plant(work, artifacts, SimpleNamespace(**vars(plant), trained_run=trained))
    folder = target.parent
    before, good = {p.name for p in folder.iterdir()}, target.read_bytes()
    marker = tmp_path / "mid-write"
    proc = start_hooked(
        [str(x) for x in argv],
        {"kind": "pause-write", "target": target.name, "marker": str(marker)},
        cwd=work,
    )
    code, _, err = kill_at(marker, proc, signal.SIGKILL)
    assert code == -signal.SIGKILL, err
    assert target.read_bytes() == good, f"{target.name} changed"
    new = sorted({p.name for p in folder.iterdir()} - before)
    assert len(new) == 1 and new[0].startswith(f".{target.name}."), f"expected one hidden temp, found {new}"
    temp = folder / new[0]
    half = sorted(q for q in ([temp] if temp.is_file() else temp.rglob("*")) if q.is_file())
    assert half and all(q.name.startswith(f".{target.name}.") and q.name.endswith(".tmp") for q in half), half
    assert sum(q.stat().st_size for q in half) > 0  # the half-written bytes, hidden

    code, _, err = run_cli([str(x) for x in argv], child=False, capsys=capsys)  # the next run, no hook
    assert code == 0, err
    row.valid(target)
    assert target.read_bytes() != good
    assert {p.name for p in folder.iterdir()} - before == {new[0]}, (
        "the next run left other files"
    )  # not cleaned


# ---- 10. disk full, quota, file-size limit -------------------------------------------------------------


@dataclass(frozen=True)
class DiskRow:
    id: str
    plant: Callable  # (work, artifacts, P, mount(rel, size_kib) -> Path) -> argv
    stderr: str  # regex searched in the error line
    unchanged: tuple[str, ...]
    issue_rows: tuple[int, ...] = (10,)
    hook: dict | None = None  # run in a child with this fault hook
    fsize_kib: int | None = None  # run in a child with RLIMIT_FSIZE of this many KiB


def plant_export_full_tmpfs(work, a, P, mount):
    disk = mount("disk", _size_kib(a.onnx) + 512)
    copy_file(a.onnx, disk / "good.onnx")
    return ["export", str(a.ckpt), "-o", str(disk / "good.onnx")]


def plant_train_full_tmpfs(work, a, P, mount):
    disk = mount("disk", _size_kib(P.trained_run) + 512)
    run = P.copy_run(P.trained_run, disk / "run")
    return ["train", *P.TRAIN_ARGS, "--epochs", "2", "--resume", str(run / "last.pt"), "--out", str(run)]


def plant_export_good(work, a, P, mount):
    copy_file(a.onnx, work / "good.onnx")
    return ["export", str(a.ckpt), "-o", str(work / "good.onnx")]


def plant_checkpoint_good(work, a, P, mount):
    run = P.copy_run(P.trained_run, work / "run")
    return ["train", *P.TRAIN_ARGS, "--epochs", "2", "--resume", str(run / "last.pt"), "--out", str(run)]


_NO_SPACE = r"no space left on device while writing \S*"

DISK_ROWS = [
    DiskRow(
        "export-onto-a-full-tmpfs",
        plant_export_full_tmpfs,
        _NO_SPACE + r"disk/good\.onnx; nothing was written$",
        ("disk",),
    ),
    DiskRow(
        "train-checkpoint-onto-a-full-tmpfs",
        plant_train_full_tmpfs,
        _NO_SPACE + r"disk/run/(best|last|final)\.pt; nothing was written$",
        ("disk/run",),
    ),
    DiskRow(
        "export-enospc-injected",
        plant_export_good,
        _NO_SPACE + r"/work/good\.onnx; nothing was written$",
        ("good.onnx",),
        hook={"kind": "enospc-write", "target": "good.onnx"},
    ),
    DiskRow(
        "train-checkpoint-enospc-injected",
        plant_checkpoint_good,
        _NO_SPACE + r"run/last\.pt; nothing was written$",
        ("run/last.pt", "run/history.json"),
        hook={"kind": "enospc-write", "target": "last.pt"},
    ),
    DiskRow(
        "export-file-size-limit",
        plant_export_good,
        r"could not write \S*/work/good\.onnx: File too large; nothing was",
        ("good.onnx",),
        fsize_kib=512,
    ),
]


def _fsize_limit(kib: int):
    def preexec():
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (kib * 1024, kib * 1024))

    return preexec


@pytest.mark.parametrize("row", params(DISK_ROWS, kind="disk"))
def test_write_fails(row: DiskRow, tmp_path, artifacts, plant, trained, capsys, monkeypatch):
    from types import SimpleNamespace

    from faults_proc import tmpfs

    work = work_dir(tmp_path, monkeypatch)
    with contextlib.ExitStack() as stack:

        def mount(rel: str, size_kib: int) -> Path:
            return stack.enter_context(tmpfs(work / rel, size_kib))

        argv = [
            str(x)
            for x in row.plant(work, artifacts, SimpleNamespace(**vars(plant), trained_run=trained), mount)
        ]
        before = snapshot(work, row.unchanged)
        assert before, f"nothing planted at {row.unchanged}"
        listing = {str(p.relative_to(work)) for p in work.rglob("*")}
        env = hooked_env(row.hook) if row.hook else child_env()
        child = row.hook is not None or row.fsize_kib is not None
        preexec = _fsize_limit(row.fsize_kib) if row.fsize_kib else None
        code, _, err = run_cli(argv, child=child, capsys=capsys, env=env, preexec_fn=preexec)
        assert code == 2, err
        print(check_error_line(err, argv[0], row.stderr, code=2))
        assert snapshot(work, row.unchanged) == before, (
            f"{row.unchanged}: files changed, appeared or vanished"
        )
        left = sorted({str(p.relative_to(work)) for p in work.rglob("*")} - listing)
        assert not [
            p for p in left if os.path.basename(p).startswith(".") or p.endswith((".tmp", ".onnx", ".pt"))
        ], left
