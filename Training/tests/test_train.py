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
