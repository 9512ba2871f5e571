import json
import os

import pytest

from conftest import needs_camvid
from eprnet import data, holdout


def fake_camvid(root, names):
    """A CamVid-shaped root: NAMES maps split -> frame names (labels share the name)."""
    for split, frames in names.items():
        os.makedirs(os.path.join(root, split))
        os.makedirs(os.path.join(root, split + "annot"))
        with open(os.path.join(root, split + ".txt"), "w") as f:
            for n in frames:
                for folder in (split, split + "annot"):
                    open(os.path.join(root, folder, n), "w").close()
                f.write("/%s/%s /%sannot/%s\n" % (split, n, split, n))


def test_the_held_out_sequence_leaves_train_and_is_tested_whole(tmp_path):
    src = str(tmp_path / "camvid")
    fake_camvid(src, {"train": ["A_1.png", "B_1.png", "A_2.png", "C_1.png"],
                      "val": ["B_%d.png" % i for i in range(2, 20)]})
    out = str(tmp_path / "holdout")
    splits = holdout.build(out, "B", src)
    assert [holdout.sequence_of(p[0]) for p in splits["train"]] == ["A", "A", "C"]
    assert len(splits["test"]) == 19 and {holdout.sequence_of(p[0]) for p in splits["test"]} == {"B"}
    assert splits["val"] == splits["test"][::holdout.MONITOR_EVERY] and len(splits["val"]) == 3
    # The written root reads back through the training loader's own reader, files resolved.
    for name in ("train", "val", "test"):
        pairs = data.read_split(name, out)
        assert len(pairs) == len(splits[name])
        assert all(os.path.exists(path) for pair in pairs for path in pair)
    assert os.path.islink(os.path.join(out, "valannot"))


def test_an_unknown_sequence_is_a_clear_error(tmp_path):
    src = str(tmp_path / "camvid")
    fake_camvid(src, {"train": ["A_1.png"], "val": ["B_1.png"]})
    with pytest.raises(SystemExit, match="no frames of sequence Z .*sequences: A, B"):
        holdout.build(str(tmp_path / "out"), "Z", src)


@needs_camvid
def test_camvid_without_0016E5(tmp_path):
    splits = holdout.build(str(tmp_path / "h"), "0016E5")
    assert (len(splits["train"]), len(splits["test"])) == (62 + 101, 204 + 101)


def test_compare_table_shows_each_arm_and_the_difference():
    a = {"iou": {"Sky": 0.9, "Road": 0.5}, "miou": 0.7}
    b = {"iou": {"Sky": 0.85, "Road": 0.61}, "miou": 0.73}
    rows = holdout.compare({"without": a, "with": b}).split("\n")
    assert rows[0] == "| class | without | with | difference |"
    assert rows[2] == "| Sky | 90.0 | 85.0 | -5.0 |"
    assert rows[3] == "| Road | 50.0 | 61.0 | +11.0 |"
    assert rows[4] == "| **mIoU** | **70.0** | **73.0** | **+3.0** |"


def test_compare_with_several_seeds_averages_them_and_lists_each():
    a1, a2 = {"iou": {"Sky": 0.9}, "miou": 0.40}, {"iou": {"Sky": 0.8}, "miou": 0.42}
    b1, b2 = {"iou": {"Sky": 0.7}, "miou": 0.45}, {"iou": {"Sky": 0.8}, "miou": 0.43}
    rows = holdout.compare({"without": [a1, a2], "with": [b1, b2]}).split("\n")
    assert rows[2] == "| Sky | 85.0 | 75.0 | -10.0 |"
    assert rows[3] == "| **mIoU** (mean of 2 seeds) | **41.0** | **44.0** | **+3.0** |"
    assert rows[4] == "| mIoU, each seed | 40.0, 42.0 | 45.0, 43.0 | +5.0, +1.0 |"


def test_compare_refuses_arms_with_different_seed_counts():
    a = {"iou": {"Sky": 0.9}, "miou": 0.4}
    with pytest.raises(SystemExit, match="same number of seeds: without 2, with 1"):
        holdout.compare({"without": [a, a], "with": [a]})


def test_compare_reads_several_results_per_arm_from_the_command_line(tmp_path, capsys):
    paths = []
    for i, miou in enumerate([0.40, 0.42, 0.45, 0.43]):
        paths.append(tmp_path / ("r%d.json" % i))
        paths[-1].write_text(json.dumps({"iou": {"Sky": miou}, "miou": miou}))
    holdout.main(["--compare", "without=%s,%s" % tuple(paths[:2]), "with=%s,%s" % tuple(paths[2:])])
    assert "| mIoU, each seed | 40.0, 42.0 | 45.0, 43.0 | +5.0, +1.0 |" in capsys.readouterr().out
