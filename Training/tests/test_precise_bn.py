import numpy as np
import torch

from eprnet import data
from eprnet.model import build
from eprnet.precise_bn import recalibrate


def frames(n, h, w, seed):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_running_stats_become_the_average_over_the_given_frames():
    torch.manual_seed(0)
    model = build("eprnet")
    images = frames(3, 64, 96, 1)
    stem_conv, stem_bn = model.stem[0], model.stem[1]
    with torch.no_grad():
        y = stem_conv(torch.from_numpy(np.stack([data.normalize(im) for im in images])))
    weights_before = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}

    recalibrate(model, images, batch=4)  # one batch: the statistics are exactly that batch's

    assert torch.allclose(stem_bn.running_mean, y.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(stem_bn.running_var, y.var((0, 2, 3), unbiased=True), rtol=1e-4)
    assert not model.training and stem_bn.momentum == 0.1
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in weights_before.items())  # weights untouched


def test_batches_are_averaged_and_mixed_sizes_are_accepted():
    torch.manual_seed(0)
    model = build("eprnet-light")
    images = frames(2, 64, 64, 2) + frames(1, 32, 48, 3)
    recalibrate(model, images, batch=2)
    conv, bn = model.stem[0], model.stem[1]
    with torch.no_grad():
        m1 = conv(torch.from_numpy(np.stack([data.normalize(im) for im in images[:2]]))).mean((0, 2, 3))
        m2 = conv(torch.from_numpy(data.normalize(images[2]))[None]).mean((0, 2, 3))
    assert torch.allclose(bn.running_mean, (m1 + m2) / 2, atol=1e-5)
    # Deterministic: the same frames give the same statistics.
    before = bn.running_var.clone()
    recalibrate(model, images, batch=2)
    assert torch.allclose(bn.running_var, before)
