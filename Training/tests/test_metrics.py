import numpy as np

from eprnet import metrics


def test_confusion_ignores_void():
    gt = np.array([[0, 1, 11], [1, 1, 11]])
    pred = np.array([[0, 1, 5], [0, 1, 1]])
    cm = metrics.confusion(pred, gt, num_classes=3)
    assert cm.sum() == 4  # the two void pixels are not counted at all
    assert cm[0, 0] == 1 and cm[1, 1] == 2 and cm[1, 0] == 1


def test_iou_and_miou():
    cm = np.array([[1, 0, 0], [1, 2, 0], [0, 0, 0]])
    iou = metrics.iou_per_class(cm)
    assert np.isclose(iou[0], 1 / 2) and np.isclose(iou[1], 2 / 3)
    assert np.isnan(iou[2])  # a class absent from both prediction and truth is left out of the mean
    assert np.isclose(metrics.mean_iou(cm), (1 / 2 + 2 / 3) / 2)


def test_accumulated_not_averaged_per_image():
    a = metrics.confusion(np.array([0, 0]), np.array([0, 1]), 2)
    b = metrics.confusion(np.array([1] * 8), np.array([1] * 8), 2)
    # Per image mean would be ((0.5 + 0) / 2 + 1) / 2; over the split class 1 has 8 / 9.
    assert np.isclose(metrics.mean_iou(a + b), (1 / 2 + 8 / 9) / 2)
