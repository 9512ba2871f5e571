"""Reference confusion matrix for the Swift `eprstream eval` test: the shipped fp32 ONNX model run
with ONNX Runtime on a few val frames, accumulated exactly as `evaluate` does.

Regenerate whenever the shipped model changes (make eval-reference).
"""
import argparse
import json
import os

from . import data, evaluate
from .constants import DATASET_ROOT
from .fixtures import sha256

FRAMES = ("0016E5_07959", "0016E5_07989", "0016E5_08019", "0016E5_08079", "0016E5_08159")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--onnx", default="../Models/eprnet-camvid.onnx")
    p.add_argument("--out", default="../Tests/EPRStreamTests/Fixtures/eval/reference-confusion.json")
    p.add_argument("--data", default=DATASET_ROOT)
    args = p.parse_args(argv)

    images, labels = zip(*(data.load_pair(os.path.join(args.data, "val", n + ".png"),
                                          os.path.join(args.data, "valannot", n + ".png")) for n in FRAMES))
    predict, _ = evaluate.onnx_predictor(args.onnx)
    cm = evaluate.confusion_over(predict, list(images), list(labels))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"model": os.path.basename(args.onnx), "sha256": sha256(args.onnx), "backend": "onnxruntime",
                   "frames": list(FRAMES), "confusion": cm.tolist()}, f, indent=1)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
