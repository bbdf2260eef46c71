"""OpenVinoRunner on the real OpenVINO: what it refuses (missing or foreign weights, no card, a
truncated xml, bad threads, another size) and open_runner picking it for ``.xml``."""

from __future__ import annotations

import numpy as np
import pytest

ov = pytest.importorskip("openvino")

from _openvino_helpers import A, batch_of, cli, copy_pair  # noqa: E402
from edgeseg.backends.openvino.runner import OpenVinoRunner  # noqa: E402
from edgeseg.errors import EdgesegError, UnsupportedOptionError  # noqa: E402


# ---- what the runner refuses -----------------------------------------------------------------------


def test_runner_refuses_a_missing_bin(ir, tmp_path):
    xml = copy_pair(ir.xml, tmp_path)
    xml.with_suffix(".bin").unlink()
    with pytest.raises(
        EdgesegError, match=r"m\.xml: its weights m\.bin are missing beside it; rebuild with edgeseg build"
    ):
        OpenVinoRunner(xml)


@pytest.mark.parametrize("how", ["truncated", "appended", "other-build"])
def test_runner_refuses_a_bin_of_another_size(ir, qdq, tmp_path, how):
    xml = copy_pair(ir.xml, tmp_path)
    data = ir.bin.read_bytes()
    new = {
        "truncated": data[: len(data) // 2],
        "appended": data + b"\x00" * 16,
        "other-build": qdq.bin.read_bytes(),
    }[how]
    xml.with_suffix(".bin").write_bytes(new)
    msg = (
        rf"m\.bin is {len(new)} bytes but the card in m\.xml records {len(data)}: the pair is from "
        r"different builds or truncated"
    )
    with pytest.raises(EdgesegError, match=msg):
        OpenVinoRunner(xml)
    with pytest.raises(EdgesegError, match=msg):  # the size is checked even without the sha256
        OpenVinoRunner(xml, verify_weights=False)


def test_runner_refuses_changed_weights_unless_verify_weights_is_off(ir, tmp_path):
    xml = copy_pair(ir.xml, tmp_path)
    data = bytearray(ir.bin.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight's mantissa: same size, other bytes
    xml.with_suffix(".bin").write_bytes(bytes(data))
    with pytest.raises(
        EdgesegError, match=r"m\.bin does not match the sha256 in the card of m\.xml \(modified or replaced\)"
    ):
        OpenVinoRunner(xml)
    with OpenVinoRunner(xml, verify_weights=False) as r:
        out = r.infer(batch_of(1))
    assert out.shape == (1, A.NUM_CLASSES, *A.SIZE) and np.isfinite(out).all()


def test_runner_refuses_an_ir_without_an_edgeseg_card(ir, tmp_path):
    plain = tmp_path / "plain.xml"
    ov.save_model(ov.convert_model(str(ir.onnx)), str(plain), compress_to_fp16=False)
    with pytest.raises(
        EdgesegError, match=r"plain\.xml: no edgeseg model card in its rt_info; build it with edgeseg build"
    ):
        OpenVinoRunner(plain)


def test_runner_refuses_a_truncated_xml(ir, tmp_path):
    xml = copy_pair(ir.xml, tmp_path)
    text = xml.read_bytes()
    xml.write_bytes(text[: len(text) // 2])
    with pytest.raises(EdgesegError, match=r"m\.xml: OpenVINO cannot read it \(truncated or corrupt\?\)"):
        OpenVinoRunner(xml)


def test_runner_refuses_bad_threads_and_a_frame_of_another_size(ir):
    with pytest.raises(UnsupportedOptionError, match="threads must be a positive integer"):
        OpenVinoRunner(ir.xml, threads=0)
    with OpenVinoRunner(ir.xml) as r:
        with pytest.raises(EdgesegError, match=r"takes 64x96 input, found 32x48"):
            r.infer(np.zeros((1, 3, 32, 48), np.float32))
        r.close()
        with pytest.raises(EdgesegError, match=r"infer\(\) after close\(\)"):
            r.infer(np.zeros((1, 3, 64, 96), np.float32))


def test_open_runner_picks_openvino_for_xml_and_predict_runs_on_it(ir, tmp_path):
    import cv2

    from edgeseg.backends import open_runner

    with open_runner(ir.xml) as r:
        assert isinstance(r, OpenVinoRunner)
    img = tmp_path / "f.png"
    cv2.imwrite(str(img), A.frames(1, (48, 64))[0])
    code, _, err = cli(["predict", ir.xml, img, "-o", tmp_path / "pred"])
    assert code == 0, err
    assert [p.name for p in (tmp_path / "pred").iterdir()]
