"""edgeseg._sniff: input files judged by their first bytes before any native loader sees them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgeseg._sniff import check_input_file
from edgeseg.errors import EdgesegError

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def _pte(size: int, claimed: int) -> bytes:
    """An ExecuTorch-shaped header (ET12 + eh00 extended header claiming ``claimed`` bytes), ``size`` long."""
    head = (
        b"\x3c\x00\x00\x00ET12"
        + b"eh00"
        + (32).to_bytes(4, "little")
        + claimed.to_bytes(8, "little")
        + (0).to_bytes(8, "little")
        + (0).to_bytes(8, "little")
    )
    return head + b"\x00" * max(0, size - len(head))


@pytest.mark.parametrize(
    "name,data,expect",
    [
        ("m.pt", PNG, r"expected a PyTorch checkpoint \(zip\), found a PNG image"),
        ("m.onnx", b'{"runs": []}', r"expected an ONNX model, found JSON text"),
        ("m.pte", os.urandom(4096), r"expected an ExecuTorch program, found bytes"),
        ("m.pte", _pte(1000, 5000), r"truncated ExecuTorch program: 1000 bytes, its header says 5000"),
        ("m.xml", b"\x00\x01binary", r"expected an OpenVINO IR \(XML\)"),
        ("img.png", b"%PDF-1.4 not an image", r"expected an image, found text"),
        ("m.onnx", b"", r"empty file \(0 bytes\), expected an ONNX model"),
    ],
)
def test_wrong_content_for_its_suffix_is_one_line(tmp_path, name, data, expect):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(EdgesegError, match=expect) as e:
        check_input_file(p, flag="model")
    assert "\n" not in str(e.value) and str(p) in str(e.value)


def test_missing_folder_and_non_utf8_names(tmp_path):
    with pytest.raises(EdgesegError, match="file not found"):
        check_input_file(tmp_path / "nope.pt", flag="model")
    (tmp_path / "d.pt").mkdir()
    with pytest.raises(EdgesegError, match="is a folder, expected a file"):
        check_input_file(tmp_path / "d.pt", flag="model")
    raw = os.fsencode(tmp_path) + b"/bad\xff.pt"
    Path(os.fsdecode(raw)).write_bytes(b"PK\x03\x04")
    with pytest.raises(EdgesegError, match="not UTF-8"):
        check_input_file(Path(os.fsdecode(raw)), flag="model")


def test_good_files_pass(tmp_path):
    for f in ("cgnet_camvid.pt", "cgnet_camvid_qat_int8.onnx"):
        check_input_file(ROOT / "edgeseg" / "weights" / f, flag="model")
    p = tmp_path / "ok.pte"
    p.write_bytes(_pte(6000, 5000))
    check_input_file(p, flag="model")
    pkg = tmp_path / "m.mlpackage"
    pkg.mkdir()
    with pytest.raises(EdgesegError, match="Manifest.json"):  # an empty package was said to be "fine"
        check_input_file(pkg, flag="model")
    (pkg / "Manifest.json").write_text("{}")
    check_input_file(pkg, flag="model")  # Core ML packages are folders


def test_open_runner_checks_before_loading(tmp_path):
    """In a child: without the check, ExecuTorch's loader aborted the process on these bytes."""
    import subprocess
    import sys

    p = tmp_path / "junk.pte"
    p.write_bytes(os.urandom(100_000))
    code = (
        "import sys\nfrom edgeseg.backends import open_runner\nfrom edgeseg.errors import EdgesegError\n"
        "try:\n    open_runner(sys.argv[1])\nexcept EdgesegError as e:\n    print(e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.returncode, r.stderr[-1000:])
    assert "expected an ExecuTorch program" in r.stdout


def test_a_checkpoint_reader_names_what_it_was_given(tmp_path):
    """An ONNX or PNG handed where a checkpoint goes was said to 'carry Python objects beyond tensors'."""
    from edgeseg.errors import CheckpointError
    from edgeseg.train.checkpoint import read_checkpoint

    onnx = tmp_path / "m.pt"
    onnx.write_bytes((ROOT / "edgeseg" / "weights" / "cgnet_camvid_qat_int8.onnx").read_bytes())
    with pytest.raises(CheckpointError, match="expected an edgeseg .pt checkpoint, found an ONNX model"):
        read_checkpoint(onnx)
    png = tmp_path / "p.pt"
    png.write_bytes(PNG)
    with pytest.raises(CheckpointError, match="found a PNG image"):
        read_checkpoint(png)
