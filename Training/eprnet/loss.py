"""The training loss of both loops (train.py, gpu_train.py): cross-entropy over labelled pixels,
optionally over the hard ones only (OHEM, online hard example mining, as BiSeNet and STDC train
on CamVid and Cityscapes from scratch).

OHEM keeps the pixels whose predicted probability of their true class is below a threshold, and
at least the hardest 1/16 of the labelled pixels of the batch, so easy road and sky stop
dominating the gradient late in training. Pixels are chosen by probability, not by loss, so class
weights (when also given) change how much a kept pixel counts, not which are kept.
"""
import argparse
import math

import torch
import torch.nn.functional as F

OHEM_MIN_KEPT = 16  # keep at least 1/OHEM_MIN_KEPT of the labelled pixels


def ohem_threshold(text):
    """--ohem's argparse type: a probability in (0, 1]."""
    p = float(text)
    if not 0 < p <= 1:
        raise argparse.ArgumentTypeError("a probability in (0, 1], not %s" % text)
    return p


def segmentation_loss(logits, target, weight, void, ohem=None):
    """Mean (class-weighted when weight is given) cross-entropy, ignoring void. ohem: None, or
    the probability below which a pixel counts as hard (0.7 in the published recipes)."""
    if ohem is None:
        return F.cross_entropy(logits, target, weight=weight, ignore_index=void)
    nll = F.cross_entropy(logits, target, ignore_index=void, reduction="none").flatten()
    labelled = (target != void).flatten()
    nll, classes = nll[labelled], target.flatten()[labelled]
    if nll.numel() == 0:
        return logits.sum() * 0.0  # a batch of void only: no gradient, but a graph to backpropagate
    with torch.no_grad():
        cut = -math.log(ohem)  # p < ohem  <=>  -log p > cut
        n_min = max(1, nll.numel() // OHEM_MIN_KEPT)
        hard = nll > cut
        if int(hard.sum()) < n_min:  # too few hard pixels: the n_min hardest instead
            hard = nll >= torch.topk(nll, n_min, sorted=False).values.min()
    w = weight[classes[hard]] if weight is not None else torch.ones_like(nll[hard])
    return (w * nll[hard]).sum() / w.sum()
