"""data.augment's recipe for a whole batch at once on the GPU (gpu_train.py).

data.augment works one frame at a time with PIL on the CPU, which at GPU speed would be the
bottleneck. Here the split stays on the device as one uint8 tensor and each batch is cut from it
with one grid_sample (random scale, pad, crop and flip together), labels by nearest-neighbour
gather, then data.photometric's jitter: one colour matrix per frame from data.colour_matrix
itself, Gaussian noise and a per-frame Gaussian blur, with the same ranges and probabilities.
The random draws of a whole epoch are made up front with numpy (draw_epoch: one copy to the
device per epoch, no synchronisation per step), from a generator seeded by the epoch as in
train.py, so a resumed run draws them again.

Where it differs from data.augment, by construction: shrinking is plain bilinear sampling (PIL's
resize widens its filter when it shrinks), the blur is a true Gaussian (PIL approximates one
with box blurs), the contrast's grey is the whole frame's mean luma (data.augment takes the
crop's) and exact ties of the nearest-neighbour labels may go to the other neighbour.
"""
import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from . import data
from .constants import MEAN, STD, VOID_LABEL

BLUR_TAPS = int(math.ceil(3 * data.BLUR_RADIUS[1]))  # kernel half-width: 3 sigma of the widest blur


def frame_greys(images):
    """Mean luma of each uint8 HxWx3 frame: the grey that data.photometric's contrast blends to."""
    return [float((im.reshape(-1, 3).astype(np.float32) @ data.LUMA).mean()) for im in images]


def draw_epoch(rng, greys, batch, size, crop, colour=False, scale=(0.5, 2.0)):
    """The random choices of one epoch (frame order, then per frame what data.augment draws),
    as CPU tensors whose first two axes are (step, frame in the batch), plus a seed for the noise.
    The last partial batch is dropped (BN wants more than one frame), as in data.train_batches."""
    (h, w), (ch, cw) = size, crop
    steps = len(greys) // batch
    rows = []
    for j in rng.permutation(len(greys))[:steps * batch]:
        s = rng.uniform(*scale)
        nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
        y0, x0 = rng.integers(0, max(nh, ch) - ch + 1), rng.integers(0, max(nw, cw) - cw + 1)
        flip = rng.random() < 0.5
        m, c = np.eye(3, dtype=np.float32), np.zeros(3, np.float32)
        noise = sigma = 0.0
        if colour:
            m, c = data.colour_matrix(rng, grey=greys[j])
            if rng.random() < data.NOISE_P:
                noise = rng.uniform(*data.NOISE_STD)
            if rng.random() < data.BLUR_P:
                sigma = rng.uniform(*data.BLUR_RADIUS)
        rows.append((j, nh, nw, y0, x0, flip, np.concatenate([m, c[:, None]], 1), noise, sigma))

    def col(i, dtype):
        return torch.tensor(np.array([r[i] for r in rows]), dtype=dtype).reshape(steps, batch, *np.shape(rows[0][i]))
    return {"index": col(0, torch.long),
            "size": torch.stack([col(1, torch.long), col(2, torch.long)], -1),
            "offset": torch.stack([col(3, torch.long), col(4, torch.long)], -1),
            "flip": col(5, torch.bool),
            "colour": col(6, torch.float32),  # 3x4: [M | c], y = M x + c on RGB columns
            "noise": col(7, torch.float32),  # noise std on the 0-255 scale, 0 for none
            "blur": col(8, torch.float32)}, int(rng.integers(2**62))  # blur sigma in pixels, 0 for none


@functools.lru_cache(maxsize=None)
def normalisation(device):
    """MEAN and STD as (1, 3, 1, 1) tensors on `device`, made once: a copy from host memory in
    every step would make the host wait for the GPU every step."""
    return tuple(torch.tensor(v, device=device).view(1, 3, 1, 1) for v in (MEAN, STD))


def augment(images, labels, p, crop, colour=False, generator=None):
    """One batch. images: uint8 (N, 3, H, W) and labels: uint8 (N, H, W), the whole split on the
    device; p: one step of draw_epoch's parameters, on the same device. Returns the normalised
    float batch (B, 3, ch, cw) and int64 labels (B, ch, cw): each frame scaled to p["size"],
    cropped at p["offset"] from its top left corner (mean colour and void where the scaled frame
    does not reach), flipped where p["flip"]."""
    ch, cw = crop
    h, w = labels.shape[-2:]
    dev = images.device
    idx, nh, nw = p["index"], p["size"][:, 0:1], p["size"][:, 1:2]
    rows = p["offset"][:, 0:1] + torch.arange(ch, device=dev)  # (B, ch): rows of the scaled frame
    cols = p["offset"][:, 1:2] + torch.arange(cw, device=dev)
    # Pixel centres of the scaled frame, in grid_sample's [-1, 1] coordinates of the source frame.
    gy = 2 * (rows + 0.5) / nh - 1
    gx = 2 * (cols + 0.5) / nw - 1
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), -1)
    x = F.grid_sample(images[idx].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    # Labels: the source pixel whose centre is nearest, as PIL's NEAREST resize picks it.
    sy = ((rows + 0.5) * h / nh).long().clamp_(max=h - 1)
    sx = ((cols + 0.5) * w / nw).long().clamp_(max=w - 1)
    y = labels[idx[:, None, None], sy[:, :, None], sx[:, None, :]].long()
    inside = (rows < nh)[:, :, None] & (cols < nw)[:, None, :]
    if colour:
        x = photometric(x, p, generator)
    mean, std = normalisation(dev)
    x = ((x - mean) / std).masked_fill(~inside[:, None], 0.0)  # 0 = the mean colour
    y = y.masked_fill(~inside, VOID_LABEL)
    flip = p["flip"]
    return torch.where(flip[:, None, None, None], x.flip(-1), x), torch.where(flip[:, None, None], y.flip(-1), y)


def photometric(x, p, generator=None):
    """data.photometric on a float (B, 3, h, w) batch on the 0-255 scale: colour matrix, noise,
    clipping, then blur."""
    m = p["colour"]
    x = torch.einsum("bij,bjhw->bihw", m[..., :3], x) + m[..., 3, None, None]
    x = x + p["noise"][:, None, None, None] * torch.randn(x.shape, generator=generator, device=x.device)
    return blur(x.clamp(0, 255), p["blur"])


def blur(x, sigma):
    """Separable Gaussian blur with one sigma per frame (0: unchanged), edges replicated."""
    b, c, h, w = x.shape
    t = torch.arange(-BLUR_TAPS, BLUR_TAPS + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma.clamp_min(1e-6)[:, None]) ** 2)  # sigma 0: a unit impulse
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)
    y = F.pad(x.reshape(1, b * c, h, w), (BLUR_TAPS,) * 4, mode="replicate")
    y = F.conv2d(y, k[:, None, None, :], groups=b * c)
    y = F.conv2d(y, k[:, None, :, None], groups=b * c)
    return y.reshape(b, c, h, w)
