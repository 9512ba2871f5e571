import numpy as np

from conftest import needs_camvid
from eprnet import constants, data


def test_constants_in_one_place():
    assert constants.MEAN == (123.675, 116.28, 103.53)
    assert constants.STD == (58.395, 57.12, 57.375)
    assert len(constants.CLASS_NAMES) == len(constants.PALETTE) == constants.NUM_CLASSES == 11
    assert constants.PALETTE[3] == (128, 64, 128) and constants.CLASS_NAMES[3] == "Road"
    assert constants.VOID_LABEL == 11


def test_metadata_format():
    m = constants.metadata("x")
    assert m["mean"] == "123.675,116.28,103.53" and m["std"] == "58.395,57.12,57.375"
    assert m["class_names"].split(",")[0] == "Sky" and len(m["class_names"].split(",")) == 11
    assert m["palette"].split(";")[4] == "60,40,222"
    assert m["input_size"] == "360x480" and m["void_label"] == "11" and m["model_name"] == "x"


def test_normalize():
    img = np.zeros((2, 3, 3), np.uint8)
    img[..., 0] = 255
    x = data.normalize(img)
    assert x.shape == (3, 2, 3) and x.dtype == np.float32
    assert np.allclose(x[0], (255 - 123.675) / 58.395) and np.allclose(x[2], -103.53 / 57.375)


def test_augment_pads_with_void_and_crops():
    rng = np.random.default_rng(0)
    img = np.full((36, 48, 3), 200, np.uint8)
    lbl = np.full((36, 48), 3, np.uint8)
    saw_void = False
    for _ in range(20):
        im, lb = data.augment(img, lbl, (40, 56), rng)
        assert im.shape == (40, 56, 3) and lb.shape == (40, 56)
        assert set(np.unique(lb)) <= {3, 11}
        saw_void |= bool((lb == 11).any())
        # padded image pixels are the mean colour, so they normalise to ~0
        assert np.allclose(data.normalize(im)[:, lb == 11], 0, atol=0.01)
    assert saw_void


def test_augment_keeps_image_and_label_aligned():
    rng = np.random.default_rng(1)
    lbl = np.tile(np.arange(8, dtype=np.uint8).repeat(6), (32, 1))  # vertical stripes
    img = np.stack([lbl * 30] * 3, -1).astype(np.uint8)
    for _ in range(10):
        im, lb = data.augment(img, lbl, (32, 32), rng)
        ok = lb != 11
        assert np.abs(im[..., 0][ok].astype(int) - lb[ok].astype(int) * 30).max() <= 30


def test_class_weights_favour_rare_classes():
    lbl = np.zeros((10, 10), np.uint8)
    lbl[0, 0] = 1
    lbl[1, :] = 11
    w = data.class_weights([lbl], num_classes=2)
    assert w[1] > w[0] > 0


@needs_camvid
def test_splits():
    assert len(data.read_split("train")) == 367
    val = data.read_split("val")
    assert len(val) == 101 and data.frame_name(val[0][0]) == "0016E5_07959"
    img, lbl = data.load_pair(*val[0])
    assert img.shape == (360, 480, 3) and lbl.shape == (360, 480) and lbl.max() <= 11


def test_colour_changes():
    grey, colour = np.full(3, 90.0), np.array([200.0, 60.0, 20.0])

    def apply(map_, x):
        m, c = map_
        return m @ x + c
    for f in (0.6, 1.4):
        assert np.ptp(apply(data.saturation(f), grey)) < 1e-4  # grey stays grey
        assert np.allclose(apply(data.contrast(f, 90.0), grey), grey, atol=1e-4)  # the pivot stays put
        assert np.allclose(apply(data.brightness(f), colour), f * colour)
    assert np.allclose(apply(data.saturation(0.0), colour), colour @ data.LUMA, atol=1e-3)
    for turns in (-0.05, 0.03):
        assert np.ptp(apply(data.hue(turns), grey)) < 1e-4
        assert np.isclose(np.linalg.norm(apply(data.hue(turns), colour)), np.linalg.norm(colour), rtol=1e-5)
    assert np.allclose(apply(data.hue(1.0), colour), colour, atol=1e-3)  # a whole turn
    assert np.allclose(apply(data.white_balance(1.2, 0.8), colour), [240, 60, 16], atol=1e-4)
    m, c = data.colour_matrix(np.random.default_rng(3), grey=90.0)
    m2, c2 = data.colour_matrix(np.random.default_rng(3), grey=90.0)
    assert np.array_equal(m, m2) and np.array_equal(c, c2) and not np.allclose(m, np.eye(3))
    out = data.photometric(np.full((8, 8, 3), 90, np.uint8), np.random.default_rng(0))
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8


def test_photometric_recolours_but_keeps_geometry_and_labels():
    rng0 = np.random.default_rng(5)
    img = rng0.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    lbl = rng0.integers(0, 11, (60, 80), dtype=np.uint8)
    plain = data.augment(img, lbl, (32, 32), np.random.default_rng(1), scale=(1.0, 1.0))
    again = data.augment(img, lbl, (32, 32), np.random.default_rng(1), scale=(1.0, 1.0))
    assert np.array_equal(plain[0], again[0]) and np.array_equal(plain[1], again[1])
    changed = 0
    for seed in range(10):
        x, y = data.augment(img, lbl, (60, 80), np.random.default_rng(seed), scale=(1.0, 1.0), colour=True)
        flipped = not np.array_equal(y, lbl)
        assert np.array_equal(y, lbl[:, ::-1] if flipped else lbl)  # whole frame: only a flip moves labels
        ref = img[:, ::-1] if flipped else img
        changed += not np.array_equal(x, ref)
        # a colour change is one per-image map: pixels equal before stay equal up to noise
        assert np.abs(x.astype(int) - ref.astype(int)).mean() < 80
    assert changed == 10


def test_photometric_leaves_the_padding_at_the_mean_colour():
    img = np.full((20, 30, 3), 200, np.uint8)
    lbl = np.zeros((20, 30), np.uint8)
    mean_rgb = [round(m) for m in constants.MEAN]
    recoloured = 0
    for seed in range(5):
        x, y = data.augment(img, lbl, (64, 64), np.random.default_rng(seed), scale=(1.0, 1.0), colour=True)
        pad = y == constants.VOID_LABEL
        assert pad.sum() == 64 * 64 - 20 * 30
        assert (x[pad] == mean_rgb).all()
        recoloured += not (x[~pad] == 200).all()
    assert recoloured == 5
