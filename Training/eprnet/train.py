"""Train EPRNet on CamVid train; validate on full-size val every epoch.

Validation uses precise BN statistics by default (see precise_bn.py): a copy of the model gets
its BN statistics recomputed over a fixed subset of full-size train frames, which is how the
exported model is made, so best.pt is the checkpoint whose export scores best. Training-time
running statistics, measured on padded crops, score 5-10 points lower and rank epochs differently.

A run is one output directory. last.pt is rewritten atomically after every epoch with model,
optimizer, epoch, best score, RNG states and the log history, so `--resume` after a kill at any
moment continues exactly from the last finished epoch (augmentation and shuffling are seeded per
epoch, so the resumed epochs see the same data they would have seen).
"""
import argparse
import copy
import csv
import json
import os
import platform
import random
import time

import numpy as np
import torch

from . import data, metrics
from .constants import DATASETS, NUM_CLASSES
from .export import load_checkpoint
from .loss import ohem_threshold, segmentation_loss
from .model import build, count_params
from .precise_bn import recalibrate, selection_frames
from .warmstart import from_onnx

# Settings that define a run; --resume takes them from OUT/args.json.
RECIPE_KEYS = ["model", "dataset", "data", "epochs", "batch", "crop", "lr", "momentum", "wd", "poly",
               "class_weights", "ohem", "photometric", "init_onnx", "seed", "limit_train", "limit_val"]
# How best.pt's score was measured, per --val-bn; a checkpoint scored another way is rescored on
# resume. "precise" changed to population statistics (precise_bn.py), hence the suffix.
SCORING = {"precise": "precise/population", "running": "running"}
CSV_FIELDS = ["epoch", "lr", "train_loss", "val_miou", "val_pixacc", "val_bn", "train_s", "val_s", "elapsed_s",
              "images_per_s", "machine"]
# What rows written before a column existed say in it.
CSV_DEFAULTS = {"val_bn": "running"}


def machine(device="cpu", threads=1):
    """Where an epoch ran, for the log: hosts of one kind differ (AVX2 vs AVX-512), so a speed
    figure means little without it."""
    if device == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    name = platform.processor() or "CPU"
    try:
        with open("/proc/cpuinfo") as f:
            name = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return "%s, %d of %d cores" % (name, threads, os.cpu_count() or 0)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="eprnet", choices=["eprnet", "eprnet-light"])
    p.add_argument("--out", default="runs/eprnet-camvid", help="run directory (checkpoints, log, plot)")
    p.add_argument("--dataset", default="camvid", choices=sorted(DATASETS),
                   help="camvid (SegNet layout, 11 classes) or cityscapes (leftImg8bit/gtFine layout, 19 classes)")
    p.add_argument("--data", default=None, help="dataset root (default: the dataset's place beside the checkout)")
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, nargs=2, default=[320, 320], metavar=("H", "W"))
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--wd", type=float, default=2e-4)
    p.add_argument("--poly", type=float, default=0.9)
    p.add_argument("--class-weights", default="enet", choices=["enet", "none"])
    p.add_argument("--ohem", type=ohem_threshold, default=None, metavar="P",
                   help="train on the hard pixels only: true-class probability below P, at least 1/16 of them (loss.py)")
    p.add_argument("--photometric", action="store_true",
                   help="colour, exposure, blur and noise jitter on top of scale/crop/flip (data.photometric)")
    p.add_argument("--init-onnx", default=None, metavar="ONNX",
                   help="start from a shipped model (warmstart.py) at the epoch its metadata names, "
                        "continuing the learning-rate schedule from there")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default is 1 on Debian)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--limit-train", type=int, default=None, help="use only N train frames (tests)")
    p.add_argument("--limit-val", type=int, default=None, help="use only N val frames (tests)")
    p.add_argument("--val-batch", type=int, default=4)
    p.add_argument("--val-bn", default="precise", choices=["precise", "running"],
                   help="BN statistics for validation and best.pt: recomputed on full-size train frames "
                        "(as export does) or the training-time running ones")
    p.add_argument("--stop-after", type=int, default=None,
                   help="exit cleanly after N epochs in this invocation (time-boxed sessions, tests)")
    return p.parse_args(argv)


def poly_lr(base, it, total, power):
    return base * (1.0 - min(it, total - 1) / total) ** power


@torch.no_grad()
def evaluate_model(model, images, labels, device, batch=4, num_classes=NUM_CLASSES):
    """Confusion matrix over the whole split at the frames' own size (no resizing)."""
    model.eval()
    cm = np.zeros((num_classes, num_classes), np.int64)
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.stack([data.normalize(im) for im in images[i:i + batch]])).to(device)
        pred = model(x).argmax(1).cpu().numpy()
        for p, g in zip(pred, labels[i:i + batch]):
            cm += metrics.confusion(p, g, num_classes)
    return cm


def validate(model, args, tr_img, va_img, va_lbl, device):
    """Confusion matrix of the model as it will be exported (see --val-bn)."""
    if args.val_bn == "precise":
        model = recalibrate(copy.deepcopy(model), selection_frames(tr_img))
    return evaluate_model(model, va_img, va_lbl, device, args.val_batch, model.num_classes)


def save_atomic(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_log(out, history):
    with open(os.path.join(out, "log.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for row in history:
            w.writerow({k: row.get(k, CSV_DEFAULTS.get(k, "")) for k in CSV_FIELDS})
    try:
        plot_history(history, os.path.join(out, "curves.png"))
    except Exception as e:  # a plotting problem must never stop training
        print("plot failed:", e, flush=True)


def plot_history(history, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ep = [r["epoch"] for r in history]
    fig, ax1 = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax1.plot(ep, [r["train_loss"] for r in history], color="tab:blue", label="train loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("train loss", color="tab:blue")
    ax2 = ax1.twinx()
    for bn, style in (("running", ":"), ("precise", "-")):
        rows = [r for r in history if r.get("val_bn", "running") == bn]
        if rows:
            ax2.plot([r["epoch"] for r in rows], [100 * r["val_miou"] for r in rows], style, color="tab:red",
                     label="val mIoU, %s BN statistics" % bn)
    ax2.set_ylabel("val mIoU (%)", color="tab:red")
    ax2.legend(loc="lower right", fontsize=8)
    ax1.set_title("EPRNet on CamVid: loss and val mIoU per epoch")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def rng_state():
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(s):
    torch.set_rng_state(s["torch"])
    np.random.set_state(s["numpy"])
    random.setstate(s["python"])
    if s.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def main(argv=None):
    args = parse_args(argv)
    args_path = os.path.join(args.out, "args.json")
    if args.resume and os.path.exists(args_path):
        # The recipe (epochs, lr, crop, ...) is the run's, not the command line's: the poly
        # schedule and the data order only continue exactly with the same values.
        with open(args_path) as f:
            saved = json.load(f)
        for k in RECIPE_KEYS:
            if k in saved:
                setattr(args, k, saved[k])
        if args.data and not os.path.isdir(args.data):
            # A run restored on another machine (runstate.py): its dataset is where this one's is.
            print("recipe's data %s is not here: using %s" % (args.data, DATASETS[args.dataset].root), flush=True)
            args.data = None
    labels = DATASETS[args.dataset]
    args.data = args.data or labels.root
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    os.makedirs(args.out, exist_ok=True)
    last_path = os.path.join(args.out, "last.pt")

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)

    t0 = time.time()
    tr_img, tr_lbl, _ = data.load_split("train", args.data, args.limit_train, args.dataset)
    va_img, va_lbl, _ = data.load_split("val", args.data, args.limit_val, args.dataset)
    print("loaded %d train, %d val frames in %.1fs" % (len(tr_img), len(va_img), time.time() - t0), flush=True)

    model = build(args.model, labels.num_classes).to(device)
    print("%s: %d learnable parameters" % (args.model, count_params(model)), flush=True)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.wd)

    weight = None
    if args.class_weights == "enet":
        weight = torch.from_numpy(data.class_weights(tr_lbl, labels.num_classes)).to(device)
        print("class weights:", np.round(weight.cpu().numpy(), 2).tolist(), flush=True)

    start_epoch, best, history, elapsed0, warm = 0, -1.0, [], 0.0, None
    resuming = args.resume and os.path.exists(last_path)
    if args.init_onnx and not resuming:
        model, meta = from_onnx(args.init_onnx, tr_img)
        model.to(device)
        opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.wd)
        start_epoch = int(meta.get("epoch") or 0)
        cm = evaluate_model(model, va_img, va_lbl, device, args.val_batch, labels.num_classes)
        warm = {"onnx": args.init_onnx, "epoch": start_epoch, "val_miou": metrics.mean_iou(cm)}
        print("warm start from %s at epoch %d: val mIoU %.4f before any step" % (
            args.init_onnx, start_epoch, warm["val_miou"]), flush=True)
    if resuming:
        ck = torch.load(last_path, map_location=device, weights_only=False)  # RNG states (torch 2.6+ defaults to True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        start_epoch, best, history, warm = ck["epoch"], ck["best_miou"], ck["history"], ck.get("warm_start")
        elapsed0 = history[-1]["elapsed_s"] if history else 0.0
        set_rng_state(ck["rng"])
        if ck.get("best_bn", "running") != SCORING[args.val_bn]:
            # best.pt was scored with the other statistics: score it again the way this run scores.
            best_path = os.path.join(args.out, "best.pt")
            if os.path.exists(best_path):
                prev = load_checkpoint(best_path, map_location=device)[0].to(device)
                best = metrics.mean_iou(validate(prev, args, tr_img, va_img, va_lbl, device))
                print("best.pt rescored with %s BN statistics: val mIoU %.4f" % (args.val_bn, best), flush=True)
        print("resumed from %s at epoch %d (best val mIoU %.4f)" % (last_path, start_epoch, best), flush=True)
    elif args.resume:
        print("no %s yet: starting fresh" % last_path, flush=True)
    with open(args_path, "w") as f:
        json.dump(vars(args), f, indent=1)

    steps = len(tr_img) // args.batch
    total_it = args.epochs * steps
    t_run = time.time()
    for epoch in range(start_epoch, args.epochs):
        model.train()
        # Seeded per epoch, not from a running stream: resumed epochs repeat exactly.
        rng = np.random.default_rng([args.seed, epoch])
        t_ep = time.time()
        loss_sum, n = 0.0, 0
        batches = data.train_batches(tr_img, tr_lbl, args.batch, tuple(args.crop), rng, colour=args.photometric,
                                     void=labels.void_label)
        for step, (x, y) in enumerate(batches):
            lr = poly_lr(args.lr, epoch * steps + step, total_it, args.poly)
            for g in opt.param_groups:
                g["lr"] = lr
            x = torch.from_numpy(x).to(device, non_blocking=True)
            y = torch.from_numpy(y).to(device, non_blocking=True)
            loss = segmentation_loss(model(x), y, weight, labels.void_label, args.ohem)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            n += 1
            if n % 10 == 0:  # a sign of life inside long CPU epochs
                print("  step %d/%d loss %.4f (%.1fs/step)" % (n, steps, loss_sum / n, (time.time() - t_ep) / n),
                      flush=True)
        train_s = time.time() - t_ep

        t_val = time.time()
        cm = validate(model, args, tr_img, va_img, va_lbl, device)
        miou, acc = metrics.mean_iou(cm), metrics.pixel_accuracy(cm)
        val_s = time.time() - t_val
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": loss_sum / max(n, 1), "val_miou": miou,
               "val_pixacc": acc, "val_bn": args.val_bn, "train_s": round(train_s, 1), "val_s": round(val_s, 1),
               "elapsed_s": round(elapsed0 + time.time() - t_run, 1),
               "images_per_s": round(n * args.batch / train_s, 2), "machine": machine(args.device, args.threads)}
        history.append(row)
        print("epoch %d/%d lr %.5f loss %.4f val mIoU %.4f acc %.4f (%.0fs + %.0fs)" % (
            epoch + 1, args.epochs, lr, row["train_loss"], miou, acc, train_s, val_s), flush=True)

        meta = {"model_name": args.model, "num_classes": labels.num_classes, "dataset": args.dataset, "epoch": epoch + 1,
                "val_miou": miou, "val_bn": args.val_bn, "val_iou": metrics.iou_per_class(cm).tolist(), "args": vars(args),
                "warm_start": warm}
        if miou > best:
            best = miou
            save_atomic(dict(meta, model=model.state_dict(), confusion=cm), os.path.join(args.out, "best.pt"))
        save_atomic(dict(meta, model=model.state_dict(), optimizer=opt.state_dict(), best_miou=best, best_bn=SCORING[args.val_bn],
                         history=history, rng=rng_state()), last_path)
        write_log(args.out, history)
        if args.stop_after is not None and epoch + 1 - start_epoch >= args.stop_after:
            print("stopping after %d epochs as asked; continue with --resume" % args.stop_after, flush=True)
            return
    print("done: best val mIoU %.4f" % best, flush=True)


if __name__ == "__main__":
    main()
