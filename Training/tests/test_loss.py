import argparse
import math

import pytest
import torch
import torch.nn.functional as F

from eprnet.loss import OHEM_MIN_KEPT, ohem_threshold, segmentation_loss

VOID = 11


def logits_with_true_probability(p_true, target, classes=11):
    """Logits whose softmax gives each pixel's target class probability p_true (the rest shared equally)."""
    p_rest = (1 - p_true) / (classes - 1)
    out = torch.log(p_rest).unsqueeze(1).repeat(1, classes, 1, 1)
    out.scatter_(1, target.clamp(max=classes - 1).unsqueeze(1), torch.log(p_true).unsqueeze(1))
    return out


def test_without_ohem_it_is_cross_entropy_itself():
    torch.manual_seed(0)
    x, y = torch.randn(2, 11, 8, 8), torch.randint(0, 12, (2, 8, 8))
    w = torch.rand(11) + 0.5
    assert torch.equal(segmentation_loss(x, y, w, VOID), F.cross_entropy(x, y, weight=w, ignore_index=VOID))


def test_ohem_averages_the_hard_pixels_only():
    # 64 labelled pixels: 16 hard (p = 0.2), 48 easy (p = 0.9), 16 void; the minimum kept is 4.
    y = torch.zeros(1, 8, 10, dtype=torch.long)
    y[0, :, 8:] = VOID
    p = torch.full((1, 8, 10), 0.9)
    p[0, :2, :8] = 0.2
    loss = segmentation_loss(logits_with_true_probability(p, y), y, None, VOID, ohem=0.7)
    assert loss.item() == pytest.approx(-math.log(0.2), rel=1e-5)
    everything = F.cross_entropy(logits_with_true_probability(p, y), y, ignore_index=VOID)
    assert everything.item() < loss.item()  # the easy pixels would have pulled it down


def test_ohem_keeps_the_hardest_sixteenth_when_few_are_hard():
    # 256 labelled pixels, none below 0.7: the 256 / 16 = 16 hardest (p = 0.75) are kept, not the rest (0.95).
    y = torch.zeros(1, 16, 16, dtype=torch.long)
    p = torch.full((1, 16, 16), 0.95)
    p[0, 3, :] = 0.75
    loss = segmentation_loss(logits_with_true_probability(p, y), y, None, VOID, ohem=0.7)
    assert 256 // OHEM_MIN_KEPT == 16
    assert loss.item() == pytest.approx(-math.log(0.75), rel=1e-5)


def test_ohem_weights_the_kept_pixels_by_class():
    # hard pixels of class 0 (p = 0.5, weight 1) and class 1 (p = 0.1, weight 3): weighted mean of their losses.
    y = torch.zeros(1, 4, 4, dtype=torch.long)
    y[0, 2:] = 1
    p = torch.where(y == 0, torch.tensor(0.5), torch.tensor(0.1))
    w = torch.ones(11)
    w[1] = 3.0
    loss = segmentation_loss(logits_with_true_probability(p, y), y, w, VOID, ohem=0.7)
    expected = (8 * -math.log(0.5) + 3 * 8 * -math.log(0.1)) / (8 + 3 * 8)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_ohem_on_a_void_batch_is_zero_and_backpropagates():
    x = torch.randn(1, 11, 4, 4, requires_grad=True)
    loss = segmentation_loss(x, torch.full((1, 4, 4), VOID), None, VOID, ohem=0.7)
    loss.backward()
    assert loss.item() == 0 and torch.count_nonzero(x.grad) == 0


def test_ohem_threshold_must_be_a_probability():
    assert ohem_threshold("0.7") == 0.7
    for bad in ("0", "1.5", "-0.2"):
        with pytest.raises(argparse.ArgumentTypeError, match="a probability in"):
            ohem_threshold(bad)
