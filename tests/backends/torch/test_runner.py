"""TorchRunner specifics beyond the conformance test: options, in-memory models, threads, NaN pass-through."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeseg.data.preprocess import preprocess
from edgeseg.errors import CheckpointError, EdgesegError, UnsupportedOptionError
from edgeseg.backends import check_batch, check_finite
from edgeseg.backends.torch.runner import TorchRunner


def test_fp16_on_cpu_is_refused_saying_where_it_works(artifact_dir, arts):
    with pytest.raises(UnsupportedOptionError, match="fp16 works only with device='cuda'"):
        TorchRunner(arts.tiny_checkpoint(artifact_dir), precision="fp16")


@pytest.mark.parametrize(
    "opts, match",
    [
        ({"precision": "int8"}, "precision 'int8'"),
        ({"device": "tpu"}, "device 'tpu'"),
        ({"threads": 0}, "threads"),
    ],
)
def test_bad_options_are_refused(artifact_dir, arts, opts, match):
    with pytest.raises(UnsupportedOptionError, match=match):
        TorchRunner(arts.tiny_checkpoint(artifact_dir), **opts)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_cuda_without_cuda_is_refused(artifact_dir, arts):
    with pytest.raises(UnsupportedOptionError, match="CUDA is not available"):
        TorchRunner(arts.tiny_checkpoint(artifact_dir), device="cuda")


def test_corrupt_checkpoint_is_a_clean_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="bad.pt"):
        TorchRunner(bad)


def test_from_model_matches_checkpoint_and_copy_leaves_model_alone(artifact_dir, arts):
    model = arts.tiny_model().train()
    batch = preprocess(arts.frames(2), arts.tiny_card())
    with TorchRunner.from_model(model, arts.tiny_card(), copy=True) as r:
        got = r.infer(batch)
    assert model.training, "copy=True must not switch the caller's model to eval"
    assert all(p.is_contiguous() for p in model.parameters()), "copy=True must not change the memory format"
    with TorchRunner(arts.tiny_checkpoint(artifact_dir)) as r:
        ref = r.infer(batch)
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)


def test_from_model_takes_any_size_unless_given_input_size(arts):
    from edgeseg.module_runner import ModuleRunner
    from edgeseg.train.evaluate import evaluate

    card = arts.tiny_card()
    with ModuleRunner.from_model(arts.tiny_model(), card) as r:
        assert r.input_size is None and r.infer(np.zeros((1, 3, 40, 56), np.float32)).shape[2:] == (40, 56)
    with ModuleRunner.from_model(arts.tiny_model(), card, input_size=(48, 80)) as r:
        assert r.input_size == (48, 80)
        with pytest.raises(EdgesegError, match="takes 48x80 input, found 64x96"):
            r.infer(preprocess(arts.frames(1), card))
        seen = []
        infer = r.infer
        r.infer = lambda x: seen.append(x.shape[2:]) or infer(x)  # evaluate resizes frames to input_size
        evaluate(r, [(f, np.zeros(f.shape[:2], np.uint8)) for f in arts.frames(2)], progress=False)
        assert seen == [(48, 80), (48, 80)]
    with pytest.raises(UnsupportedOptionError, match=r"input_size must be \(H, W\).*found \(48,\)"):
        ModuleRunner.from_model(arts.tiny_model(), card, input_size=(48,))


def test_channels_last_and_nchw_agree(artifact_dir, arts):
    batch = preprocess(arts.frames(2), arts.tiny_card())
    ck = arts.tiny_checkpoint(artifact_dir)
    with TorchRunner(ck, channels_last=True) as a, TorchRunner(ck, channels_last=False) as b:
        assert a.options["channels_last"] and not b.options["channels_last"]
        np.testing.assert_allclose(a.infer(batch), b.infer(batch), atol=1e-4, rtol=1e-5)


def test_threads_are_recorded_and_restored_on_close(artifact_dir, arts):
    before = torch.get_num_threads()
    with TorchRunner(arts.tiny_checkpoint(artifact_dir), threads=1) as r:
        assert torch.get_num_threads() == 1 and r.threads == 1 and r.options["threads"] == 1
    assert torch.get_num_threads() == before
    with pytest.raises(EdgesegError, match="after close"):
        r.infer(np.zeros((1, 3, 8, 8), np.float32))


def test_nan_logits_pass_through_and_check_finite_flags_them(arts):
    model = arts.tiny_model()
    with torch.no_grad():
        model.classifier[-1].weight[0, 0] = float("nan")
    with TorchRunner.from_model(model, arts.tiny_card()) as r:
        out = r.infer(preprocess(arts.frames(1), arts.tiny_card()))
    assert not check_finite(out)
    assert check_finite(np.zeros((1, 11, 4, 4), np.float32))
    assert not check_finite(np.array([0.0, np.inf], np.float32))


def test_check_batch_contract():
    x = check_batch(np.zeros((2, 3, 4, 5), np.float64))
    assert x.dtype == np.float32 and x.flags.c_contiguous
    for bad, match in [
        ([[0.0]], "numpy"),
        (np.zeros((2, 4, 4, 5), np.float32), "3 channels"),
        (np.zeros((2, 3, 4, 5), np.uint8), "float32"),
        (np.zeros((0, 3, 4, 5), np.float32), "NCHW"),
    ]:
        with pytest.raises(EdgesegError, match=match):
            check_batch(bad)


def test_channels_last_default_is_cuda_only(artifact_dir, arts):
    from edgeseg.backends.torch.runner import TorchRunner

    with TorchRunner(arts.tiny_checkpoint(artifact_dir)) as r:
        assert r.channels_last is False  # CPU: NCHW measured faster for inference
