"""Write Models/README.md (the model card) from the project's own eval outputs, so every figure in
it comes from evaluate.py / quantize.py / the training log and not from hand-typing.

It reads only files under Models/ (`make eval-model` copies each run's log and recipe there), so a
fresh clone can rewrite the card without the training run directories.
"""
import argparse
import csv
import json
import os
import shutil

from .constants import CLASS_NAMES, MEAN, NUM_CLASSES, STD

# (heading, file prefix, model name for build(), what sets it apart)
MODELS = (
    ("EPRNet", "eprnet-camvid", "eprnet",
     "stem + 8 PRM blocks (MPU: three depthwise dilated branches + a 1x1 branch, concatenated and "
     "fused by a 1x1 conv) + 3x3 head + 1x1 classifier, output stride 8, bilinear upsampling x8"),
    ("EPRNet-Light", "eprnet-light-camvid", "eprnet-light",
     "the same layout with MPUs that only sum their three depthwise dilated branches (no 1x1 "
     "branch, no fusion conv): about 1.5x faster for a little accuracy"),
)


def load_json(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return None


def load_log(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return list(csv.DictReader(f))


def onnx_metadata(path):
    try:
        import onnx
        return {x.key: x.value for x in onnx.load(path).metadata_props}
    except Exception:  # no onnx module or no file: the card says what it can
        return {}


def param_count(model_name):
    try:
        from .model import build, count_params
        return count_params(build(model_name, NUM_CLASSES))
    except ImportError:  # torch missing
        return None


def pct(x):
    return "%.1f" % (100 * x)


def run_finished(models_dir, name):
    """Whether the shipped model's run has done all its scheduled epochs (False when not shipped)."""
    log = load_log(os.path.join(models_dir, name + "-log.csv"))
    recipe = load_json(os.path.join(models_dir, name + "-recipe.json"))
    return bool(log and recipe) and int(log[-1]["epoch"]) >= int(recipe["epochs"])


def model_section(models_dir, title, name, model_name, layout):
    """Markdown for one model, or a short 'not shipped yet' note when its files are absent."""
    log = load_log(os.path.join(models_dir, name + "-log.csv"))
    recipe = load_json(os.path.join(models_dir, name + "-recipe.json"))
    if not os.path.exists(os.path.join(models_dir, name + ".onnx")) or not log or not recipe:
        return ("## %s\nNot shipped yet: train it with `make train MODEL=%s`, then `make models MODEL=%s`.\n"
                % (title, model_name, model_name))
    fp32 = load_json(os.path.join(models_dir, name + "-val.json"))
    q = load_json(os.path.join(models_dir, name + "-int8-val.json"))
    meta = onnx_metadata(os.path.join(models_dir, name + ".onnx"))
    done, total = int(log[-1]["epoch"]), int(recipe["epochs"])  # a warm-started log begins later
    # Epochs are only comparable when validated with the same BN statistics (train.py --val-bn).
    bn_of = lambda r: r.get("val_bn") or "running"
    best = max((r for r in log if bn_of(r) == bn_of(log[-1])), key=lambda r: float(r["val_miou"]))
    shipped_epoch = meta.get("epoch", best["epoch"])
    shipped = next((r for r in log if r["epoch"] == str(shipped_epoch)), best)
    if done < total:
        status = ("**Training is still in progress**: %d of %d epochs done so far; the shipped weights are "
                  "the best checkpoint so far (epoch %s). The numbers below will change when the run "
                  "finishes." % (done, total, shipped_epoch))
    else:
        status = "Training finished: %d epochs; shipped weights from epoch %s (best val mIoU)." % (done, shipped_epoch)

    rows = []
    for n in CLASS_NAMES:
        rows.append("| %s | %s | %s | %s |" % (
            n, pct(fp32["iou"][n]) if fp32 else "-", pct(q["fp32"]["iou"][n]) if q else "-",
            pct(q["int8"]["iou"][n]) if q else "-"))
    rows.append("| **mIoU** | **%s** | **%s** | **%s** |" % (
        pct(fp32["miou"]) if fp32 else "-", pct(q["fp32"]["miou"]) if q else "-", pct(q["int8"]["miou"]) if q else "-"))
    params = param_count(model_name)
    return """## %(title)s

%(status)s

Layout: %(layout)s. %(params)s learnable parameters for 11 classes (checked by the tests).

Recipe: SGD momentum %(momentum)s, base lr %(lr)s with poly decay (power %(poly)s) over %(total)d
epochs, weight decay %(wd)s, batch %(batch)d, random scale 0.5-2.0, pad with void, random crop
%(crop)s, %(photometric)shorizontal flip, cross-entropy ignoring void with %(weights)s. %(where)s.%(warm)s
Epochs done: %(done)d of %(total)d; training time%(so_far)s %(time)s (validation included).%(speed)s
Val mIoU of the shipped checkpoint during training (PyTorch, unfolded model, %(shipped_bn)s): %(shipped)s%% at epoch %(shipped_ep)s.%(later)s%(bn)s

| class | fp32 ONNX Runtime IoU (%%) | fp32 OpenVINO IoU (%%) | int8 OpenVINO IoU (%%) |
|---|---|---|---|
%(rows)s

![%(title)s training curves](%(n)s-curves.png)
![%(title)s per-class IoU](%(n)s-val.png)
""" % dict(title=title, status=status, layout=layout, n=name,
           params="{:,}".format(params) if params else "-",
           momentum=recipe["momentum"], lr=recipe["lr"], poly=recipe["poly"], total=total, wd=recipe["wd"],
           batch=recipe["batch"], crop="x".join(map(str, recipe["crop"])),
           weights=("ENet class weights (1/ln(1.02 + p))" if recipe.get("class_weights") == "enet" else "no class weights")
           + (", over the hard pixels only (OHEM: true-class probability below %g, at least 1/16 of them)"
              % recipe["ohem"] if recipe.get("ohem") else ""),
           where=("PyTorch on one GPU (`eprnet/gpu_train.py`: data and augmentation on the GPU, bf16 autocast)"
                  if recipe.get("device") == "cuda" else
                  "PyTorch 1.13 on the CPU (%s thread(s), nice 10, beside other work on a 2-core machine)"
                  % recipe.get("threads", "?")), done=done,
           photometric="photometric jitter (brightness, contrast, saturation, hue, white balance, blur, noise), "
           if recipe.get("photometric") else "",
           warm=warm_start_line(recipe.get("warm_start")), speed=speed_line(log),
           time="%.1f h" % (float(log[-1]["elapsed_s"]) / 3600), so_far=" so far" if done < total else "",
           shipped=pct(float(shipped["val_miou"])),
           shipped_bn={"running": "training-time BN statistics",
                       "precise": "BN statistics recomputed over every 4th train frame"}[bn_of(shipped)],
           shipped_ep=shipped["epoch"], rows="\n".join(rows),
           later=(" Epoch %s now leads the validation (%s%%); the next `make models` ships it."
                  % (best["epoch"], pct(float(best["val_miou"])))) if best is not shipped and bn_of(best) == bn_of(shipped) and float(best["val_miou"]) > float(shipped["val_miou"]) else "",
           bn=("\nBefore export the BN statistics were recomputed with the checkpoint's weights over %s "
               "(precise BN, `Training/eprnet/precise_bn.py`), which is why the shipped figures below differ "
               "from the training-time figure." % meta["bn_statistics"]) if "bn_statistics" in meta else "")


def warm_start_line(warm):
    if not warm:
        return ""
    return ("\nWarm start: this run began from the model shipped before it (%s, epoch %d, val mIoU %s%% "
            "as rebuilt in PyTorch; `Training/eprnet/warmstart.py`) and continued the schedule from epoch %d; "
            "the optimizer's momentum restarted at zero." % (
                os.path.basename(warm["onnx"]), warm["epoch"], pct(warm["val_miou"]), warm["epoch"] + 1))


def speed_line(log):
    """Median training images/s per machine, from the log rows that recorded it."""
    by_machine = {}
    for r in log:
        if r.get("images_per_s") and r.get("machine"):
            by_machine.setdefault(r["machine"], []).append(float(r["images_per_s"]))
    if not by_machine:
        return ""
    parts = ["%.2f images/s on %s (%d epochs)" % (sorted(v)[len(v) // 2], m, len(v)) for m, v in by_machine.items()]
    return " Training speed (median per epoch): " + "; ".join(parts) + "."


def render(models_dir):
    sections = "\n".join(model_section(models_dir, *m) for m in MODELS)
    if all(run_finished(models_dir, name) for _, name, _, _ in MODELS):
        next_step = "Both runs have finished their schedule (curves above), so the gap needs more than\nthe same epochs:"
    else:
        next_step = ("Finishing the scheduled epochs is the first step (poly decay gives most of its gain in the\n"
                     "last third). Beyond that:")
    return """# EPRNet CamVid models

| file (`NAME` = `eprnet-camvid` or `eprnet-light-camvid`) | what |
|---|---|
| `NAME.onnx` | fp32, ONNX opset 17, BN folded, LeakyRelu + channel-repeat rewrites, input `image` 1x3xHxW (H, W dynamic, default 360x480), output `logits` 1x11xHxW |
| `NAME-int8.xml` / `.bin` | the same network quantised to int8 by NNCF (OpenVINO IR); what `eprstream` loads by default (`eprnet-camvid-int8.xml`) |
| `NAME-val.{json,md,png}` | val evaluation of the ONNX file with ONNX Runtime (per-class IoU, confusion matrix, bar chart) |
| `NAME-int8-val.{json,md}` | fp32 vs int8, both run with OpenVINO on val |
| `NAME-curves.png`, `NAME-log.csv`, `NAME-recipe.json` | training loss and val mIoU per epoch; the run's settings |

Every model file carries its preprocessing and labels as metadata (ONNX `metadata_props`, IR
runtime info section `eprstream`): keys `model_name mean std class_names palette input_size
void_label num_classes` (format in `Training/README.md`), so `eprstream --model FILE` needs
nothing else.

## Data and licence
CamVid (Brostow et al. 2008), SegNet layout, 480x360, 11 classes + void (ignored). Trained on the
367 **train** frames only; checkpoint chosen on the 101 **val** frames, which is also where the
numbers below come from. Val is sequence 0016E5, which **train also holds** (frames a few seconds
apart, the same street and camera), so val overstates accuracy on streets and cameras the model has
not seen (the test split, measured outside the project, scored about 11 points lower for the
epoch-30 EPRNet); `Training/eprnet/robustness.py` re-scores val under camera changes, and
`make holdout-ab` trains without 0016E5 to score a street never seen (the recipe's photometric
augmentation: +6.5 points there, mean of three seeds; OHEM in place of the class weights: -8.8,
two seeds; `Training/README.md`). CamVid is distributed
for personal and research use under **CC BY-NC 4.0**; these weights are derived from it and inherit that licence:
**non-commercial use only**.

## Architecture and preprocessing
EPRNet and EPRNet-Light (Tang et al., IEEE T-ITS 2022), implemented from the paper's layer table
(`Training/eprnet/model.py`, sizes in ../shared/docs/eprnet.md). Input RGB, 360x480 (HxW) by
default, `x = (pixel - mean) / std` on the 0-255 scale, mean %(mean)s, std %(std)s (ImageNet);
label = argmax of `logits` over the 11 classes.

%(sections)s
## Reaching the goal (68%% val mIoU)
%(next_step)s a longer schedule (the authors use about 240 epochs), full-frame
crops (360x480, so the dilation-37 branch sees what it sees at inference), OHEM on top of the
class weights (in place of them it lost 8.8 points on a held-out street in 50 epochs), and
ImageNet or Cityscapes pre-training of the backbone, which the paper's CamVid numbers rely on.
The GPU path (`make train-gpu`, `Training/README.md`) is built to run hundreds of epochs in one
lent GPU call (not yet run on a GPU).

## Reproduce
`make train` (or `make train-resume`), then `make models` (export, eval, int8, Swift fixtures,
this card); add `MODEL=eprnet-light` for the light variant. `make model-card` alone rewrites this
file from what is in Models/.
""" % dict(mean=",".join(map(str, MEAN)), std=",".join(map(str, STD)), sections=sections, next_step=next_step)


# The settings that define a run (train.RECIPE_KEYS without machine paths and test limits).
SHIPPED_RECIPE_KEYS = ("model", "epochs", "batch", "crop", "lr", "momentum", "wd", "poly", "class_weights",
                       "ohem", "photometric", "seed", "device", "threads")


def last_checkpoint_field(run_dir, key):
    path = os.path.join(run_dir, "last.pt")
    try:
        import torch
        return torch.load(path, map_location="cpu", weights_only=False).get(key) if os.path.exists(path) else None
    except ImportError:  # torch missing: the card says what it can
        return None


def collect(run_dir, models_dir, name):
    """Copy a run's log, curves and recipe into Models/ beside the model files they describe."""
    shutil.copyfile(os.path.join(run_dir, "log.csv"), os.path.join(models_dir, name + "-log.csv"))
    shutil.copyfile(os.path.join(run_dir, "curves.png"), os.path.join(models_dir, name + "-curves.png"))
    with open(os.path.join(run_dir, "args.json")) as f:
        args = json.load(f)
    recipe = {k: args[k] for k in SHIPPED_RECIPE_KEYS if k in args}
    warm = last_checkpoint_field(run_dir, "warm_start")
    if warm:
        recipe["warm_start"] = warm
    with open(os.path.join(models_dir, name + "-recipe.json"), "w") as f:
        json.dump(recipe, f, indent=1)
        f.write("\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="../Models")
    p.add_argument("--collect", metavar="RUN_DIR", help="first copy this run's log, curves and recipe into Models/")
    p.add_argument("--name", default="eprnet-camvid", help="file prefix for --collect")
    args = p.parse_args(argv)
    if args.collect:
        collect(args.collect, args.models, args.name)
    path = os.path.join(args.models, "README.md")
    with open(path, "w") as f:
        f.write(render(args.models))
    print("wrote", path)


if __name__ == "__main__":
    main()
