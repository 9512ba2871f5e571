"""Train EPRNet on one GPU: train.py's recipe, with the data and its augmentation on the GPU.

Why a second loop: train.py augments each frame with PIL on the CPU, which cannot feed a GPU.
Here the split is decoded once into device tensors and every batch is augmented there
(gpu_aug.py); the model runs channels_last under bf16 autocast (CUDA only: on the CPU, where the
tests run it, autocast is off). Validation is train.py's own (full-size val frames, precise BN
statistics over every 4th train frame, best checkpoint kept), every --val-every epochs and at the
first and last epoch of each call. The defaults are train.py's except batch 16 and crop 256x256;
the learning rate scales linearly with the batch from train.py's 0.02 at batch 8.

The result is OUT/state.pt in runstate.py's committed-run format (written at every validation), so
`runstate restore` and then train.py --resume, make export or make models take it as they take a
CPU run; beside it log.csv, curves.png (with matplotlib) and report.json: four files per model,
since the device tool brings back eight.

--time-limit: the GPU machine is lent minutes at a time. Before each epoch the loop predicts the
end of that epoch plus a validation and a save from the last ones, and stops if that passes the
limit, with the state written; --resume continues from it. At least one epoch runs per call.
"""
import argparse
import json
import os
import time

import numpy as np
import torch

from . import data, gpu_aug, metrics, runstate, train
from .constants import NUM_CLASSES, VOID_LABEL
from .loss import ohem_threshold, segmentation_loss
from .model import build
from .warmstart import from_onnx

RECIPE = train.parse_args([])  # train.py's defaults: the two loops train the same recipe
SAFETY = 1.25  # predicted epoch + validation + save times this must end inside the time limit


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="eprnet", choices=["eprnet", "eprnet-light"])
    p.add_argument("--out", required=True, help="output folder: state.pt, log.csv, curves.png, report.json")
    p.add_argument("--dataset", default="camvid", choices=["camvid"],
                   help="CamVid only for now (gpu_aug pads with CamVid's void label)")
    p.add_argument("--data", default="gpu-data", help="packed CamVid (make gpu-data) or a CamVid root")
    p.add_argument("--epochs", type=int, default=RECIPE.epochs)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--crop", type=int, nargs=2, default=[256, 256], metavar=("H", "W"))
    p.add_argument("--lr", type=float, default=None,
                   help="default: %g x batch / %d (train.py's, scaled linearly)" % (RECIPE.lr, RECIPE.batch))
    p.add_argument("--momentum", type=float, default=RECIPE.momentum)
    p.add_argument("--wd", type=float, default=RECIPE.wd)
    p.add_argument("--poly", type=float, default=RECIPE.poly)
    p.add_argument("--class-weights", default=RECIPE.class_weights, choices=["enet", "none"])
    p.add_argument("--ohem", type=ohem_threshold, default=RECIPE.ohem, metavar="P", help="hard pixels only (loss.py)")
    p.add_argument("--photometric", action="store_true", help="colour, exposure, blur and noise jitter")
    p.add_argument("--init-onnx", default=None, metavar="ONNX", help="warm start from a shipped model (needs onnx)")
    p.add_argument("--seed", type=int, default=RECIPE.seed)
    p.add_argument("--limit-train", type=int, default=None, help="use only N train frames (tests)")
    p.add_argument("--limit-val", type=int, default=None, help="use only N val frames (tests)")
    p.add_argument("--val-batch", type=int, default=RECIPE.val_batch)
    p.add_argument("--val-every", type=int, default=10, help="validate every K epochs (and first/last of a call)")
    p.add_argument("--time-limit", type=float, default=480.0, metavar="SECONDS",
                   help="stop cleanly before this many seconds after start (default: a 9-minute device call)")
    p.add_argument("--resume", action="store_true", help="continue from --state if it exists (else start fresh)")
    p.add_argument("--state", default=None, help="run state to resume from (default OUT/state.pt)")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--threads", type=int, default=8, help="torch CPU threads (warm start, validation)")
    return p.parse_args(argv)


def to_cpu(obj):
    """Tensors (nested in dicts and lists) as contiguous CPU copies and NumPy arrays as tensors:
    a state that loads anywhere (NumPy 2's pickles do not load in NumPy 1.x), and a best
    checkpoint that later steps do not change."""
    if isinstance(obj, np.ndarray):
        obj = torch.from_numpy(obj)
    if torch.is_tensor(obj):
        return obj.detach().to("cpu").clone(memory_format=torch.contiguous_format)
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def portable_rng():
    """train.rng_state() without numpy arrays: NumPy 2's pickles do not load in NumPy 1.x."""
    s = train.rng_state()
    kind, key, pos, has_gauss, gauss = s["numpy"]
    s["numpy"] = (kind, [int(k) for k in key], int(pos), int(has_gauss), float(gauss))
    return s


class Run:
    """Model, optimizer and bookkeeping of one call; `save` writes what train.py's last.pt and
    best.pt would hold, packed as runstate.py packs them."""

    def __init__(self, args, device, tr_img, va_img, va_lbl):
        self.args, self.device = args, device
        self.tr_img, self.va_img, self.va_lbl = tr_img, va_img, va_lbl
        self.model = build(args.model, NUM_CLASSES)
        self.start_epoch, self.best, self.best_ck, self.history, self.warm = 0, -1.0, None, [], None
        self.elapsed0, self.val_s, self.save_s = 0.0, 0.0, 0.0

    def place(self):
        self.model.to(self.device, memory_format=torch.channels_last)
        a = self.args
        self.opt = torch.optim.SGD(self.model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.wd)

    def resume(self, state):
        last, best = runstate.unpack(state)
        self.model.load_state_dict(last["model"])
        self.place()
        self.opt.load_state_dict(last["optimizer"])
        self.start_epoch, self.best, self.history = last["epoch"], last["best_miou"], last["history"]
        self.warm = last.get("warm_start")
        self.elapsed0 = self.history[-1]["elapsed_s"] if self.history else 0.0
        self.best_ck = to_cpu(best)  # a CPU run's best.pt holds its confusion matrix as a NumPy array
        train.set_rng_state(last["rng"])

    def warm_start(self, onnx_path):
        try:
            self.model, meta = from_onnx(onnx_path, self.tr_img)
        except ImportError as e:
            raise SystemExit("--init-onnx needs the onnx package (%s); leave it out to train from scratch" % e)
        self.place()
        self.start_epoch = int(meta.get("epoch") or 0)
        cm = train.evaluate_model(self.model, self.va_img, self.va_lbl, self.device, self.args.val_batch)
        self.warm = {"onnx": onnx_path, "epoch": self.start_epoch, "val_miou": metrics.mean_iou(cm)}
        print("warm start from %s at epoch %d: val mIoU %.4f before any step" % (
            onnx_path, self.start_epoch, self.warm["val_miou"]), flush=True)

    def validate_and_save(self, t_run):
        """Scores the last epoch as train.py does, keeps the best, writes state, log and report."""
        t = time.time()
        cm = train.validate(self.model, self.args, self.tr_img, self.va_img, self.va_lbl, self.device)
        miou, row = metrics.mean_iou(cm), self.history[-1]
        self.val_s = time.time() - t
        row.update(val_miou=miou, val_pixacc=metrics.pixel_accuracy(cm), val_bn=self.args.val_bn,
                   val_s=round(self.val_s, 2), elapsed_s=round(self.elapsed0 + time.time() - t_run, 1))
        meta = {"model_name": self.args.model, "num_classes": NUM_CLASSES, "dataset": self.args.dataset, "epoch": row["epoch"], "val_miou": miou,
                "val_bn": self.args.val_bn, "val_iou": metrics.iou_per_class(cm).tolist(), "args": vars(self.args),
                "warm_start": self.warm}
        weights = to_cpu(self.model.state_dict())
        if miou > self.best or self.best_ck is None:
            self.best = miou
            self.best_ck = dict(meta, model=weights, confusion=to_cpu(cm))
        last = dict(meta, model=weights, optimizer=to_cpu(self.opt.state_dict()), best_miou=self.best,
                    best_bn=train.SCORING[self.args.val_bn], history=self.history, rng=portable_rng())
        t = time.time()
        train.save_atomic(runstate.pack(last, self.best_ck), os.path.join(self.args.out, "state.pt"))
        train.write_log(self.args.out, self.history)
        self.save_s = time.time() - t
        return miou


def main(argv=None):
    t_start = time.time()
    args = parse_args(argv)
    state_path = args.state or os.path.join(args.out, "state.pt")
    state = None
    if args.resume and os.path.exists(state_path):
        state = torch.load(state_path, map_location="cpu", weights_only=False)  # our own file: RNG states, history
        if state.get("format") != runstate.FORMAT:
            raise SystemExit("%s: unknown state format %r" % (state_path, state.get("format")))
        given_data = args.data
        for k in train.RECIPE_KEYS:  # the run's recipe, not the command line's (as train.py --resume)
            if k in state["last"]["args"]:
                setattr(args, k, state["last"]["args"][k])
        if not os.path.isdir(args.data):
            print("recipe's data %s is not here: using %s" % (args.data, given_data), flush=True)
            args.data = given_data
    elif args.resume:
        print("no %s yet: starting fresh" % state_path, flush=True)
    if args.lr is None:
        args.lr = RECIPE.lr * args.batch / RECIPE.batch
    args.val_bn = "precise"  # train.validate's scoring, the one best.pt is ranked by
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: --device cpu")
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    tr_img, tr_lbl, _ = data.load_split("train", args.data, args.limit_train)
    va_img, va_lbl, _ = data.load_split("val", args.data, args.limit_val)
    if len(tr_img) < args.batch:
        raise SystemExit("%d train frames: fewer than one batch of %d" % (len(tr_img), args.batch))
    images = torch.from_numpy(np.stack(tr_img)).permute(0, 3, 1, 2).contiguous().to(device)
    labels = torch.from_numpy(np.stack(tr_lbl)).to(device)
    greys = gpu_aug.frame_greys(tr_img)
    where = train.machine(args.device, args.threads)
    print("%s: %d train, %d val frames on %s in %.1fs" % (
        args.model, len(tr_img), len(va_img), where, time.time() - t_start), flush=True)
    weight = torch.from_numpy(data.class_weights(tr_lbl)).to(device) if args.class_weights == "enet" else None

    run = Run(args, device, tr_img, va_img, va_lbl)
    if state is not None:
        run.resume(state)
        print("resumed from %s at epoch %d (best val mIoU %.4f)" % (state_path, run.start_epoch, run.best), flush=True)
    elif args.init_onnx:
        run.warm_start(args.init_onnx)
    else:
        run.place()
    model, opt = run.model, run.opt

    steps = len(tr_img) // args.batch
    total_it = args.epochs * steps
    crop, size = tuple(args.crop), tuple(labels.shape[-2:])
    t_run, train_s, trained, stopped = time.time(), 0.0, 0, "finished"
    for epoch in range(run.start_epoch, args.epochs):
        if trained and time.time() - t_start + SAFETY * (epoch_s + run.val_s + run.save_s) > args.time_limit:
            stopped = "time limit"
            break
        model.train()
        t_ep = time.time()
        # Seeded per epoch, not from a running stream: resumed epochs repeat exactly (as train.py).
        params, noise_seed = gpu_aug.draw_epoch(np.random.default_rng([args.seed, epoch]), greys, args.batch, size,
                                                crop, colour=args.photometric)
        params = {k: v.to(device, non_blocking=True) for k, v in params.items()}
        noise = torch.Generator(device=device)
        noise.manual_seed(noise_seed)
        loss_sum = torch.zeros((), device=device)
        for step in range(steps):
            lr = train.poly_lr(args.lr, epoch * steps + step, total_it, args.poly)
            for g in opt.param_groups:
                g["lr"] = lr
            x, y = gpu_aug.augment(images, labels, {k: v[step] for k, v in params.items()}, crop,
                                   colour=args.photometric, generator=noise)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = segmentation_loss(model(x.contiguous(memory_format=torch.channels_last)).float(), y,
                                         weight, VOID_LABEL, args.ohem)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
        train_loss = loss_sum.item() / steps  # the one synchronisation per epoch
        epoch_s = time.time() - t_ep
        train_s, trained = train_s + epoch_s, trained + 1
        run.history.append({"epoch": epoch + 1, "lr": lr, "train_loss": train_loss, "val_miou": "", "val_pixacc": "",
                            "val_bn": "none", "train_s": round(epoch_s, 2), "val_s": 0.0,
                            "elapsed_s": round(run.elapsed0 + time.time() - t_run, 1),
                            "images_per_s": round(steps * args.batch / epoch_s, 2), "machine": where})
        if trained == 1 or (epoch + 1) % args.val_every == 0 or epoch + 1 == args.epochs:
            miou = run.validate_and_save(t_run)
            print("%s epoch %d/%d lr %.5f loss %.4f val mIoU %.4f (%.0f images/s, val %.1fs)" % (
                args.model, epoch + 1, args.epochs, lr, train_loss, miou, trained * steps * args.batch / train_s,
                run.val_s), flush=True)
    if trained and run.history[-1]["val_bn"] == "none":  # stopped between validations
        run.validate_and_save(t_run)
    if not trained:
        print("nothing to do: the run is at epoch %d of %d" % (run.start_epoch, args.epochs), flush=True)
        return
    report = {"model": args.model, "device": where, "torch": torch.__version__,
              "epochs_done": run.history[-1]["epoch"], "epochs_planned": args.epochs, "epochs_this_call": trained,
              "stopped": stopped, "images_per_s": round(trained * steps * args.batch / train_s, 1),
              "train_s": round(train_s, 1), "wall_s": round(time.time() - t_start, 1), "time_limit_s": args.time_limit,
              "best_val_miou": run.best, "best_epoch": run.best_ck["epoch"], "last_val_miou": run.history[-1]["val_miou"],
              "batch": args.batch, "lr": args.lr, "crop": args.crop, "photometric": args.photometric,
              "ohem": args.ohem, "warm_start": run.warm}
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    print("%s: %s" % (args.model, json.dumps(report)), flush=True)


if __name__ == "__main__":
    main()
