import numpy as np

from edgeseg.data.transforms import TrainTransform


def _pair(h=40, w=50):
    img = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    lab = (np.arange(h * w).reshape(h, w) % 5).astype(np.uint8)
    return img, lab


def test_crop_size_flip_and_nearest_labels():
    t = TrainTransform(crop=(32, 32), scale=(0.5, 2.0), ignore_index=11)
    img, lab = _pair()
    for s in range(20):
        i2, l2 = t(img, lab, np.random.default_rng(s))
        assert i2.shape == (32, 32, 3) and l2.shape == (32, 32)
        assert set(np.unique(l2)) <= {0, 1, 2, 3, 4, 11}  # nearest: no interpolated ids


def test_small_scale_pads_with_ignore():
    t = TrainTransform(crop=(64, 64), scale=(0.5, 0.5), ignore_index=11)
    img, lab = _pair()
    i2, l2 = t(img, lab, np.random.default_rng(0))
    assert (l2 == 11).mean() > 0.5 and (i2[l2 == 11] == 0).all()


def test_same_rng_same_sample():
    t = TrainTransform(crop=(24, 24))
    img, lab = _pair()
    a = t(img, lab, np.random.default_rng((1, 2, 3)))
    b = t(img, lab, np.random.default_rng((1, 2, 3)))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
