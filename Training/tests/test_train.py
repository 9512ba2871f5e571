import csv
import os

import torch

from conftest import needs_camvid
from eprnet import train

TINY = ["--limit-train", "4", "--limit-val", "1", "--crop", "32", "48", "--batch", "4", "--threads", "1"]


def read_log(run):
    with open(os.path.join(run, "log.csv")) as f:
        return [(r["epoch"], r["lr"], r["train_loss"], r["val_miou"]) for r in csv.DictReader(f)]


@needs_camvid
def test_resume_continues_exactly(tmp_path):
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    train.main(["--out", straight, "--epochs", "2"] + TINY)
    train.main(["--out", split, "--epochs", "2", "--stop-after", "1"] + TINY)
    assert torch.load(os.path.join(split, "last.pt"))["epoch"] == 1
    # The resume command line carries no recipe: it comes from the run's args.json.
    train.main(["--out", split, "--resume", "--threads", "1"])  # same threads: same float sums
    a = torch.load(os.path.join(straight, "last.pt"))
    b = torch.load(os.path.join(split, "last.pt"))
    assert a["epoch"] == b["epoch"] == 2
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert read_log(straight) == read_log(split)
    for f in ("best.pt", "log.csv", "curves.png", "args.json"):
        assert os.path.exists(os.path.join(split, f))


@needs_camvid
def test_validation_scores_the_model_with_precise_bn(tmp_path):
    from eprnet import data, metrics
    from eprnet.model import build
    from eprnet.precise_bn import recalibrate, selection_frames
    run = str(tmp_path / "run")
    train.main(["--out", run, "--epochs", "1"] + TINY)
    ck = torch.load(os.path.join(run, "last.pt"), weights_only=False)
    assert ck["val_bn"] == "precise" and ck["best_bn"] == "precise/population"
    tr_img = data.load_split("train", data.DATASET_ROOT, 4)[0]
    va_img, va_lbl, _ = data.load_split("val", data.DATASET_ROOT, 1)
    model = build("eprnet")
    model.load_state_dict(ck["model"])
    running = metrics.mean_iou(train.evaluate_model(model, va_img, va_lbl, "cpu"))
    precise = metrics.mean_iou(train.evaluate_model(recalibrate(model, selection_frames(tr_img)), va_img, va_lbl, "cpu"))
    assert ck["val_miou"] == precise != running
    assert [r["val_bn"] for r in csv.DictReader(open(os.path.join(run, "log.csv")))] == ["precise"]


@needs_camvid
def test_resume_rescores_best_checkpoint_when_validation_changes(tmp_path, capsys):
    run = str(tmp_path / "run")
    train.main(["--out", run, "--epochs", "2", "--stop-after", "1", "--val-bn", "running"] + TINY)
    running_best = torch.load(os.path.join(run, "last.pt"), weights_only=False)["best_miou"]
    train.main(["--out", run, "--resume", "--threads", "1", "--val-bn", "precise"])
    out = capsys.readouterr().out
    assert "best.pt rescored with precise BN statistics" in out
    ck = torch.load(os.path.join(run, "last.pt"), weights_only=False)
    assert ck["best_bn"] == "precise/population"
    log = list(csv.DictReader(open(os.path.join(run, "log.csv"))))
    assert [r["val_bn"] for r in log] == ["running", "precise"]
    assert running_best == float(log[0]["val_miou"])
