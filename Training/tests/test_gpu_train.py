import csv
import json
import os
import pickletools
import shutil
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import needs_camvid
from eprnet import data, gpu_aug, gpu_data, gpu_train, runstate, train
from eprnet.constants import MEAN, STD, VOID_LABEL
from eprnet.export import load_checkpoint
from eprnet.model import build

TINY = ["--device", "cpu", "--limit-train", "8", "--limit-val", "1", "--crop", "32", "48", "--batch", "4",
        "--threads", "1", "--photometric", "--epochs", "2"]


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """8 train and 8 val frames packed as make gpu-data packs the whole of CamVid."""
    out = str(tmp_path_factory.mktemp("pack") / "gpu-data")
    return out, gpu_data.pack(data.DATASET_ROOT, out, limit=8)


def read_log(run):
    with open(os.path.join(run, "log.csv")) as f:
        return list(csv.DictReader(f))


@needs_camvid
def test_pack_is_camvid_with_jpeg_frames_and_exact_labels_under_the_cap(packed, tmp_path):
    out, size = packed
    assert size == gpu_data.folder_bytes(out) < 8 * 2 * 100_000  # ~50 KB a frame, a few KB a label
    img, lbl, names = data.load_split("train", out)
    ref_img, ref_lbl, ref_names = data.load_split("train", data.DATASET_ROOT, 8)
    assert names == ref_names and len(data.read_split("val", out)) == 8
    for a, b in zip(lbl, ref_lbl):
        assert np.array_equal(a, b)
    for a, b in zip(img, ref_img):
        assert a.shape == b.shape and np.abs(a.astype(int) - b).mean() < 3  # JPEG q90
    with pytest.raises(SystemExit, match="over the"):
        gpu_data.pack(data.DATASET_ROOT, str(tmp_path / "small"), limit=2, max_bytes=50_000)
    assert not os.listdir(tmp_path)  # nothing left behind


@needs_camvid
def test_gpu_run_stops_on_time_resumes_and_continues_on_cpu(packed, tmp_path):
    pack = packed[0]
    run, straight, fresh = (str(tmp_path / d) for d in ("run", "straight", "fresh"))
    recipe = TINY + ["--data", pack, "--ohem", "0.7"]
    gpu_train.main(["--out", run, "--time-limit", "0.01"] + recipe)  # the guard: one epoch, then stop
    report = json.load(open(os.path.join(run, "report.json")))
    assert report["ohem"] == 0.7
    assert (report["stopped"], report["epochs_done"], report["epochs_planned"]) == ("time limit", 1, 2)
    assert sorted(os.listdir(run)) == ["curves.png", "log.csv", "report.json", "state.pt"]
    first = str(tmp_path / "epoch1.pt")
    shutil.copyfile(os.path.join(run, "state.pt"), first)

    # The command line carries no recipe: it comes from the state, as train.py --resume does.
    gpu_train.main(["--out", run, "--resume", "--device", "cpu", "--threads", "1"])
    assert json.load(open(os.path.join(run, "report.json")))["stopped"] == "finished"
    log = read_log(run)
    assert [r["epoch"] for r in log] == ["1", "2"] and list(log[0]) == train.CSV_FIELDS
    assert all(float(r["images_per_s"]) > 0 and r["machine"] == train.machine("cpu", 1) for r in log)
    gpu_train.main(["--out", straight] + recipe)
    a = torch.load(os.path.join(run, "state.pt"), weights_only=False)["last"]
    b = torch.load(os.path.join(straight, "state.pt"), weights_only=False)["last"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k

    # The state is a committed run: restore, export's loader and train.py --resume take it.
    assert runstate.restore(first, fresh) == 1
    model, ck = load_checkpoint(os.path.join(fresh, "best.pt"))
    assert set(ck["model"]) == set(build("eprnet").state_dict()) and ck["epoch"] == 1
    train.main(["--out", fresh, "--resume", "--threads", "1"])
    last = torch.load(os.path.join(fresh, "last.pt"), weights_only=False)
    assert last["epoch"] == 2 and last["args"]["batch"] == 4 and last["args"]["photometric"] and last["args"]["ohem"] == 0.7
    assert [r["epoch"] for r in read_log(fresh)] == ["1", "2"]


@needs_camvid
def test_state_holds_what_train_py_checkpoints_hold(packed, tmp_path):
    cpu, gpu = str(tmp_path / "cpu"), str(tmp_path / "gpu")
    train.main(["--out", cpu, "--epochs", "2", "--stop-after", "1", "--limit-train", "4", "--limit-val", "1",
                "--crop", "32", "48", "--batch", "4", "--threads", "1"])
    gpu_train.main(["--out", gpu, "--data", packed[0], "--val-every", "3", "--epochs", "3"] + TINY[:-2])
    state = torch.load(os.path.join(gpu, "state.pt"), weights_only=False)
    restored = str(tmp_path / "restored")
    runstate.restore(os.path.join(gpu, "state.pt"), restored)
    for name in ("last.pt", "best.pt"):
        ours, theirs = (torch.load(os.path.join(d, name), weights_only=False) for d in (restored, cpu))
        assert set(ours) == set(theirs), name
    assert set(train.RECIPE_KEYS) <= set(state["last"]["args"])
    cpu_row = torch.load(os.path.join(cpu, "last.pt"), weights_only=False)["history"][0]
    assert all(set(row) == set(cpu_row) for row in state["last"]["history"])  # train.py's log columns
    # Validated every 3rd epoch and at the first and last of a call; the others say so.
    log = read_log(gpu)
    assert [r["val_bn"] for r in log] == ["precise", "none", "precise"] and log[1]["val_miou"] == ""
    assert state["last"]["epoch"] == 3 and state["last"]["val_miou"] == float(log[2]["val_miou"])

    # A CPU run continues on the GPU path; what it writes holds no NumPy objects (NumPy 2 there, 1.x here).
    cpu_state, cont = str(tmp_path / "cpu.pt"), str(tmp_path / "cont")
    runstate.save(cpu, cpu_state)
    gpu_train.main(["--out", cont, "--resume", "--state", cpu_state, "--device", "cpu", "--threads", "1"])
    last = torch.load(os.path.join(cont, "state.pt"), weights_only=False)["last"]
    assert last["epoch"] == 2 and last["args"]["batch"] == 4 and len(last["history"]) == 2
    for run in (gpu, cont):
        with zipfile.ZipFile(os.path.join(run, "state.pt")) as z:
            pickled = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
        modules = {arg.split()[0] for op, arg, _ in pickletools.genops(pickled) if op.name == "GLOBAL"}
        assert "torch._utils" in modules and not any(m.startswith("numpy") for m in modules), (run, modules)


# GPU augmentation, checked on CPU tensors.
H, W = 40, 60


def frames(n=2, seed=0):
    g = np.random.default_rng(seed)
    img = g.integers(0, 256, (n, H, W, 3), dtype=np.uint8)
    lbl = g.integers(0, VOID_LABEL + 1, (n, H, W), dtype=np.uint8)
    return img, lbl, torch.from_numpy(img).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(lbl)


def step(index, size, offset, flip, colour=None, noise=0.0, blur=0.0):
    n = len(index)
    eye = torch.cat([torch.eye(3), torch.zeros(3, 1)], 1)
    return {"index": torch.tensor(index), "size": torch.tensor(size), "offset": torch.tensor(offset),
            "flip": torch.tensor(flip), "colour": eye.expand(n, 3, 4) if colour is None else colour,
            "noise": torch.full((n,), noise), "blur": torch.full((n,), blur)}


def normalised(img):
    return (torch.from_numpy(img).permute(2, 0, 1).float() - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]


def test_unscaled_crop_is_a_slice_of_the_frame_and_flip_mirrors_it():
    img, lbl, images, labels = frames()
    p = step([1, 1], [[H, W], [H, W]], [[5, 7], [5, 7]], [False, True])
    x, y = gpu_aug.augment(images, labels, p, (32, 48))
    assert x.shape == (2, 3, 32, 48) and y.shape == (2, 32, 48) and y.dtype == torch.int64
    want = normalised(img[1])[:, 5:37, 7:55]
    assert torch.allclose(x[0], want, atol=1e-4) and torch.allclose(x[1], want.flip(-1), atol=1e-4)
    assert torch.equal(y[0], torch.from_numpy(lbl[1, 5:37, 7:55]).long()) and torch.equal(y[1], y[0].flip(-1))


def test_labels_follow_pil_nearest_resize_and_only_geometry_moves_them():
    img, lbl, images, labels = frames()
    # Scale 1.4 and 1.47. Sizes with no source pixel exactly halfway between two (a tie Pillow,
    # which steps its coordinate by repeated float additions, may break the other way).
    nh, nw = 56, 88
    p = step([0], [[nh, nw]], [[3, 4]], [False])
    _, y = gpu_aug.augment(images, labels, p, (32, 48))
    pil = np.asarray(Image.fromarray(lbl[0]).resize((nw, nh), Image.NEAREST))[3:35, 4:52]
    assert np.array_equal(y[0].numpy(), pil)
    g = np.random.default_rng(3)
    params, seed = gpu_aug.draw_epoch(g, gpu_aug.frame_greys(img), 2, (H, W), (32, 48), colour=True)
    plain = {k: v[0] for k, v in params.items()}
    jittered = dict(plain, noise=torch.full((2,), 8.0), blur=torch.full((2,), 1.2))
    _, y1 = gpu_aug.augment(images, labels, plain, (32, 48))
    x2, y2 = gpu_aug.augment(images, labels, jittered, (32, 48), colour=True, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(y1, y2) and set(y2.unique().tolist()) <= set(np.unique(lbl).tolist())


def test_where_the_scaled_frame_ends_the_crop_is_void_and_mean_colour():
    img, lbl, images, labels = frames()
    p = step([0], [[20, 30]], [[0, 0]], [False])  # scale 0.5: smaller than the 32x48 crop
    x, y = gpu_aug.augment(images, labels, p, (32, 48), colour=True)
    assert (y[0, 20:] == VOID_LABEL).all() and (y[0, :, 30:] == VOID_LABEL).all()
    assert (x[0, :, 20:] == 0).all() and (x[0, :, :, 30:] == 0).all()
    assert (y[0, :20, :30] != VOID_LABEL).float().mean() > 0.8 and (x[0, :, :20, :30] != 0).all()


def grey_batch(n=4):
    ramp = np.linspace(20, 230, W).astype(np.uint8)
    grey = np.broadcast_to(ramp[None, None, :, None], (n, H, W, 3)).copy()
    return grey, torch.from_numpy(grey).permute(0, 3, 1, 2).contiguous(), torch.zeros(n, H, W, dtype=torch.uint8)


def rgb_of(x):
    return (x * torch.tensor(STD)[:, None, None] + torch.tensor(MEAN)[:, None, None]).permute(0, 2, 3, 1)


def test_colour_step_applies_data_colour_matrix():
    grey, images, labels = grey_batch()
    params, _ = gpu_aug.draw_epoch(np.random.default_rng(5), gpu_aug.frame_greys(grey), 4, (H, W), (32, 48),
                                   colour=True)
    p = dict({k: v[0] for k, v in params.items()}, noise=torch.zeros(4), blur=torch.zeros(4))
    plain, y = gpu_aug.augment(images, labels, p, (32, 48))
    x, _ = gpu_aug.augment(images, labels, p, (32, 48), colour=True)
    inside = y != VOID_LABEL
    for b in range(4):  # y = M x + c on RGB columns, clipped, as data.photometric computes it
        m, c = p["colour"][b, :, :3].numpy(), p["colour"][b, :, 3].numpy()
        want = np.clip(rgb_of(plain)[b][inside[b]].numpy() @ m.T + c, 0, 255)
        assert np.allclose(rgb_of(x)[b][inside[b]].numpy(), want, atol=1e-3)
    assert (x[~inside[:, None].expand_as(x)] == 0).all()  # the padding stays the mean colour


def test_grey_stays_grey_through_a_grey_keeping_colour_change_and_blur():
    grey, images, labels = grey_batch()
    sat = 1.4 * np.eye(3) - 0.4 * np.outer(np.ones(3), data.LUMA)  # saturation 1.4: rows sum to one
    colour = torch.tensor(np.concatenate([0.8 * sat, np.full((3, 1), 10.0)], 1), dtype=torch.float32)
    p = step([0, 1, 2, 3], [[H, W]] * 4, [[2, 3]] * 4, [False, True, False, True], colour=colour.expand(4, 3, 4),
             noise=0.0)
    p["blur"] = torch.tensor([0.0, 0.3, 0.7, 1.2])
    plain, _ = gpu_aug.augment(images, labels, p, (32, 48))
    rgb = rgb_of(gpu_aug.augment(images, labels, p, (32, 48), colour=True)[0])
    assert torch.allclose(rgb[..., 0], rgb[..., 1], atol=1e-3) and torch.allclose(rgb[..., 1], rgb[..., 2], atol=1e-3)
    assert (rgb - rgb_of(plain)).abs().mean() > 5


def test_blur_is_per_frame_and_sigma_zero_leaves_a_frame_alone():
    x = torch.zeros(2, 3, 9, 20)
    x[..., 10:] = 100.0
    out = gpu_aug.blur(x, torch.tensor([0.0, 1.0]))
    assert torch.allclose(out[0], x[0], atol=1e-4)
    left, right = out[1, :, :, 9], out[1, :, :, 10]  # either side of the edge, softened symmetrically
    assert (0 < left).all() and (left < 50).all() and torch.allclose(left + right, torch.full_like(left, 100.0))


def test_epoch_draws_are_seeded_and_in_range():
    greys = [100.0] * 10
    a, sa = gpu_aug.draw_epoch(np.random.default_rng([1, 7]), greys, 4, (H, W), (32, 48), colour=True)
    b, sb = gpu_aug.draw_epoch(np.random.default_rng([1, 7]), greys, 4, (H, W), (32, 48), colour=True)
    assert sa == sb and all(torch.equal(a[k], b[k]) for k in a)
    assert a["index"].shape == (2, 4) and len(set(a["index"].flatten().tolist())) == 8  # partial batch dropped
    nh, nw = a["size"][..., 0], a["size"][..., 1]
    assert ((nh >= H // 2) & (nh <= 2 * H) & (nw >= W // 2) & (nw <= 2 * W)).all()
    assert ((a["offset"][..., 0] <= (nh - 32).clamp_min(0)) & (a["offset"][..., 1] <= (nw - 48).clamp_min(0))).all()
    assert ((a["blur"] == 0) | ((a["blur"] >= 0.3) & (a["blur"] <= 1.2))).all()


def test_saved_tensors_are_contiguous_copies_and_numpy_arrays_become_tensors():
    t = torch.ones(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    out = gpu_train.to_cpu({"model": [t, np.arange(3)], "meta": (1.5, "x", None)})
    assert out["model"][0].is_contiguous() and torch.equal(out["model"][0], t)
    assert out["model"][0].data_ptr() != t.data_ptr()  # the best checkpoint must not follow training
    assert torch.equal(out["model"][1], torch.arange(3)) and out["meta"] == (1.5, "x", None)
