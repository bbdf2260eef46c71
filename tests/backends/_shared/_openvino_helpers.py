"""Helpers and fixtures shared by the OpenVINO tests (tests/backends/openvino/): the tiny IR pair
built through the CLI (``ir``), its Q/DQ INT8 twin (``qdq``), and small file helpers."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edgeseg.cli import main


def _load_runtime_artifacts():
    """tests/backends/_shared/_runtime_artifacts.py (test folders are not packages, so by path; same module
    name as tests/backends and tests/export use, so it is loaded once)."""
    name = "_edgeseg_runtime_test_artifacts"
    if name not in sys.modules:
        path = Path(__file__).with_name("_runtime_artifacts.py")
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


A = _load_runtime_artifacts()


def cli(argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``edgeseg ARGV`` in this process (works in module fixtures)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse errors
            code = e.code
    return code, out.getvalue(), err.getvalue()


def sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def ir(tmp_path_factory):
    """The tiny float ONNX copied to its own folder and built there through the CLI with
    ``--backend openvino --threads 1`` and no -o (so the default output name is exercised)."""
    src_dir = tmp_path_factory.mktemp("ov_src")
    folder = tmp_path_factory.mktemp("ov_fp32")
    onnx = shutil.copy(A.tiny_onnx(src_dir), folder / "cgnet.onnx")
    code, out, err = cli(["build", onnx, "--backend", "openvino", "--threads", "1"])
    assert code == 0, err
    return SimpleNamespace(
        folder=folder,
        onnx=Path(onnx),
        xml=folder / "cgnet.fp32.xml",
        bin=folder / "cgnet.fp32.bin",
        out=out,
        ckpt=A.tiny_checkpoint(src_dir),
        src_dir=src_dir,
    )


@pytest.fixture(scope="session")
def qdq(ir, tmp_path_factory):
    """A real Q/DQ ONNX of the tiny checkpoint (``edgeseg quantize --method ptq``, 4 synthetic
    frames, max calibration), and its INT8 IR built with ``--int8``."""
    folder = tmp_path_factory.mktemp("ov_int8")
    onnx = folder / "cgnet_int8.onnx"
    code, _, err = cli(
        [
            "quantize",
            ir.ckpt,
            "--method",
            "ptq",
            "--calib",
            "synthetic:4",
            "--calib-num",
            "4",
            "--calib-batch",
            "2",
            "--calib-method",
            "max",
            "--device",
            "cpu",
            "-o",
            onnx,
            "--no-progress",
        ]
    )
    assert code == 0, err
    code, out, err = cli(["build", onnx, "--backend", "openvino", "--int8", "-o", folder / "q.xml"])
    assert code == 0, err
    return SimpleNamespace(onnx=onnx, xml=folder / "q.xml", bin=folder / "q.bin", out=out)


def copy_pair(xml: Path, folder: Path, name: str = "m") -> Path:
    """Copy an IR (xml + bin) into ``folder`` as NAME.xml / NAME.bin; returns the xml."""
    shutil.copyfile(xml, folder / f"{name}.xml")
    shutil.copyfile(xml.with_suffix(".bin"), folder / f"{name}.bin")
    return folder / f"{name}.xml"


def batch_of(n: int, seed: int = 0) -> np.ndarray:
    from edgeseg.data.preprocess import preprocess

    return preprocess(A.frames(n, seed=seed), A.tiny_card())
