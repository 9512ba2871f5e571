"""Write Models/README.md (the model card) from the project's own eval outputs, so every figure in
it comes from evaluate.py / quantize.py / the training log and not from hand-typing."""
import argparse
import csv
import json
import os

from .constants import CLASS_NAMES, MEAN, STD


def load_json(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return None


def hours(s):
    return "%.1f h" % (float(s) / 3600)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="../Models")
    p.add_argument("--run", default="runs/eprnet-camvid")
    p.add_argument("--name", default="eprnet-camvid")
    args = p.parse_args(argv)
    M = args.models
    with open(os.path.join(args.run, "args.json")) as f:
        recipe = json.load(f)
    with open(os.path.join(args.run, "log.csv")) as f:
        log = list(csv.DictReader(f))
    fp32 = load_json(os.path.join(M, args.name + "-val.json"))
    q = load_json(os.path.join(M, args.name + "-int8-val.json"))
    meta = {}
    try:
        import onnx
        meta = {x.key: x.value for x in onnx.load(os.path.join(M, args.name + ".onnx")).metadata_props}
    except Exception:
        pass
    done, total = len(log), recipe["epochs"]
    best = max(log, key=lambda r: float(r["val_miou"]))
    shipped_epoch = meta.get("epoch", best["epoch"])
    status = ("**Training is still in progress**: %d of %d epochs done so far; the shipped weights are "
              "the best checkpoint so far (epoch %s). The numbers below will change when the run "
              "finishes." % (done, total, shipped_epoch)) if done < total else (
              "Training finished: %d epochs; shipped weights from epoch %s (best val mIoU)." % (done, shipped_epoch))

    def pct(x):
        return "%.1f" % (100 * x)

    rows = []
    for n in CLASS_NAMES:
        a = pct(fp32["iou"][n]) if fp32 else "-"
        b = pct(q["fp32"]["iou"][n]) if q else "-"
        c = pct(q["int8"]["iou"][n]) if q else "-"
        rows.append("| %s | %s | %s | %s |" % (n, a, b, c))
    rows.append("| **mIoU** | **%s** | **%s** | **%s** |" % (
        pct(fp32["miou"]) if fp32 else "-", pct(q["fp32"]["miou"]) if q else "-", pct(q["int8"]["miou"]) if q else "-"))

    text = """# EPRNet CamVid models

%(status)s

| file | what |
|---|---|
| `%(n)s.onnx` | EPRNet fp32, ONNX opset 17, BN folded, LeakyRelu + channel-repeat rewrites, input `image` 1x3xHxW (H, W dynamic, default 360x480), output `logits` 1x11xHxW |
| `%(n)s-int8.xml` / `.bin` | the same network quantised to int8 by NNCF (OpenVINO IR) |
| `%(n)s-val.{json,md,png}` | val evaluation of the ONNX file with ONNX Runtime (per-class IoU, confusion matrix, bar chart) |
| `%(n)s-int8-val.{json,md}` | fp32 vs int8, both run with OpenVINO on val |
| `%(n)s-curves.png`, `%(n)s-log.csv` | training loss and val mIoU per epoch |

Both model files carry their preprocessing and labels as metadata (ONNX `metadata_props`, IR
runtime info section `eprstream`): keys `model_name mean std class_names palette input_size
void_label num_classes` (format in `Training/README.md`).

## Architecture
EPRNet (Tang et al., IEEE T-ITS 2022), implemented from the paper's layer table
(`Training/eprnet/model.py`): stem + 8 PRM blocks (MPU: three depthwise dilated branches + a
1x1 branch, concatenated and fused) + 3x3 head + 1x1 classifier, output stride 8, bilinear
upsampling x8. 894,669 learnable parameters for 11 classes (checked by the tests); 4.97 GMAC
at 360x480 (from ../../shared/docs/eprnet.md).

## Data and licence
CamVid (Brostow et al. 2008), SegNet layout, 480x360, 11 classes + void (ignored). Trained on the
367 **train** frames only; checkpoint chosen on the 101 **val** frames (sequence 0016E5), which is
also where the numbers below come from (so they are slightly optimistic for unseen data; the
test split is measured outside the project). CamVid is distributed for personal and research use
under **CC BY-NC 4.0**; these weights are derived from it and inherit that licence:
**non-commercial use only**.

## Preprocessing
RGB, 360x480 (HxW) by default, `x = (pixel - mean) / std` on the 0-255 scale, mean
%(mean)s, std %(std)s (ImageNet); label = argmax of `logits` over the 11 classes.

## Training recipe
SGD momentum %(momentum)s, base lr %(lr)s with poly decay (power %(poly)s) over %(total)d epochs,
weight decay %(wd)s, batch %(batch)d, random scale 0.5-2.0, pad with void, random crop
%(crop)s, horizontal flip, cross-entropy ignoring void with ENet class weights
(1/ln(1.02 + p)). PyTorch 1.13, device %(device)s (here: 2 CPU cores shared with Swift builds, nice 10, 1 thread).
Epochs done: %(done)d of %(total)d; training time so far %(time)s (validation included).
Best val mIoU during training (PyTorch, unfolded model): %(best)s%% at epoch %(best_ep)s.

## Results on CamVid val (101 frames, 360x480, confusion matrix over the whole split)

| class | fp32 ONNX Runtime IoU (%%) | fp32 OpenVINO IoU (%%) | int8 OpenVINO IoU (%%) |
|---|---|---|---|
%(rows)s

![training curves](%(n)s-curves.png)
![per-class IoU](%(n)s-val.png)

## EPRNet-Light
Not trained yet: it starts only once the full model's run has finished (`make train
MODEL=eprnet-light`). Its files will be `eprnet-light-camvid*`.

## Reaching the goal (68%% val mIoU)
Finishing the scheduled epochs is the first step (poly decay gives most of its gain in the
last third). Beyond that: a longer schedule (the authors use about 240 epochs), full-frame
crops (360x480, so the dilation-37 branch sees what it sees at inference), OHEM instead of
class weights, and ImageNet or Cityscapes pre-training of the backbone, which the paper's
CamVid numbers rely on. A GPU (`--device cuda`) makes all of these an afternoon's work.

## Reproduce
`make train` (or `make train-resume`), then `make export eval-model quantize fixtures`, then
`cd Training && /usr/bin/python3 -m eprnet.card` rewrites this file.
""" % dict(status=status, n=args.name, mean=",".join(map(str, MEAN)), std=",".join(map(str, STD)),
           momentum=recipe["momentum"], lr=recipe["lr"], poly=recipe["poly"], total=total, wd=recipe["wd"],
           batch=recipe["batch"], crop="x".join(map(str, recipe["crop"])), device=recipe.get("device", "cpu"),
           done=done, time=hours(log[-1]["elapsed_s"]), best=pct(float(best["val_miou"])), best_ep=best["epoch"],
           rows="\n".join(rows))
    with open(os.path.join(M, "README.md"), "w") as f:
        f.write(text)
    print("wrote", os.path.join(M, "README.md"))


if __name__ == "__main__":
    main()
