"""Label-map fixtures for the Swift runner's tests: the exported fp32 ONNX model's argmax on a few
val frames at the default input size, as 8-bit PNGs (pixel = class id), run with ONNX Runtime.

Regenerate whenever the shipped model changes (make -f Training/train.mk fixtures).
"""
import argparse
import hashlib
import os

import numpy as np
from PIL import Image

from . import data
from .constants import DATASET_ROOT, INPUT_SIZE, MEAN, STD

FRAMES = ("0016E5_07959", "0016E5_08019", "0016E5_08159")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main(argv=None):
    import onnxruntime as ort
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--onnx", default="../Models/eprnet-camvid.onnx")
    p.add_argument("--out", default="../Tests/EPRStreamTests/Fixtures/labels")
    p.add_argument("--data", default=DATASET_ROOT)
    args = p.parse_args(argv)

    sess = ort.InferenceSession(args.onnx, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    os.makedirs(args.out, exist_ok=True)
    lines = []
    for name in FRAMES:
        img = np.asarray(Image.open(os.path.join(args.data, "val", name + ".png")).convert("RGB"))
        assert img.shape[:2] == INPUT_SIZE
        logits = sess.run(["logits"], {"image": data.normalize(img)[None]})[0][0]
        labels = logits.argmax(0).astype(np.uint8)
        top2 = np.sort(logits, 0)[-2:]
        close = float(np.mean(top2[1] - top2[0] < 1e-3))
        Image.fromarray(labels, mode="L").save(os.path.join(args.out, name + ".png"))
        lines.append("| %s.png | val/%s.png | %.4f%% |" % (name, name, 100 * close))
        print("wrote", os.path.join(args.out, name + ".png"))

    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write("""# EPRNet label-map fixtures

Made by `Training/eprnet/fixtures.py` (regenerate with `make fixtures` whenever the shipped
model changes). Each PNG is 8-bit greyscale, 480x360, pixel value = class id 0..10 (argmax of
`logits`), for the CamVid val frame of the same name (`/work/shared/datasets/camvid/val/`, i.e.
`../shared/datasets/camvid/val/` from the repo root).

- model: `Models/%s` (model_name `%s`, checkpoint epoch %s, sha256 `%s`)
- run with: ONNX Runtime %s, CPU, fp32
- preprocessing: the RGB frame as it is (already 480x360, no resize), x = (pixel - mean) / std per
  channel on the 0-255 scale, RGB order, NCHW float32; mean = %s, std = %s.

Pixels whose top-two logits are within 1e-3 of each other may legitimately flip between runtimes;
their share per frame:

| fixture | input frame | top-2 gap < 1e-3 |
|---|---|---|
%s
""" % (os.path.basename(args.onnx), meta.get("model_name", "?"), meta.get("epoch", "?"), sha256(args.onnx),
            ort.__version__, ",".join(map(str, MEAN)), ",".join(map(str, STD)), "\n".join(lines)))


if __name__ == "__main__":
    main()
