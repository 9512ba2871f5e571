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


def test_statistics_are_over_every_pixel_whatever_the_batches():
    torch.manual_seed(0)
    model = build("eprnet-light")
    # Two batches of very different frames (dark, bright) and one frame of another size: the
    # variance must include how far apart the batches are, not just the spread inside each.
    images = [im // 4 for im in frames(2, 64, 64, 2)] + [im // 4 + 190 for im in frames(2, 64, 64, 4)] \
        + frames(1, 32, 48, 3)
    recalibrate(model, images, batch=2)
    conv, bn = model.stem[0], model.stem[1]
    with torch.no_grad():
        ys = [conv(torch.from_numpy(data.normalize(im))[None]) for im in images]
    pixels = torch.cat([y.permute(1, 0, 2, 3).reshape(y.shape[1], -1) for y in ys], 1).double()
    assert torch.allclose(bn.running_mean.double(), pixels.mean(1), atol=1e-4)
    assert torch.allclose(bn.running_var.double(), pixels.var(1, unbiased=True), rtol=1e-4)
    # Averaging per-batch variances would be well below the population variance here.
    per_batch = torch.stack([torch.cat([y.permute(1, 0, 2, 3).reshape(y.shape[1], -1) for y in ys[k:k + 2]], 1).var(1)
                             for k in (0, 2)]).mean(0)
    assert (per_batch < 0.8 * pixels.var(1).float()).sum() > 0
    # Deterministic: the same frames give the same statistics.
    before = bn.running_var.clone()
    recalibrate(model, images, batch=2)
    assert torch.allclose(bn.running_var, before)
