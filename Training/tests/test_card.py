import csv
import json

from eprnet import card
from eprnet.constants import CLASS_NAMES


def write_run(run, epochs_done, total):
    run.mkdir()
    args = {"model": "eprnet", "out": str(run), "data": "/somewhere/camvid", "epochs": total, "batch": 8,
            "crop": [256, 256], "lr": 0.02, "momentum": 0.9, "wd": 2e-4, "poly": 0.9, "class_weights": "enet",
            "device": "cpu", "threads": 1, "seed": 1, "limit_train": None, "stop_after": None}
    (run / "args.json").write_text(json.dumps(args))
    with open(run / "log.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["epoch", "val_miou", "elapsed_s"])
        w.writeheader()
        for e in range(1, epochs_done + 1):
            w.writerow({"epoch": e, "val_miou": 0.3 if e != 2 else 0.45, "elapsed_s": 1800 * e})
    (run / "curves.png").write_bytes(b"png")


def test_card_reports_the_shipped_files_figures(tmp_path):
    models, run = tmp_path / "Models", tmp_path / "run"
    models.mkdir()
    write_run(run, epochs_done=3, total=150)
    card.collect(str(run), str(models), "eprnet-camvid")
    recipe = json.loads((models / "eprnet-camvid-recipe.json").read_text())
    assert recipe["epochs"] == 150 and "data" not in recipe and "out" not in recipe  # no machine paths
    iou = {n: i / 100 for i, n in enumerate(CLASS_NAMES)}
    (models / "eprnet-camvid-val.json").write_text(json.dumps({"miou": 0.4321, "iou": iou}))
    (models / "eprnet-camvid-int8-val.json").write_text(json.dumps(
        {"fp32": {"miou": 0.4320, "iou": iou}, "int8": {"miou": 0.4111, "iou": iou}}))
    (models / "eprnet-camvid.onnx").write_bytes(b"")

    text = card.render(str(models))
    eprnet, light = text.split("## EPRNet-Light")
    assert "3 of 150 epochs" in eprnet and "epoch 2" in eprnet
    assert "45.0% at epoch 2" in eprnet and "1.5 h" in eprnet
    assert "| **mIoU** | **43.2** | **43.2** | **41.1** |" in eprnet
    assert "| Building | 1.0 | 1.0 | 1.0 |" in eprnet
    assert "894,669 learnable parameters" in eprnet
    assert "Not shipped yet" in light and "make train MODEL=eprnet-light" in light
    assert "CC BY-NC 4.0" in text
    assert "Finishing the scheduled epochs is the first step" in text and "Both runs have finished" not in text


def test_card_for_a_finished_run(tmp_path):
    models, run = tmp_path / "Models", tmp_path / "run"
    models.mkdir()
    write_run(run, epochs_done=4, total=4)
    card.collect(str(run), str(models), "eprnet-light-camvid")
    (models / "eprnet-light-camvid.onnx").write_bytes(b"")
    light = card.render(str(models)).split("## EPRNet-Light")[1]
    assert "Training finished: 4 epochs; shipped weights from epoch 2" in light
    assert "training time so far" not in light
    assert "647,101 learnable parameters" in light
    assert "| **mIoU** | **-** | **-** | **-** |" in light  # no eval files yet: dashes, not made-up figures
    assert "Finishing the scheduled epochs is the first step" in card.render(str(models))  # EPRNet not shipped


def test_card_says_what_is_next_once_both_runs_finished(tmp_path):
    models = tmp_path / "Models"
    models.mkdir()
    for name in ("eprnet-camvid", "eprnet-light-camvid"):
        run = tmp_path / name
        write_run(run, epochs_done=4, total=4)
        card.collect(str(run), str(models), name)
        (models / (name + ".onnx")).write_bytes(b"")
    text = card.render(str(models))
    assert "Both runs have finished their schedule (curves above)" in text
    assert "Finishing the scheduled epochs" not in text


def test_card_tells_a_later_better_epoch_and_precise_bn(tmp_path, monkeypatch):
    models, run = tmp_path / "Models", tmp_path / "run"
    models.mkdir()
    write_run(run, epochs_done=3, total=150)
    card.collect(str(run), str(models), "eprnet-camvid")
    (models / "eprnet-camvid.onnx").write_bytes(b"")
    # Exported at epoch 1; epoch 2 (45%) finished before the log was collected.
    monkeypatch.setattr(card, "onnx_metadata", lambda path: {"epoch": "1", "bn_statistics": "367 CamVid train frames"})
    eprnet = card.render(str(models)).split("## EPRNet-Light")[0]
    assert "best checkpoint so far (epoch 1)" in eprnet
    assert "Epochs done: 3 of 150; training time so far" in eprnet
    assert "shipped checkpoint during training (PyTorch, unfolded model, training-time BN statistics): 30.0% at epoch 1" in eprnet
    assert "Epoch 2 now leads the validation (45.0%)" in eprnet
    assert "over 367 CamVid train frames (precise BN" in eprnet


def test_card_compares_epochs_only_under_the_same_bn_statistics(tmp_path, monkeypatch):
    models, run = tmp_path / "Models", tmp_path / "run"
    models.mkdir()
    write_run(run, epochs_done=3, total=150)
    # Epochs 1-2 were validated with running statistics, epoch 3 (lower number) with precise ones.
    with open(run / "log.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["epoch", "val_miou", "val_bn", "elapsed_s"])
        w.writeheader()
        for e, miou, bn in ((1, 0.30, "running"), (2, 0.45, "running"), (3, 0.40, "precise")):
            w.writerow({"epoch": e, "val_miou": miou, "val_bn": bn, "elapsed_s": 1800 * e})
    card.collect(str(run), str(models), "eprnet-camvid")
    (models / "eprnet-camvid.onnx").write_bytes(b"")
    monkeypatch.setattr(card, "onnx_metadata", lambda path: {"epoch": "2"})
    eprnet = card.render(str(models)).split("## EPRNet-Light")[0]
    assert "(PyTorch, unfolded model, training-time BN statistics): 45.0% at epoch 2" in eprnet
    # Epoch 3's figure is not comparable with the shipped epoch's: no claim either way.
    assert "now leads" not in eprnet
    assert "over the hard pixels only" not in eprnet  # a recipe without --ohem does not claim it


def test_card_tells_the_warm_start_the_recipe_and_the_training_speed(tmp_path):
    import torch
    models, run = tmp_path / "Models", tmp_path / "run"
    models.mkdir()
    write_run(run, epochs_done=0, total=150)
    args = json.loads((run / "args.json").read_text())
    (run / "args.json").write_text(json.dumps(dict(args, photometric=True, ohem=0.7, init_onnx="../Models/eprnet-camvid.onnx")))
    with open(run / "log.csv", "w", newline="") as f:  # a warm-started run's log begins at epoch 31
        w = csv.DictWriter(f, fieldnames=["epoch", "val_miou", "elapsed_s", "images_per_s", "machine"])
        w.writeheader()
        for e, ips in ((31, 1.5), (32, 1.7), (33, 1.6)):
            w.writerow({"epoch": e, "val_miou": 0.6, "elapsed_s": 600 * (e - 30), "images_per_s": ips, "machine": "Xeon, 1 of 2 cores"})
    torch.save({"warm_start": {"onnx": "../Models/eprnet-camvid.onnx", "epoch": 30, "val_miou": 0.608}}, run / "last.pt")
    card.collect(str(run), str(models), "eprnet-camvid")
    (models / "eprnet-camvid.onnx").write_bytes(b"")
    eprnet = card.render(str(models)).split("## EPRNet-Light")[0]
    assert "33 of 150 epochs" in eprnet
    assert "photometric jitter" in eprnet
    assert "over the hard pixels only (OHEM: true-class probability below 0.7" in eprnet
    assert "Warm start: this run began from the model shipped before it (eprnet-camvid.onnx, epoch 30, val mIoU 60.8%" in eprnet
    assert "continued the schedule from epoch 31" in eprnet
    assert "1.60 images/s on Xeon, 1 of 2 cores (3 epochs)" in eprnet
    assert "train also holds" in card.render(str(models))
