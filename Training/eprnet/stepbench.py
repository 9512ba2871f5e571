"""Where a CPU training step goes: augmentation (with and without the photometric step),
forward + backward + SGD, and the images/s of the whole training loop.

    python -m eprnet.stepbench --model eprnet --threads 2 --steps 6

Medians over --steps batches of the recipe's crops; the machine (CPU model, cores) is printed
with the figures, since hosts of one kind differ.
"""
import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import data
from .constants import NUM_CLASSES, VOID_LABEL
from .model import build
from .train import machine


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="eprnet", choices=["eprnet", "eprnet-light"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, nargs=2, default=[256, 256])
    p.add_argument("--data", default=data.DATASET_ROOT)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    images, labels, _ = data.load_split("train", args.data, args.batch * (args.steps + 1))
    model = build(args.model, NUM_CLASSES).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=2e-4)
    crop = tuple(args.crop)

    def batches(colour):
        return data.train_batches(images, labels, args.batch, crop, np.random.default_rng(0), colour=colour)

    def step(x, y):
        loss = F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y), ignore_index=VOID_LABEL)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def timed(it):
        out, t = [], time.perf_counter()
        for item in it:
            now = time.perf_counter()
            out.append((now - t, item))
            t = now
        return out

    augment_plain = [s for s, _ in timed(batches(False))]
    augment_colour = [s for s, _ in timed(batches(True))]
    fixed = next(iter(batches(True)))
    step(*fixed)  # warm-up: first-call allocations
    compute = []
    for _ in range(args.steps):
        t = time.perf_counter()
        step(*fixed)
        compute.append(time.perf_counter() - t)

    def loop():
        t = time.perf_counter()
        n = 0
        for x, y in batches(True):
            step(x, y)
            n += len(x)
        return n / (time.perf_counter() - t)

    images_per_s = loop()
    med = statistics.median
    print("machine: %s; torch %s; %s, batch %d, crop %dx%d" % (
        machine("cpu", args.threads), torch.__version__, args.model, args.batch, *crop))
    print("augment a batch: %.3f s (scale/crop/flip), %.3f s (+ photometric)" % (med(augment_plain), med(augment_colour)))
    print("forward + backward + SGD: %.3f s" % med(compute))
    print("training loop: %.2f images/s (augmentation is %.1f%% of a step)" % (
        images_per_s, 100 * med(augment_colour) / (med(augment_colour) + med(compute))))


if __name__ == "__main__":
    main()
