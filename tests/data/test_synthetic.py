import time

import numpy as np
import pytest

from edgeseg.data.datasets import CAMVID, open_dataset
from edgeseg.data.synthetic import BUILDING, CAR, ROAD, SKY, VOID, SyntheticScenes
from edgeseg.errors import DataError, EdgesegError

SIZE = (64, 96)


def test_shapes_dtypes_and_label_ids():
    ds = SyntheticScenes(num_images=6, size=SIZE, seed=3)
    assert len(ds) == 6 and ds.info is CAMVID and ds.bad_label_pixels == 0
    assert ds.image_paths() == []
    assert ds.description == "synthetic:6 [seed 3, 64x96]"
    for i in range(len(ds)):
        img, lab = ds[i]
        assert img.shape == (*SIZE, 3) and img.dtype == np.uint8 and img.flags.c_contiguous
        assert lab.shape == SIZE and lab.dtype == np.uint8
        ids = set(np.unique(lab).tolist())
        assert ids <= set(range(11)) | {VOID}, ids
        assert np.mean(lab == VOID) < 0.05  # void only as thin outlines
        assert img.std() > 10  # not a flat image


def test_deterministic_byte_identical_and_order_independent():
    a = SyntheticScenes(num_images=4, size=SIZE, seed=7)
    b = SyntheticScenes(num_images=4, size=SIZE, seed=7)
    later_first = [b[i] for i in (3, 2, 1, 0)][::-1]
    for i in range(4):
        ia, la = a[i]
        ib, lb = later_first[i]
        assert ia.tobytes() == ib.tobytes() and la.tobytes() == lb.tobytes()
    assert a[-1][0].tobytes() == a[3][0].tobytes()
    assert a[0][0].tobytes() != a[1][0].tobytes()  # scenes differ within a set


def test_different_seeds_differ():
    a = SyntheticScenes(num_images=2, size=SIZE, seed=0)[0]
    b = SyntheticScenes(num_images=2, size=SIZE, seed=1)[0]
    assert not np.array_equal(a[0], b[0]) and not np.array_equal(a[1], b[1])


def test_main_classes_appear_across_a_few_scenes():
    ds = SyntheticScenes(num_images=8, size=SIZE, seed=0)
    counts = np.zeros(12, np.int64)
    for i in range(len(ds)):
        counts += np.bincount(ds[i][1].ravel(), minlength=12)
    for cls in (SKY, BUILDING, ROAD, CAR):
        assert counts[cls] > 0, CAMVID.class_names[cls]
    assert (counts[:11] > 0).sum() >= 8  # most of the 11 classes show up in 8 scenes


def test_layout_is_street_like():
    """Sky is on top and road at the bottom, on average: the structure a CNN can learn."""
    ds = SyntheticScenes(num_images=8, size=SIZE, seed=2)
    labs = np.stack([ds[i][1] for i in range(len(ds))])
    rows = np.arange(SIZE[0])[None, :, None]
    sky_row = (rows * (labs == SKY)).sum() / max(1, (labs == SKY).sum())
    road_row = (rows * (labs == ROAD)).sum() / max(1, (labs == ROAD).sum())
    assert sky_row < SIZE[0] * 0.35 < SIZE[0] * 0.6 < road_row


def test_not_separable_by_colour_alone():
    """A nearest-mean colour classifier must do clearly worse than perfect (texture, lighting, casts)."""
    ds = SyntheticScenes(num_images=8, size=SIZE, seed=4)
    imgs = np.stack([ds[i][0] for i in range(8)]).reshape(-1, 3).astype(np.float32)
    labs = np.stack([ds[i][1] for i in range(8)]).reshape(-1)
    keep = labs < 11
    imgs, labs = imgs[keep], labs[keep]
    present = np.unique(labs)
    means = np.stack([imgs[labs == c].mean(0) for c in present])
    pred = present[np.argmin(((imgs[:, None, :] - means[None]) ** 2).sum(-1), axis=1)]
    assert (pred == labs).mean() < 0.5  # ~0.2 measured; a flat-colour scene would give ~1.0


def test_fast_enough():
    ds = SyntheticScenes(num_images=10, size=(120, 160))
    ds[0]
    t = time.perf_counter()
    for i in range(10):
        ds[i]
    per_scene = (time.perf_counter() - t) / 10
    assert per_scene < 0.1  # ~6 ms idle; generous for a shared 2-core machine


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_images": 0}, "num_images must be >= 1, found 0"),
        ({"num_images": 2.5}, "num_images must be an integer"),
        ({"size": (31, 64)}, "height must be in 32..4096, found 31"),
        ({"size": (64, 8)}, "width must be in 32..4096, found 8"),
        ({"size": 64}, r"size must be \(height, width\)"),
        ({"seed": -1}, "seed must be >= 0"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(DataError, match=match):
        SyntheticScenes(**kwargs)
    assert issubclass(DataError, EdgesegError)


def test_index_out_of_range():
    ds = SyntheticScenes(num_images=2, size=SIZE)
    with pytest.raises(IndexError):
        ds[2]
    with pytest.raises(IndexError):
        ds[-3]
    assert len(list(iter(ds))) == 2  # the sequence protocol stops at IndexError


def test_open_dataset_spec():
    ds = open_dataset("synthetic:8", "train", size=SIZE)
    assert isinstance(ds, SyntheticScenes) and len(ds) == 8
    img, lab = ds[0]
    assert img.shape == (*SIZE, 3) and lab.shape == SIZE
    val = open_dataset("synthetic", "val", size=SIZE)
    assert len(val) == 16 and val.seed != ds.seed
    assert not np.array_equal(val[0][0], ds[0][0])


def test_other_sizes_render():
    for size in ((32, 32), (90, 40), (360, 480)):
        img, lab = SyntheticScenes(num_images=1, size=size, seed=5)[0]
        assert img.shape[:2] == lab.shape == size
        assert (lab == SKY).any() or (lab == BUILDING).any()
