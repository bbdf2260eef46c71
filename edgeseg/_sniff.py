"""What a file is, from its first bytes, before any library that could crash on it opens it.

``check_input_file`` is applied by the output policy to every input path a command declares: a
missing file, a folder, an empty file, a name that is not UTF-8 and content that does not match its
suffix (a PNG named ``.pt``, random bytes named ``.pte``) each get one line naming the file, what was
expected and what was found. Suffixes without a known signature are only checked to be non-empty.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgeseg.errors import EdgesegError

#: Signatures by suffix: (expected kind in words, check on the first 64 bytes).
_IMAGE = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"RIFF": "WebP",
}


def _is_image(head: bytes) -> bool:
    return any(head.startswith(m) for m in _IMAGE)


def _is_torch(head: bytes) -> bool:  # torch.save: a zip archive (or a legacy pickle, protocol 2+)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def _is_onnx(head: bytes) -> bool:  # ModelProto serialises ir_version (field 1, varint) first
    return head[:1] == b"\x08"


def _is_pte(head: bytes) -> bool:  # an ExecuTorch program: flatbuffer with file identifier ET.. at bytes 4..8
    return len(head) >= 8 and head[4:6] == b"ET"


def _is_xml(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def _is_json(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")


def _is_yaml(head: bytes) -> bool:
    return b"\x00" not in head


SIGNATURES = {
    ".pt": ("a PyTorch checkpoint (zip)", _is_torch),
    ".pth": ("a PyTorch checkpoint (zip)", _is_torch),
    ".onnx": ("an ONNX model", _is_onnx),
    ".pte": ("an ExecuTorch program", _is_pte),
    ".xml": ("an OpenVINO IR (XML)", _is_xml),
    ".json": ("a JSON file", _is_json),
    ".yaml": ("a YAML file", _is_yaml),
    ".yml": ("a YAML file", _is_yaml),
    ".txt": ("a text file", _is_yaml),
    **{s: ("an image", _is_image) for s in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")},
}


def _describe(head: bytes) -> str:
    if _is_image(head):
        return next(f"a {k} image" for m, k in _IMAGE.items() if head.startswith(m))
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive"
    if _is_json(head):
        return "JSON text"
    if _is_xml(head):
        return "XML text"
    try:
        head.decode("ascii")
        return "text"
    except UnicodeDecodeError:
        return f"bytes {head[:8].hex(' ')}"


def describe_file(p: Path) -> str | None:
    """What ``p`` is by its first bytes, in words ("an ONNX model", "a PNG image", "a zip archive",
    "a pickle", "JSON text", ...), whatever its suffix; None when it cannot be read or is unknown."""
    try:
        with open(p, "rb") as f:
            head = f.read(64)
    except OSError:
        return None
    if not head:
        return "an empty file (0 bytes)"
    if head[:1] == b"\x80":
        return "a pickle"
    if _is_onnx(head) and b"\x12" in head[:16]:  # ir_version, then producer_name (field 2)
        return "an ONNX model"
    if _is_pte(head):
        return "an ExecuTorch program"
    return _describe(head)


def check_path_text(p: Path, *, what: str = "path") -> None:
    """EdgesegError when ``p`` holds bytes that are not UTF-8 (cards, reports and OpenCV cannot hold it)."""
    try:
        str(p).encode("utf-8")
    except UnicodeEncodeError:
        raise EdgesegError(
            f"{os.fsencode(str(p))!r}: the {what} holds bytes that are not UTF-8; rename it"
        ) from None


def check_input_file(p: Path, *, flag: str, folder_suffixes: tuple[str, ...] = (".mlpackage",)) -> None:
    """One line when the input ``p`` (given as ``flag``) is missing, a folder, empty, or not what its
    suffix says; a folder is accepted for ``folder_suffixes`` (a Core ML package)."""
    check_path_text(p, what=f"{flag} path")
    if not p.exists():
        raise EdgesegError(f"{p}: file not found ({flag})")
    suffix = p.suffix.lower()
    if p.is_dir():
        if suffix == ".mlpackage" and not (p / "Manifest.json").is_file():
            raise EdgesegError(
                f"{p}: expected a Core ML package (Manifest.json inside), found a folder without one ({flag})"
            )
        if suffix in folder_suffixes:
            return
        raise EdgesegError(f"{p}: is a folder, expected a file ({flag})")
    try:
        with open(p, "rb") as f:
            head = f.read(64)
    except OSError as e:
        raise EdgesegError(f"{p}: cannot read it ({e.strerror}) ({flag})") from None
    if not head:
        raise EdgesegError(
            f"{p}: empty file (0 bytes), expected {SIGNATURES.get(suffix, ('data',))[0]} ({flag})"
        )
    if suffix in SIGNATURES:
        want, ok = SIGNATURES[suffix]
        if not ok(head):
            raise EdgesegError(f"{p}: expected {want}, found {_describe(head)} ({flag})")
    if suffix == ".pte":
        _check_pte_length(p, head, flag=flag)


def _check_pte_length(p: Path, head: bytes, *, flag: str) -> None:
    """A cut ExecuTorch program is refused here: its runtime aborts the process on one. The extended
    header (``eh00`` at byte 8, little-endian sizes) says how long the program and its segments are."""
    if head[8:12] != b"eh00" or len(head) < 40:
        return
    length = int.from_bytes(head[12:16], "little")
    program_size = int.from_bytes(head[16:24], "little")
    seg_base = int.from_bytes(head[24:32], "little")
    seg_size = int.from_bytes(head[32:40], "little") if length > 24 else 0
    need = max(program_size, seg_base + seg_size if seg_size else 0)
    size = p.stat().st_size
    if size < need:
        raise EdgesegError(
            f"{p}: truncated ExecuTorch program: {size} bytes, its header says {need} ({flag})"
        )
