"""One Runner contract, checked on every artifact ending of every spec in BACKENDS (artifacts from
conftest.ARTIFACT_FACTORIES).

Agreement with the eager torch runner on the same tiny checkpoint, per precision (np.allclose form,
|runner - torch| <= atol + rtol * |torch|; logits of the tiny model reach ~25):
- fp32: atol 1e-4, rtol 1e-5 (measured: ORT CPU and channels-last torch differ by ~3e-5).
- fp16 / int8: argmax agreement only (filled in with those backends' factories).
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeseg.card import PRECISIONS
from edgeseg.data.preprocess import preprocess
from edgeseg.errors import EdgesegError
from edgeseg.backends import BACKENDS, BaseRunner, Runner, open_runner, spec_for
from edgeseg.segment import segment

SUFFIXES = sorted(s for spec in BACKENDS.values() for s in spec.suffixes)

#: precision -> (atol, rtol, minimum argmax agreement) against the fp32 torch runner
TOLERANCES = {"fp32": (1e-4, 1e-5, 0.999), "fp16": (None, None, 0.98), "int8": (None, None, 0.90)}


NUM_CLASSES = 11
SIZE = (64, 96)


def test_every_runner_suffix_has_an_artifact_factory(artifact_factories):
    assert set(artifact_factories) == set(SUFFIXES)


@pytest.fixture(scope="module", params=SUFFIXES)
def artifact(request, artifact_dir, artifact_factories):
    return artifact_factories[request.param](artifact_dir)


@pytest.fixture(scope="module")
def reference(artifact_dir, arts):
    """Eager fp32 NCHW torch logits for 2 frames at 64x96, the ground truth every backend is held to."""
    from edgeseg.backends.torch.runner import TorchRunner

    with TorchRunner(arts.tiny_checkpoint(artifact_dir), channels_last=False) as r:
        batch = preprocess(arts.frames(2), r.card)
        return batch, r.infer(batch)


def test_runner_protocol_and_card(artifact):
    runner = open_runner(artifact)
    assert isinstance(runner, Runner) and isinstance(runner, BaseRunner)
    with runner as r:
        assert r is runner
        assert r.card.num_classes == NUM_CLASSES and len(r.card.palette) == NUM_CLASSES
        assert r.backend == spec_for(artifact).name
        assert r.card == spec_for(artifact).read_card(artifact)  # the spec reads the card without running
        assert r.precision in PRECISIONS
        assert r.input_size is None or (
            len(r.input_size) == 2 and all(isinstance(v, int) for v in r.input_size)
        )


def test_infer_shape_dtype_finite_and_agrees_with_torch(artifact, reference):
    batch, ref = reference
    with open_runner(artifact) as r:
        if r.input_size is not None:
            assert r.input_size == SIZE
        out = r.infer(batch)
        precision = r.precision
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert out.shape == (2, NUM_CLASSES, *SIZE)
    assert np.isfinite(out).all()
    atol, rtol, agree_min = TOLERANCES[precision]
    if atol is not None:
        worst = float(np.max(np.abs(out - ref) - rtol * np.abs(ref)))
        assert worst <= atol, (
            f"{artifact.suffix}: |out - torch| exceeds atol {atol} + rtol {rtol} x |torch| by "
            f"{worst - atol:.2e}"
        )
    agree = float((out.argmax(1) == ref.argmax(1)).mean())
    assert agree >= agree_min, f"{artifact.suffix}: argmax agreement {agree:.4f} < {agree_min}"


def test_segment_returns_labels_at_frame_size(artifact, arts):
    pics = arts.frames(1, (50, 70), seed=3) + arts.frames(1, SIZE, seed=4)
    with open_runner(artifact) as r:
        labels = segment(r, pics)
    assert [lab.shape for lab in labels] == [(50, 70), SIZE]
    for lab in labels:
        assert lab.dtype == np.uint8 and lab.max() < NUM_CLASSES


def test_infer_rejects_a_batch_that_is_not_nchw_rgb(artifact):
    with open_runner(artifact) as r:
        with pytest.raises(EdgesegError, match="3 channels"):
            r.infer(np.zeros((1, 1, *SIZE), np.float32))
        with pytest.raises(EdgesegError, match="NCHW"):
            r.infer(np.zeros((3, *SIZE), np.float32))


def test_open_runner_names_the_options_a_runner_takes(tmp_path):
    """An option a runner does not take is a clear error, not a TypeError (e.g. --threads with an engine)."""
    import pytest as _pytest

    from edgeseg.errors import UnsupportedOptionError
    from edgeseg.backends import open_runner

    eng = tmp_path / "m.engine"
    eng.write_bytes(b"x")
    with _pytest.raises(
        UnsupportedOptionError, match=r"TensorRTRunner does not take threads; it takes device"
    ):
        open_runner(eng, threads=2)


def test_closed_runner_refuses_and_repr_says_so(artifact):
    runner = open_runner(artifact)
    runner.close()
    runner.close()  # twice is fine
    with pytest.raises(EdgesegError, match=r"is closed: infer\(\) after close\(\)"):
        runner.infer(np.zeros((1, 3, *SIZE), np.float32))
    assert repr(runner).startswith(type(runner).__name__ + "(") and repr(runner).endswith(", closed)")


class _TwoFrames(BaseRunner):
    """A runner whose one call takes exactly 2 frames of 4x4 (a static-batch artifact); NaN for negative
    input."""

    backend = "test"

    def __init__(self):
        from edgeseg.card import ModelCard

        self.card = ModelCard(
            arch="cgnet",
            num_classes=2,
            class_names=("a", "b"),
            palette=((0, 0, 0), (1, 1, 1)),
            input_size=(4, 4),
        )
        self.precision, self.options, self.calls = "fp32", {}, []
        self._limits(size=(4, 4), batch=(2, 2))

    def _infer_chunk(self, x):
        self.calls.append(x.shape[0])
        assert x.shape[0] == 2
        y = np.repeat(x[:, :1], 2, axis=1)
        return np.where(y < 0, np.nan, y)

    def _release(self):
        pass


def test_base_runner_pads_chunks_to_a_static_batch_and_counts_nonfinite_batches():
    with _TwoFrames() as r:
        x = np.arange(5 * 3 * 16, dtype=np.float32).reshape(5, 3, 4, 4)
        y = r.infer(x)
        assert r.calls == [2, 2, 2] and y.shape == (5, 2, 4, 4) and np.array_equal(y[:, 0], x[:, 0])
        assert r.static_batch == 2 and r.nonfinite_batches == 0
        with pytest.warns(RuntimeWarning, match="NaN/Inf"):
            r.infer(-np.ones((1, 3, 4, 4), np.float32))
        assert r.nonfinite_batches == 1
        with pytest.raises(EdgesegError, match="takes 4x4 input, found 5x4"):
            r.infer(np.zeros((1, 3, 5, 4), np.float32))
        with pytest.raises(EdgesegError, match="float32 input"):
            r.infer(np.zeros((1, 3, 4, 4), np.int64))
    assert "closed" in repr(r)
