"""CamVid loading and augmentation (numpy + PIL; torch only at the batching edge)."""
import os

import numpy as np
from PIL import Image

from .constants import DATASET_ROOT, MEAN, STD, VOID_LABEL, NUM_CLASSES


def read_split(split, root=DATASET_ROOT):
    """[(image_path, label_path)] from train.txt / val.txt."""
    pairs = []
    with open(os.path.join(root, split + ".txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                pairs.append(tuple(os.path.join(root, p.lstrip("/")) for p in parts))
    return pairs


def frame_name(path):
    return os.path.splitext(os.path.basename(path))[0]


def load_pair(img_path, lbl_path):
    img = np.asarray(Image.open(img_path).convert("RGB"), dtype=np.uint8)
    lbl = np.asarray(Image.open(lbl_path), dtype=np.uint8)
    assert img.shape[:2] == lbl.shape, (img_path, img.shape, lbl.shape)
    return img, lbl


def load_split(split, root=DATASET_ROOT, limit=None):
    """Whole split in memory as lists of uint8 arrays (CamVid is small: 367 + 101 frames)."""
    pairs = read_split(split, root)[:limit]
    images, labels = [], []
    for ip, lp in pairs:
        img, lbl = load_pair(ip, lp)
        images.append(img)
        labels.append(lbl)
    return images, labels, [frame_name(p[0]) for p in pairs]


def normalize(img):
    """uint8 HxWx3 RGB -> float32 3xHxW, (x - MEAN) / STD. The Swift runner must match this."""
    x = (img.astype(np.float32) - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def class_weights(labels, num_classes=NUM_CLASSES, c=1.02):
    """ENet weighting 1 / ln(c + p_class), p over non-void pixels, so rare classes count more."""
    counts = np.zeros(num_classes, np.int64)
    for lbl in labels:
        counts += np.bincount(lbl.ravel(), minlength=256)[:num_classes]
    p = counts / counts.sum()
    return (1.0 / np.log(c + p)).astype(np.float32)


def augment(img, lbl, crop, rng, scale=(0.5, 2.0)):
    """Random scale, pad (image with the mean colour = 0 after normalising, label with void),
    random crop to crop=(h, w), random horizontal flip."""
    ch, cw = crop
    s = rng.uniform(*scale)
    h, w = lbl.shape
    nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
    img = np.asarray(Image.fromarray(img).resize((nw, nh), Image.BILINEAR))
    lbl = np.asarray(Image.fromarray(lbl).resize((nw, nh), Image.NEAREST))
    ph, pw = max(ch - nh, 0), max(cw - nw, 0)
    if ph or pw:
        mean_rgb = np.array([round(m) for m in MEAN], np.uint8)
        big = np.empty((nh + ph, nw + pw, 3), np.uint8)
        big[:] = mean_rgb
        big[:nh, :nw] = img
        bl = np.full((nh + ph, nw + pw), VOID_LABEL, np.uint8)
        bl[:nh, :nw] = lbl
        img, lbl = big, bl
    y = rng.integers(0, img.shape[0] - ch + 1)
    x = rng.integers(0, img.shape[1] - cw + 1)
    img, lbl = img[y:y + ch, x:x + cw], lbl[y:y + ch, x:x + cw]
    if rng.random() < 0.5:
        img, lbl = img[:, ::-1], lbl[:, ::-1]
    return img, lbl


def train_batches(images, labels, batch, crop, rng):
    """One epoch of augmented (x, y) numpy batches; drops the last partial batch (BN wants >1)."""
    order = rng.permutation(len(images))
    for i in range(0, len(order) - batch + 1, batch):
        xs, ys = [], []
        for j in order[i:i + batch]:
            im, lb = augment(images[j], labels[j], crop, rng)
            xs.append(normalize(im))
            ys.append(lb.astype(np.int64))
        yield np.stack(xs), np.stack(ys)
