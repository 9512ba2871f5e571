"""Val mIoU of a model when the camera changes: exposure, contrast, colour, focus, noise.

CamVid's val frames come from one camera on one afternoon, and from a sequence that train also
holds, so val mIoU says little about another camera's picture (the dashcam clip, users' streets).
This re-scores val under fixed, deterministic changes of the kind another camera makes. It is
a check on one axis of generalisation (the photometric one), not a measure of accuracy on unseen
streets; a model trained with photometric augmentation is expected to do better here by
construction, so read the clean column beside it.
"""
import argparse
import json

import numpy as np
from PIL import Image, ImageFilter

from . import data, metrics
from .evaluate import confusion_over, onnx_predictor


def _affine(img, map_):
    m, c = map_
    x = img.reshape(-1, 3).astype(np.float32) @ m.T + c
    return np.clip(x + 0.5, 0, 255).astype(np.uint8).reshape(img.shape)


def _grey(img):
    return float((img.reshape(-1, 3).astype(np.float32) @ data.LUMA).mean())


def brightness(f):
    return lambda img, rng: _affine(img, data.brightness(f))


def contrast(f):
    return lambda img, rng: _affine(img, data.contrast(f, _grey(img)))


def saturation(f):
    return lambda img, rng: _affine(img, data.saturation(f))


def white_balance(red, blue):
    return lambda img, rng: _affine(img, data.white_balance(red, blue))


def blur(radius):
    return lambda img, rng: np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(radius)))


def noise(std):
    return lambda img, rng: np.clip(img + rng.normal(0, std, img.shape) + 0.5, 0, 255).astype(np.uint8)


def jpeg(quality):
    def f(img, rng):
        import io
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=quality)
        return np.asarray(Image.open(buf).convert("RGB"))
    return f


# Each change on its own, at a strength a real camera or day shows.
CONDITIONS = {
    "clean": lambda img, rng: img,
    "darker x0.6": brightness(0.6),
    "brighter x1.4": brightness(1.4),
    "low contrast x0.6": contrast(0.6),
    "high contrast x1.5": contrast(1.5),
    "vivid colour x1.6": saturation(1.6),
    "washed out x0.4": saturation(0.4),
    "warm white balance": white_balance(1.2, 0.8),
    "cool white balance": white_balance(0.85, 1.2),
    "soft focus r1.5": blur(1.5),
    "sensor noise s10": noise(10.0),
    "JPEG q20": jpeg(20),
}


def evaluate(predict, images, labels, conditions=CONDITIONS, seed=0):
    """{condition: val mIoU}; each condition's random parts (noise) are seeded the same way."""
    out = {}
    for name, change in conditions.items():
        rng = np.random.default_rng(seed)
        changed = [change(im, rng) for im in images]
        out[name] = metrics.mean_iou(confusion_over(predict, changed, labels))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--onnx", nargs="+", required=True, help="models to compare, each run with ONNX Runtime")
    p.add_argument("--data", default=data.DATASET_ROOT)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the table as JSON here")
    args = p.parse_args(argv)
    images, labels, _ = data.load_split("val", args.data)
    results = {path: evaluate(onnx_predictor(path, args.threads)[0], images, labels) for path in args.onnx}
    print("| condition | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for c in CONDITIONS:
        print("| %s | %s |" % (c, " | ".join("%.1f" % (100 * r[c]) for r in results.values())))
    means = [np.mean([v for k, v in r.items() if k != "clean"]) for r in results.values()]
    print("| **mean of the changed** | %s |" % " | ".join("**%.1f**" % (100 * m) for m in means))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
