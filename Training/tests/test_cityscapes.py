"""--dataset cityscapes on a tiny tree in the standard layout, generated here with known labels."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from eprnet import data, evaluate, export, metrics, train
from eprnet.constants import CITYSCAPES, CITYSCAPES_NAMES, metadata

# label id -> train id for the ids drawn below (road, sidewalk, car, person, sky, bicycle) and
# ids that are ignored (unlabeled 0, ego vehicle 1, guard rail 14).
DRAWN = {7: 0, 8: 1, 26: 13, 24: 11, 23: 10, 33: 18, 0: 255, 1: 255, 14: 255}


def label_ids(h, w, seed):
    """A label-id image with a band of every DRAWN id, in an order that depends on the seed."""
    ids = np.array(list(DRAWN))[np.random.default_rng(seed).permutation(len(DRAWN))]
    band = np.repeat(ids, -(-w // len(ids)))[:w]
    return np.tile(band, (h, 1)).astype(np.uint8)


def make_tree(root, counts={"train": ("aachen", 4), "val": ("frankfurt", 2)}, size=(64, 128)):
    rng = np.random.default_rng(0)
    for split, (city, n) in counts.items():
        os.makedirs(os.path.join(root, "leftImg8bit", split, city))
        os.makedirs(os.path.join(root, "gtFine", split, city))
        for i in range(n):
            stem = "%s_%06d_000019" % (city, i)
            Image.fromarray(rng.integers(0, 256, size + (3,), dtype=np.uint8)).save(
                os.path.join(root, "leftImg8bit", split, city, stem + "_leftImg8bit.png"))
            Image.fromarray(label_ids(*size, seed=i)).save(
                os.path.join(root, "gtFine", split, city, stem + "_gtFine_labelIds.png"))
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_tree(str(tmp_path_factory.mktemp("cityscapes")))


def test_label_ids_become_train_ids_and_the_rest_is_ignored(tree):
    images, labels, names = data.load_split("train", tree, dataset="cityscapes")
    assert names == ["aachen_%06d_000019_leftImg8bit" % i for i in range(4)]
    assert images[0].shape == (64, 128, 3) and labels[0].dtype == np.uint8
    for i, lbl in enumerate(labels):
        want = np.vectorize(DRAWN.get)(label_ids(64, 128, seed=i))
        assert np.array_equal(lbl, want)
    assert set(np.unique(labels[0])) == {0, 1, 10, 11, 13, 18, 255}
    assert data.CITYSCAPES_LUT[[7, 11, 21, 33, 34, 255]].tolist() == [0, 2, 8, 18, 255, 255]


def test_miou_counts_19_classes_and_skips_ignored_pixels(tree):
    _, labels, _ = data.load_split("val", tree, dataset="cityscapes")
    gt = labels[0]
    pred = np.where(gt == 255, 3, gt)  # right wherever labelled, 'Wall' where ignored
    cm = metrics.confusion(pred, gt, CITYSCAPES.num_classes)
    assert cm.shape == (19, 19) and cm.sum() == (gt != 255).sum()
    assert metrics.mean_iou(cm) == 1.0  # classes absent from gt and pred are left out, not zero
    wrong = np.where(gt == 13, 14, pred)  # every car called a truck
    iou = metrics.iou_per_class(metrics.confusion(wrong, gt, 19))
    assert iou[13] == 0 and iou[14] == 0 and iou[0] == 1


def test_a_tree_without_labels_is_a_clear_error(tmp_path):
    root = make_tree(str(tmp_path / "c"), counts={"train": ("bonn", 1)})
    os.remove(os.path.join(root, "gtFine", "train", "bonn", "bonn_000000_000019_gtFine_labelIds.png"))
    with pytest.raises(FileNotFoundError, match="has no label file"):
        data.read_split("train", root, "cityscapes")
    with pytest.raises(FileNotFoundError, match="no Cityscapes val images"):
        data.read_split("val", root, "cityscapes")


def test_trains_exports_and_evaluates_with_the_19_classes(tree, tmp_path):
    run = str(tmp_path / "run")
    train.main(["--dataset", "cityscapes", "--data", tree, "--out", run, "--epochs", "1", "--batch", "2",
                "--crop", "32", "64", "--threads", "1", "--photometric"])
    ck = torch.load(os.path.join(run, "last.pt"), weights_only=False)
    assert ck["dataset"] == "cityscapes" and ck["num_classes"] == 19
    assert ck["model"]["classifier.weight"].shape[0] == 19

    onnx_path = str(tmp_path / "m.onnx")
    export.main(["--ckpt", os.path.join(run, "best.pt"), "--out", onnx_path, "--data", tree])
    import onnx
    meta = {p.key: p.value for p in onnx.load(onnx_path).metadata_props}
    want = metadata("eprnet-cityscapes", CITYSCAPES)
    for k in ("class_names", "palette", "num_classes", "void_label", "input_size", "dataset"):
        assert meta[k] == want[k], k
    assert meta["model_name"] == "eprnet-cityscapes" and meta["num_classes"] == "19"
    assert meta["class_names"].split(",")[6] == "TrafficLight" and len(meta["palette"].split(";")) == 19
    assert meta["input_size"] == "512x1024" and meta["bn_statistics"] == "4 Cityscapes train frames at full size"

    out = str(tmp_path / "eval")
    evaluate.main(["--onnx", onnx_path, "--dataset", "cityscapes", "--data", tree, "--out", out])
    res = json.load(open(out + ".json"))
    assert list(res["iou"]) == list(CITYSCAPES_NAMES) and np.array(res["confusion"]).shape == (19, 19)
    assert np.array(res["confusion"]).sum() == sum((l != 255).sum() for l in data.load_split("val", tree, dataset="cityscapes")[1])
