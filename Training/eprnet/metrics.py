"""Confusion matrix and IoU (numpy only: also used in the torch-free OpenVINO venv)."""
import numpy as np

from .constants import NUM_CLASSES


def confusion(pred, gt, num_classes=NUM_CLASSES):
    """num_classes x num_classes counts, rows = ground truth; pixels with gt outside 0..K-1 (void) skipped."""
    gt = np.asarray(gt).ravel().astype(np.int64)
    pred = np.asarray(pred).ravel().astype(np.int64)
    keep = (gt >= 0) & (gt < num_classes)
    idx = gt[keep] * num_classes + pred[keep]
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_per_class(cm):
    """TP / (TP + FP + FN) per class from a confusion matrix accumulated over a whole split."""
    cm = np.asarray(cm, np.float64)
    tp = np.diag(cm)
    denom = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, tp / denom, np.nan)


def mean_iou(cm):
    return float(np.nanmean(iou_per_class(cm)))


def pixel_accuracy(cm):
    cm = np.asarray(cm)
    return float(np.diag(cm).sum() / max(cm.sum(), 1))
