"""DDP through torchrun (gloo on CPU): two processes train and rank 0 writes the checkpoint."""

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_torchrun_two_processes(tiny_camvid, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "edgeseg",
        "train",
        "--data",
        f"camvid:{tiny_camvid}",
        "--out",
        str(out),
        "--epochs",
        "1",
        "--batch",
        "1",
        "--crop",
        "32",
        "--arch-arg",
        "m=2",
        "--arch-arg",
        "n=3",
        "--threads",
        "1",
        "--no-progress",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    from edgeseg.train.checkpoint import read_checkpoint

    assert read_checkpoint(out / "last.pt")["state"]["step"] == 0  # epoch finished
    assert (out / "best.pt").is_file()
