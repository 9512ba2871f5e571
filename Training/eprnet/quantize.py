"""NNCF post-training int8 quantisation of the exported ONNX model to OpenVINO IR, and val mIoU
of fp32 vs int8 (both run with OpenVINO).

Runs in the torch-free venv (../.venv-ov): nncf 3.4 fails at import when Debian's torch 1.13 is
importable. Needs openvino, nncf, onnx, numpy, pillow.

The IR carries the same metadata as the ONNX file in its runtime info, under the "eprstream"
section: <rt_info><eprstream><mean value="..."/>...</eprstream></rt_info> at the end of the .xml.
"""
import argparse
import json
import os

import numpy as np
from PIL import Image

from . import data, evaluate
from .constants import DATASETS, metadata


def onnx_metadata(path):
    import onnx
    m = onnx.load(path, load_external_data=False)
    return {p.key: p.value for p in m.metadata_props}


def calibration_frames(n, root, seed=0, dataset="camvid"):
    """n training frames (evenly shuffled with a fixed seed) normalised at the dataset's default
    input size (CamVid's frames already are; Cityscapes' 1024x2048 are halved)."""
    size = DATASETS[dataset].input_size
    pairs = data.read_split("train", root, dataset)
    idx = np.random.default_rng(seed).permutation(len(pairs))[:n]
    frames = []
    for i in sorted(idx):
        img = np.asarray(Image.open(pairs[i][0]).convert("RGB"))
        if img.shape[:2] != size:
            img = np.asarray(Image.fromarray(img).resize(size[::-1], Image.BILINEAR))
        frames.append(data.normalize(img)[None])
    return frames


def quantize(onnx_path, xml_path, n_calib=300, root=None):
    import nncf
    import openvino as ov
    model = ov.Core().read_model(onnx_path)
    meta = onnx_metadata(onnx_path) or metadata(os.path.splitext(os.path.basename(xml_path))[0])
    labels = DATASETS[meta.get("dataset", "camvid")]
    calib = nncf.Dataset(calibration_frames(n_calib, root or labels.root, dataset=labels.name))
    q = nncf.quantize(model, calib, subset_size=n_calib)
    meta["model_name"] = meta.get("model_name", "eprnet") + "-int8"
    meta["precision"] = "int8"
    meta["calibration"] = "NNCF %s post-training, %d %s train frames at %dx%d" % (
        nncf.__version__, n_calib, labels.title, *labels.input_size)
    for k, v in meta.items():
        q.set_rt_info(str(v), ["eprstream", k])
    ov.save_model(q, xml_path, compress_to_fp16=False)
    return xml_path


def main(argv=None):
    p = argparse.ArgumentParser(description="int8 OpenVINO IR from the fp32 ONNX model, with val mIoU")
    p.add_argument("--onnx", default="../Models/eprnet-camvid.onnx")
    p.add_argument("--out", default="../Models/eprnet-camvid-int8.xml")
    p.add_argument("--calib", type=int, default=300)
    p.add_argument("--data", default=None, help="dataset root (default: the model's dataset's place beside the checkout)")
    p.add_argument("--report", default=None, help="write fp32/int8 val results to REPORT.json/.md")
    p.add_argument("--skip-eval", action="store_true")
    args = p.parse_args(argv)

    quantize(args.onnx, args.out, args.calib, args.data)
    print("wrote", args.out)
    if args.skip_eval:
        return
    ds = DATASETS[onnx_metadata(args.onnx).get("dataset", "camvid")]
    images, labels, _ = data.load_split("val", args.data or ds.root, dataset=ds.name)
    results = {}
    for tag, path in (("fp32", args.onnx), ("int8", args.out)):
        predict, info = evaluate.openvino_predictor(path)
        cm = evaluate.confusion_over(predict, images, labels, num_classes=ds.num_classes)
        results[tag] = evaluate.summarize(cm, dict(info, model_file=path, split="val", frames=len(images)),
                                          ds.class_names)
        print("%s (OpenVINO): val mIoU %.2f%%" % (tag, 100 * results[tag]["miou"]))
    if args.report:
        with open(args.report + ".json", "w") as f:
            json.dump(results, f, indent=1)
        with open(args.report + ".md", "w") as f:
            f.write("| class | fp32 IoU (%) | int8 IoU (%) |\n|---|---|---|\n")
            for n in results["fp32"]["iou"]:
                f.write("| %s | %.1f | %.1f |\n" % (n, 100 * results["fp32"]["iou"][n], 100 * results["int8"]["iou"][n]))
            f.write("| **mIoU** | **%.1f** | **%.1f** |\n" % (100 * results["fp32"]["miou"], 100 * results["int8"]["miou"]))


if __name__ == "__main__":
    main()
