import numpy as np
import pytest

from edgeseg.train.metrics import ConfusionMatrix


def test_hand_computed_case():
    # 3 classes, ignore 255. gt / pred pixel pairs:
    gt = np.array([0, 0, 0, 1, 1, 2, 2, 2, 255, 255])
    pr = np.array([0, 0, 1, 1, 2, 2, 2, 0, 1, 2])
    cm = ConfusionMatrix(3, ignore_index=255)
    cm.update(pr, gt)
    assert cm.mat.tolist() == [[2, 1, 0], [0, 1, 1], [1, 0, 2]]
    # IoU_k = TP / (row + col - TP): class0 2/(3+3-2)=0.5, class1 1/(2+2-1)=1/3, class2 2/(3+3-2)=0.5
    np.testing.assert_allclose(cm.iou(), [0.5, 1 / 3, 0.5])
    assert cm.miou() == pytest.approx((0.5 + 1 / 3 + 0.5) / 3)
    assert cm.pixel_accuracy() == pytest.approx(5 / 8)


def test_absent_class_is_nan_and_skipped():
    cm = ConfusionMatrix(3, ignore_index=255)
    cm.update(np.array([0, 1]), np.array([0, 1]))
    iou = cm.iou()
    assert np.isnan(iou[2]) and cm.miou() == 1.0
    d = cm.to_dict(["a", "b", "c"])
    assert d["per_class_iou"]["c"] is None and d["pixels"] == 2


def test_out_of_range_labels_not_counted_and_shapes_checked():
    cm = ConfusionMatrix(2, ignore_index=11)
    cm.update(np.array([0, 1, 1]), np.array([0, 11, 7]))
    assert cm.mat.sum() == 1
    with pytest.raises(ValueError):
        cm.update(np.zeros(3), np.zeros(4))


def test_merge_equals_single_update():
    rng = np.random.default_rng(0)
    gt, pr = rng.integers(0, 4, 100), rng.integers(0, 4, 100)
    a, b, c = (ConfusionMatrix(4) for _ in range(3))
    a.update(pr, gt)
    b.update(pr[:50], gt[:50])
    c.update(pr[50:], gt[50:])
    b.merge(c)
    assert (a.mat == b.mat).all()
