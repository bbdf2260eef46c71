import io
import os

import pytest
import torch

from edgeseg.errors import CheckpointError
from edgeseg.models import build_model
from edgeseg.train.checkpoint import load_checkpoint, save_checkpoint


@pytest.fixture
def ckpt(tmp_path, camvid_card):
    model = build_model("cgnet", num_classes=11, m=2, n=3)
    return save_checkpoint(tmp_path / "m.pt", model=model, card=camvid_card, epoch=3), model


def test_roundtrip(ckpt, camvid_card):
    path, model = ckpt
    m2, card, payload = load_checkpoint(path, expect_arch="cgnet", expect_classes=11)
    assert card == camvid_card and payload["epoch"] == 3
    for k, v in model.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k])
    assert not m2.training


def test_wrong_arch_or_classes_refused(ckpt):
    path, _ = ckpt
    with pytest.raises(CheckpointError, match="expected 'deeplabv3plus_mobilenetv2'"):
        load_checkpoint(path, expect_arch="deeplabv3plus_mobilenetv2")
    with pytest.raises(CheckpointError, match="11 classes, expected 19"):
        load_checkpoint(path, expect_classes=19)


def test_truncated_refused(ckpt, tmp_path):
    path, _ = ckpt
    bad = tmp_path / "trunc.pt"
    bad.write_bytes(path.read_bytes()[: os.path.getsize(path) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(bad)


def test_not_ours_refused(tmp_path):
    p = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, p)
    with pytest.raises(CheckpointError, match="not an edgeseg checkpoint"):
        load_checkpoint(p)


class _Payload:
    def __reduce__(self):  # a pickle that would run code when loaded unsafely
        return (os.system, ("echo pwned > /dev/null",))


def test_pickle_with_code_refused(tmp_path):
    p = tmp_path / "evil.pt"
    buf = io.BytesIO()
    torch.save({"format": "edgeseg.checkpoint/1", "x": _Payload()}, buf)
    p.write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(p)


def test_nan_weights_never_saved(tmp_path, camvid_card):
    model = build_model("cgnet", num_classes=11, m=2, n=3)
    good = save_checkpoint(tmp_path / "best.pt", model=model, card=camvid_card)
    before = good.read_bytes()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.raises(CheckpointError, match="non-finite"):
        save_checkpoint(good, model=model, card=camvid_card)
    assert good.read_bytes() == before


def test_weights_that_do_not_fit(tmp_path, camvid_card):
    model = build_model("cgnet", num_classes=11, m=2, n=3)
    p = save_checkpoint(tmp_path / "m.pt", model=model, card=camvid_card.replace(arch_args={"m": 3, "n": 21}))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(p)


def test_half_checkpoint_loads_as_float32_with_half_the_bytes(ckpt, tmp_path):
    from edgeseg.train.checkpoint import save_half_checkpoint

    path, model = ckpt
    half = save_half_checkpoint(path, tmp_path / "half.pt")
    assert half.stat().st_size < 0.6 * path.stat().st_size
    m2, _, payload = load_checkpoint(half)
    assert payload["weights_dtype"] == "float16"
    sd, sd2 = model.state_dict(), m2.state_dict()
    assert all(v.dtype == sd[k].dtype for k, v in sd2.items())  # float32 to compute, int64 counters intact
    assert all(torch.allclose(v.float(), sd[k].float(), rtol=1e-3, atol=1e-4) for k, v in sd2.items())
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        a, b = model.eval()(x), m2(x)
    assert (a.argmax(1) == b.argmax(1)).float().mean() > 0.99


def test_half_checkpoint_refuses_weights_that_overflow(tmp_path, camvid_card):
    from edgeseg.train.checkpoint import save_half_checkpoint

    model = build_model("cgnet", num_classes=11, m=2, n=3)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = 1e6  # beyond float16's 65504
    src = save_checkpoint(tmp_path / "big.pt", model=model, card=camvid_card)
    with pytest.raises(CheckpointError, match="overflow float16"):
        save_half_checkpoint(src, tmp_path / "h.pt")
    assert not (tmp_path / "h.pt").exists()


def _subnormal_count(sd):
    tiny = torch.finfo(torch.float32).tiny
    return sum(int(((v != 0) & (v.abs() < tiny)).sum()) for v in sd.values() if v.dtype == torch.float32)


def test_subnormal_weights_are_zeroed_on_load_without_changing_outputs(tmp_path, camvid_card):
    """Weight decay leaves weights below float32's smallest normal (the shipped CGNet had 56,253); x86
    CPUs run them many times slower. Loading zeroes them; the file keeps them; outputs do not move."""
    from edgeseg.train.checkpoint import read_checkpoint, zero_subnormals

    model = build_model("cgnet", num_classes=11, m=2, n=3).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 4:  # every conv kernel: plant a few subnormals of both signs
                p.view(-1)[:3] = torch.tensor([1e-40, -3e-39, 1e-45])
    planted = _subnormal_count(model.state_dict())
    assert planted >= 30
    path = save_checkpoint(tmp_path / "sub.pt", model=model, card=camvid_card)
    assert _subnormal_count(read_checkpoint(path)["model"]) == planted  # saved as trained
    loaded, _, _ = load_checkpoint(path)
    assert _subnormal_count(loaded.state_dict()) == 0
    x = torch.randn(1, 3, 64, 96)
    with torch.inference_mode():
        assert torch.equal(model(x).argmax(1), loaded(x).argmax(1))
        assert (model(x) - loaded(x)).abs().max() < 1e-6
    sd = model.state_dict()
    zeroed, n = zero_subnormals(sd)
    assert n == planted and _subnormal_count(sd) == planted  # the input dict is left as it was
    assert all(torch.equal(zeroed[k], v) for k, v in sd.items() if not v.is_floating_point())
    normal = {"w": torch.tensor([1.2e-38, -2e-38, 0.0, 1.0])}  # smallest normals and zero stay
    assert zero_subnormals(normal)[1] == 0
