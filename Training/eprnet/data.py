"""CamVid and Cityscapes loading and augmentation (numpy + PIL; torch only at the batching edge)."""
import glob
import os

import numpy as np
from PIL import Image, ImageFilter

from .constants import CITYSCAPES_IGNORE, CITYSCAPES_TRAIN_IDS, DATASET_ROOT, MEAN, STD, VOID_LABEL, NUM_CLASSES


def read_split(split, root=DATASET_ROOT, dataset="camvid"):
    """[(image_path, label_path)]: CamVid's train.txt / val.txt, or Cityscapes' standard layout."""
    if dataset == "cityscapes":
        return read_cityscapes(split, root)
    pairs = []
    with open(os.path.join(root, split + ".txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                pairs.append(tuple(os.path.join(root, p.lstrip("/")) for p in parts))
    return pairs


def read_cityscapes(split, root):
    """leftImg8bit/SPLIT/CITY/X_leftImg8bit.png with gtFine/SPLIT/CITY/X_gtFine_labelIds.png, sorted."""
    pairs = []
    for img in sorted(glob.glob(os.path.join(root, "leftImg8bit", split, "*", "*_leftImg8bit.png"))):
        city = os.path.basename(os.path.dirname(img))
        stem = os.path.basename(img)[:-len("_leftImg8bit.png")]
        lbl = os.path.join(root, "gtFine", split, city, stem + "_gtFine_labelIds.png")
        if not os.path.exists(lbl):
            raise FileNotFoundError("%s has no label file %s" % (img, lbl))
        pairs.append((img, lbl))
    if not pairs:
        raise FileNotFoundError("no Cityscapes %s images under %s/leftImg8bit/%s/CITY/" % (split, root, split))
    return pairs


# label id -> train id for every 8-bit value (unlisted ids are ignored).
CITYSCAPES_LUT = np.full(256, CITYSCAPES_IGNORE, np.uint8)
for _id, _train in CITYSCAPES_TRAIN_IDS.items():
    CITYSCAPES_LUT[_id] = _train


def frame_name(path):
    return os.path.splitext(os.path.basename(path))[0]


def load_pair(img_path, lbl_path, dataset="camvid"):
    img = np.asarray(Image.open(img_path).convert("RGB"), dtype=np.uint8)
    lbl = np.asarray(Image.open(lbl_path), dtype=np.uint8)
    assert img.shape[:2] == lbl.shape, (img_path, img.shape, lbl.shape)
    if dataset == "cityscapes":
        lbl = CITYSCAPES_LUT[lbl]
    return img, lbl


def load_split(split, root=DATASET_ROOT, limit=None, dataset="camvid"):
    """Whole split in memory as lists of uint8 arrays (CamVid is small: 367 + 101 frames);
    labels are train ids (Cityscapes' label ids mapped, ignored pixels 255)."""
    pairs = read_split(split, root, dataset)[:limit]
    images, labels = [], []
    for ip, lp in pairs:
        img, lbl = load_pair(ip, lp, dataset)
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


# Photometric jitter (torchvision ColorJitter's ranges, as in BiSeNet/STDC-style recipes):
# brightness, contrast and saturation factors in [1 - x, 1 + x], hue rotated by up to HUE of a
# turn, and a white balance (red and blue gains in [1/(1+WB), 1+WB]): robustness.py measured the
# shipped model losing 25-30 points of val mIoU under a warm or cool white balance.
BRIGHTNESS, CONTRAST, SATURATION, HUE, WHITE_BALANCE = 0.4, 0.4, 0.4, 0.05, 0.25
BLUR_P, BLUR_RADIUS = 0.2, (0.3, 1.2)   # mild Gaussian blur, radius in pixels
NOISE_P, NOISE_STD = 0.2, (2.0, 8.0)   # mild Gaussian noise, 0-255 scale
# RGB -> luma weights (ITU-R BT.601), the grey that contrast and saturation blend towards.
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


# Each colour change is a linear map on RGB columns, y = M x + c, returned as (M, c).
def brightness(f):
    return np.eye(3, dtype=np.float32) * f, np.zeros(3, np.float32)


def contrast(f, grey):
    """Towards the image's mean grey, as torchvision does."""
    return np.eye(3, dtype=np.float32) * f, np.full(3, (1 - f) * grey, np.float32)


def saturation(f):
    """Blend with the pixel's own luma."""
    return (f * np.eye(3) + (1 - f) * np.outer(np.ones(3), LUMA)).astype(np.float32), np.zeros(3, np.float32)


def hue(turns):
    """Rotation about the grey axis (1, 1, 1)."""
    a = 2 * np.pi * turns
    k = np.ones((3, 3)) / 3
    skew = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]]) / np.sqrt(3)
    return (np.cos(a) * np.eye(3) + (1 - np.cos(a)) * k + np.sin(a) * skew).astype(np.float32), np.zeros(3, np.float32)


def white_balance(red, blue):
    return np.diag([red, 1.0, blue]).astype(np.float32), np.zeros(3, np.float32)


def colour_matrix(rng, grey=127.5):
    """One random photometric change as (M, c): brightness, contrast, saturation, hue and white
    balance composed in a random order. One matmul per image, whatever the number of effects."""
    wb = np.log1p(WHITE_BALANCE)
    steps = [lambda: brightness(rng.uniform(1 - BRIGHTNESS, 1 + BRIGHTNESS)),
             lambda: contrast(rng.uniform(1 - CONTRAST, 1 + CONTRAST), grey),
             lambda: saturation(rng.uniform(1 - SATURATION, 1 + SATURATION)),
             lambda: hue(rng.uniform(-HUE, HUE)),
             lambda: white_balance(np.exp(rng.uniform(-wb, wb)), np.exp(rng.uniform(-wb, wb)))]
    m, c = np.eye(3, dtype=np.float32), np.zeros(3, np.float32)
    for i in rng.permutation(len(steps)):
        mi, ci = steps[i]()
        m, c = mi @ m, mi @ c + ci
    return m, c


def photometric(img, rng):
    """uint8 HxWx3 RGB -> the same scene under another camera's exposure, colour, focus and noise."""
    x = img.reshape(-1, 3).astype(np.float32)
    m, c = colour_matrix(rng, grey=float((x @ LUMA).mean()))
    x = x @ m.T + c
    x = x.reshape(img.shape)
    if rng.random() < NOISE_P:
        x += rng.normal(0.0, rng.uniform(*NOISE_STD), x.shape).astype(np.float32)
    out = np.clip(x + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < BLUR_P:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(rng.uniform(*BLUR_RADIUS))))
    return out


def augment(img, lbl, crop, rng, scale=(0.5, 2.0), colour=False, void=VOID_LABEL):
    """Random scale, pad (image with the mean colour = 0 after normalising, label with void),
    random crop to crop=(h, w), (with colour=True) photometric jitter of the crop's picture
    (not its padding, which stays the mean colour), random horizontal flip. The colour step
    works on the crop, not the scaled frame (up to 4x the pixels), and its random draws are only
    made when it is on, so a recipe without it sees the same crops as before it existed."""
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
        bl = np.full((nh + ph, nw + pw), void, np.uint8)
        bl[:nh, :nw] = lbl
        img, lbl = big, bl
    y = rng.integers(0, img.shape[0] - ch + 1)
    x = rng.integers(0, img.shape[1] - cw + 1)
    img, lbl = img[y:y + ch, x:x + cw], lbl[y:y + ch, x:x + cw]
    if colour:
        img = img.copy()
        vh, vw = min(ch, nh - y), min(cw, nw - x)  # padding is only ever below and right of the picture
        img[:vh, :vw] = photometric(np.ascontiguousarray(img[:vh, :vw]), rng)
    if rng.random() < 0.5:
        img, lbl = img[:, ::-1], lbl[:, ::-1]
    return img, lbl


def train_batches(images, labels, batch, crop, rng, colour=False, void=VOID_LABEL):
    """One epoch of augmented (x, y) numpy batches; drops the last partial batch (BN wants >1)."""
    order = rng.permutation(len(images))
    for i in range(0, len(order) - batch + 1, batch):
        xs, ys = [], []
        for j in order[i:i + batch]:
            im, lb = augment(images[j], labels[j], crop, rng, colour=colour, void=void)
            xs.append(normalize(im))
            ys.append(lb.astype(np.int64))
        yield np.stack(xs), np.stack(ys)

