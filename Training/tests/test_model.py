import pytest
import torch

from eprnet.model import build, count_params

# Exact learnable-parameter counts from ../shared/docs/eprnet.md (PReLU slopes included).
COUNTS = {("eprnet", 11): 894669, ("eprnet-light", 11): 647101,
          ("eprnet", 19): 895701, ("eprnet-light", 19): 648133}
BN_STATS = {"eprnet": 7840, "eprnet-light": 5536}


@pytest.mark.parametrize("name,k", sorted(COUNTS))
def test_parameter_count(name, k):
    assert count_params(build(name, k)) == COUNTS[(name, k)]


@pytest.mark.parametrize("name", sorted(BN_STATS))
def test_bn_running_statistics(name):
    m = build(name)
    n = sum(b.numel() for key, b in m.named_buffers() if key.endswith(("running_mean", "running_var")))
    assert n == BN_STATS[name]


@pytest.mark.parametrize("name", ["eprnet", "eprnet-light"])
@pytest.mark.parametrize("k,h,w", [(11, 64, 96), (19, 40, 56), (11, 24, 8)])
def test_output_shape(name, k, h, w):
    m = build(name, k).eval()
    with torch.no_grad():
        y = m(torch.randn(2, 3, h, w))
    assert y.shape == (2, k, h, w)


def test_output_stride_8():
    # The classifier runs at H/8 x W/8: logits are a bilinear upsampling of a 1/8 grid.
    m = build("eprnet").eval()
    seen = {}
    m.classifier.register_forward_hook(lambda mod, i, o: seen.update(shape=o.shape))
    with torch.no_grad():
        m(torch.randn(1, 3, 64, 96))
    assert tuple(seen["shape"][-2:]) == (8, 12)


def test_unknown_model_name():
    with pytest.raises(ValueError):
        build("eprnet-heavy")
