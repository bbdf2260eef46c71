"""edgeseg export: ONNX + parity on real frames; a planted fault fails and leaves nothing behind."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from edgeseg.card import card_from_onnx
from edgeseg.cli import main
from edgeseg.data.preprocess import preprocess
from edgeseg.backends.onnxruntime.runner import OrtRunner
from edgeseg.backends.torch.runner import TorchRunner


def _export(capsys, *argv):
    rc = main(["export", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_export_passes_parity_and_keeps_the_card(tmp_path, tiny_ckpt, capsys):
    dst = tmp_path / "m.onnx"
    rc, out, err = _export(capsys, tiny_ckpt, "-o", dst, "--opset", 18)
    assert rc == 0, err
    line = out.strip()
    assert line.startswith(f"exported {dst} (") and "opset 18" in line and " MiB, " in line
    assert "parity: max|diff|=" in line and "argmax agree=" in line
    diff = float(line.split("max|diff|=")[1].split(",")[0])
    assert 0 <= diff <= 1e-3
    card = card_from_onnx(dst)
    assert card.input_size == (64, 96) and card.num_classes == 11
    assert card.source.startswith("tiny.pt@sha256:") and card.extra["export"]["opset"] == 18
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temp files left


def _plant_fault(monkeypatch, scale=0.05):
    """Wrap export_onnx so the written ONNX has one conv weight perturbed (the export 'bug')."""
    import edgeseg.export.onnx as exp

    real = exp.export_onnx

    def faulty(model, card, path, **kw):
        real(model, card, path, **kw)
        proto = onnx.load(str(path))
        init = max(proto.graph.initializer, key=lambda t: len(t.raw_data))
        w = onnx.numpy_helper.to_array(init).copy()
        w += scale * np.random.default_rng(0).standard_normal(w.shape).astype(w.dtype)
        init.CopyFrom(onnx.numpy_helper.from_array(w, init.name))
        onnx.save(proto, str(path))
        return path

    monkeypatch.setattr(exp, "export_onnx", faulty)


@pytest.mark.parametrize("scale", [0.05, 1e-4])  # 1e-4: argmax still agrees 100%; only the logit gate sees it
def test_planted_weight_fault_fails_parity_and_writes_nothing(
    tmp_path, tiny_ckpt, capsys, monkeypatch, scale
):
    _plant_fault(monkeypatch, scale)
    dst = tmp_path / "bad.onnx"
    rc, out, err = _export(capsys, tiny_ckpt, "-o", dst)
    assert rc != 0
    assert "parity check failed" in err and "nothing written" in err and err.count("\n") == 1
    assert "logits differ by more than atol" in err
    assert not dst.exists() and list(tmp_path.iterdir()) == []


def test_failed_parity_keeps_an_earlier_good_file(tmp_path, tiny_ckpt, capsys, monkeypatch):
    dst = tmp_path / "m.onnx"
    assert _export(capsys, tiny_ckpt, "-o", dst)[0] == 0
    good = dst.read_bytes()
    _plant_fault(monkeypatch)
    assert _export(capsys, tiny_ckpt, "-o", dst)[0] != 0
    assert dst.read_bytes() == good


def test_dynamic_export_runs_at_two_sizes_in_ort(tmp_path, tiny_ckpt, capsys, arts):
    dst = tmp_path / "dyn.onnx"
    rc, out, err = _export(capsys, tiny_ckpt, "-o", dst, "--dynamic", "--simplify")
    assert rc == 0, err
    assert card_from_onnx(dst).extra["export"]["simplified"] is True
    with OrtRunner(dst) as r, TorchRunner(tiny_ckpt) as t:
        assert r.input_size is None and r.static_batch is None
        for n, size in ((1, (64, 96)), (2, (48, 128))):
            batch = preprocess(arts.frames(n, size), r.card)
            got = r.infer(batch)
            assert got.shape == (n, 11, *size)
            np.testing.assert_allclose(got, t.infer(batch), atol=1e-4, rtol=1e-5)


def test_static_batch_and_size_options(tmp_path, tiny_ckpt, capsys):
    dst = tmp_path / "b2.onnx"
    rc, out, err = _export(capsys, tiny_ckpt, "-o", dst, "--batch", 2, "--size", "32x48")
    assert rc == 0, err
    with OrtRunner(dst) as r:
        assert r.static_batch == 2 and r.input_size == (32, 48) and r.card.input_size == (32, 48)


def test_default_output_is_beside_the_checkpoint(tmp_path, tiny_ckpt, capsys):
    ck = tmp_path / "model.pt"
    ck.write_bytes(tiny_ckpt.read_bytes())
    assert _export(capsys, ck)[0] == 0
    assert (tmp_path / "model.onnx").is_file()


@pytest.mark.parametrize("case", ["missing_folder", "corrupt_checkpoint", "not_onnx_suffix"])
def test_bad_input_is_one_line_error_before_work(tmp_path, tiny_ckpt, capsys, case):
    ck, dst = tiny_ckpt, tmp_path / "x.onnx"
    if case == "missing_folder":
        dst, want = tmp_path / "nope" / "x.onnx", "does not exist"
    elif case == "corrupt_checkpoint":
        ck = tmp_path / "corrupt.pt"
        ck.write_bytes(tiny_ckpt.read_bytes()[:5000])
        want = "corrupt.pt"
    else:
        dst, want = tmp_path / "x.engine", "should end in .onnx"
    rc, out, err = _export(capsys, ck, "-o", dst)
    assert rc == 2 and want in err and err.count("\n") == 1 and "Traceback" not in err
    assert not dst.exists()


def test_dynamic_export_is_checked_at_a_second_size(tmp_path, tiny_ckpt, capsys, monkeypatch, arts):
    """A model whose output size the tracer bakes in as a constant passes at the export size only."""
    import torch
    import torch.nn.functional as F

    import edgeseg.train.checkpoint as ckmod

    class Baked(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = arts.tiny_model()

        def forward(self, x):
            y = self.inner(x)[..., ::2, ::2]
            return F.interpolate(
                y, size=(int(x.shape[2]), int(x.shape[3])), mode="nearest"
            )  # constant once traced

    monkeypatch.setattr(ckmod, "load_checkpoint", lambda path, **kw: (Baked().eval(), arts.tiny_card(), {}))
    dst = tmp_path / "baked.onnx"
    rc, out, err = _export(capsys, tiny_ckpt, "-o", dst, "--dynamic")
    assert rc != 0 and "32x48" in err and not dst.exists()
    monkeypatch.undo()
    rc, out, err = _export(capsys, tiny_ckpt, "-o", dst, "--dynamic")
    assert rc == 0 and "also at 32x48" in out
