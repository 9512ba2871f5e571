"""Evaluate a model on a CamVid split: mIoU from the confusion matrix accumulated over the whole
split (void ignored), per-class IoU table, per-class bar chart.

Three back ends, imported lazily so this module also runs in the torch-free OpenVINO venv:
  --ckpt  train.py checkpoint (PyTorch)      --onnx  ONNX file (ONNX Runtime)
  --ir    OpenVINO IR or ONNX (OpenVINO, f32 inference precision requested)
"""
import argparse
import json
import os

import numpy as np

from . import data, metrics
from .constants import CLASS_NAMES, DATASETS, NUM_CLASSES


def torch_predictor(ckpt, device="cpu", threads=1):
    import torch
    from .export import load_checkpoint
    torch.set_num_threads(threads)
    model, ck = load_checkpoint(ckpt, device)
    model.to(device)

    def predict(x):
        with torch.no_grad():
            return model(torch.from_numpy(x).to(device)).argmax(1).cpu().numpy()
    return predict, {"model_name": ck.get("model_name"), "epoch": ck.get("epoch"), "backend": "pytorch"}


def onnx_predictor(path, threads=1):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

    def predict(x):
        return np.concatenate([sess.run(["logits"], {"image": x[i:i + 1]})[0].argmax(1) for i in range(len(x))])
    return predict, {"backend": "onnxruntime"}


def openvino_predictor(path, threads=1):
    import openvino as ov
    core = ov.Core()
    # This CPU would pick bf16 by default, which is slower here and not what fp32 promises.
    compiled = core.compile_model(core.read_model(path), "CPU", {
        "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads})

    def predict(x):
        return np.concatenate([compiled(x[i:i + 1])[0].argmax(1) for i in range(len(x))])
    return predict, {"backend": "openvino"}


def confusion_over(predict, images, labels, batch=4, num_classes=NUM_CLASSES):
    cm = np.zeros((num_classes, num_classes), np.int64)
    for i in range(0, len(images), batch):
        x = np.stack([data.normalize(im) for im in images[i:i + batch]])
        for p, g in zip(predict(x), labels[i:i + batch]):
            cm += metrics.confusion(p, g, num_classes)
    return cm


def summarize(cm, info, class_names=CLASS_NAMES):
    iou = metrics.iou_per_class(cm)
    return dict(info, miou=metrics.mean_iou(cm), pixel_accuracy=metrics.pixel_accuracy(cm),
                iou={n: float(v) for n, v in zip(class_names, iou)}, confusion=np.asarray(cm).tolist())


def table(res):
    """Markdown per-class IoU table."""
    lines = ["| class | IoU (%) |", "|---|---|"]
    lines += ["| %s | %.1f |" % (n, 100 * v) for n, v in res["iou"].items()]
    lines.append("| **mean (mIoU)** | **%.1f** |" % (100 * res["miou"]))
    return "\n".join(lines)


def bar_chart(res, path, title=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names, vals = list(res["iou"]), [100 * v for v in res["iou"].values()]
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    ax.bar(names, vals, color="tab:blue")
    ax.axhline(100 * res["miou"], color="tab:red", ls="--", label="mIoU %.1f%%" % (100 * res["miou"]))
    ax.set_ylim(0, 100)
    ax.set_ylabel("IoU (%)")
    ax.set_title(title or "per-class IoU")
    ax.legend(loc="upper right", fontsize=8)
    plt.setp(ax.get_xticklabels(), rotation=40, ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description="Evaluate EPRNet on CamVid or Cityscapes (mIoU, per-class IoU)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt")
    src.add_argument("--onnx")
    src.add_argument("--ir")
    p.add_argument("--split", default="val")
    p.add_argument("--dataset", default="camvid", choices=sorted(DATASETS))
    p.add_argument("--data", default=None, help="dataset root (default: the dataset's place beside the checkout)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--threads", type=int, default=1, help="1 suits the shared 2-core machine")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="write OUT.json, OUT.md and OUT.png")
    args = p.parse_args(argv)

    if args.ckpt:
        predict, info = torch_predictor(args.ckpt, args.device, args.threads)
    elif args.onnx:
        predict, info = onnx_predictor(args.onnx, args.threads)
    else:
        predict, info = openvino_predictor(args.ir, args.threads)
    info.update(model_file=args.ckpt or args.onnx or args.ir, split=args.split)
    ds = DATASETS[args.dataset]
    images, labels, _ = data.load_split(args.split, args.data or ds.root, args.limit, args.dataset)
    res = summarize(confusion_over(predict, images, labels, num_classes=ds.num_classes),
                    dict(info, frames=len(images), dataset=args.dataset), ds.class_names)
    print(table(res))
    print("%s %s: mIoU %.2f%%, pixel accuracy %.2f%% over %d frames" % (
        info["model_file"], info["backend"], 100 * res["miou"], 100 * res["pixel_accuracy"], len(images)))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out + ".json", "w") as f:
            json.dump(res, f, indent=1)
        with open(args.out + ".md", "w") as f:
            f.write(table(res) + "\n")
        try:
            bar_chart(res, args.out + ".png", "%s, %s %s (%s)" % (
                os.path.basename(info["model_file"]), ds.title, args.split, info["backend"]))
        except ImportError:
            print("matplotlib not available: no bar chart")


if __name__ == "__main__":
    main()
