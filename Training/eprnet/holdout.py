"""A CamVid root that holds one sequence out, to measure accuracy on streets a model has not seen.

Val (0016E5) shares its sequence with train, so val mIoU overstates accuracy elsewhere. Here train
keeps the other sequences only, `test.txt` lists every labelled frame of the held-out sequence
(its train and val frames), and `val.txt` every 8th of those, a cheap per-epoch monitor. The image
folders are symlinks to the real dataset, so nothing is copied.

    python -m eprnet.holdout --sequence 0016E5 --out runs/holdout-0016E5
    python -m eprnet.train --data runs/holdout-0016E5 ...; evaluate.py --data ... --split test
"""
import argparse
import json
import os

from .data import DATASET_ROOT, frame_name, read_split

MONITOR_EVERY = 8


def sequence_of(image_path):
    """CamVid names frames SEQUENCE_FRAME (0016E5_07959.png, Seq05VD_f00000.png)."""
    return frame_name(image_path).split("_")[0]


def build(out, sequence, root=DATASET_ROOT):
    """Write OUT/{train,val,test}.txt and link the image folders; returns the three lists
    (pairs of paths relative to the root, as CamVid's own lists give them)."""
    splits = {name: [tuple(os.path.relpath(path, root) for path in pair) for pair in read_split(name, root)]
              for name in ("train", "val")}
    everything = splits["train"] + splits["val"]
    held = [p for p in everything if sequence_of(p[0]) == sequence]
    if not held:
        raise SystemExit("no frames of sequence %s in %s (sequences: %s)" % (
            sequence, root, ", ".join(sorted({sequence_of(p[0]) for p in everything}))))
    written = {"train": [p for p in splits["train"] if sequence_of(p[0]) != sequence],
               "val": held[::MONITOR_EVERY], "test": held}
    os.makedirs(out, exist_ok=True)
    for folder in {os.path.dirname(path) for pair in everything for path in pair}:
        link = os.path.join(out, folder)
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(os.path.join(root, folder)), link)
    for name, pairs in written.items():
        with open(os.path.join(out, name + ".txt"), "w") as f:
            f.writelines("%s %s\n" % pair for pair in pairs)
    return written


def compare(results):
    """Markdown table of per-class IoU (%), one column per {arm: evaluate.py result}, and the
    difference of the last column from the first."""
    names = list(results)
    first, last = results[names[0]], results[names[-1]]
    rows = ["| class | " + " | ".join(names) + " | difference |", "|---" * (len(names) + 2) + "|"]
    for c in first["iou"]:
        rows.append("| %s | " % c + " | ".join("%.1f" % (100 * results[n]["iou"][c]) for n in names)
                    + " | %+.1f |" % (100 * (last["iou"][c] - first["iou"][c])))
    rows.append("| **mIoU** | " + " | ".join("**%.1f**" % (100 * results[n]["miou"]) for n in names)
                + " | **%+.1f** |" % (100 * (last["miou"] - first["miou"])))
    return "\n".join(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sequence", default="0016E5", help="the sequence to hold out")
    p.add_argument("--out", default=None, help="default runs/holdout-SEQUENCE")
    p.add_argument("--data", default=DATASET_ROOT)
    p.add_argument("--compare", nargs="+", metavar="NAME=RESULT.json",
                   help="print the per-class table of evaluate.py results instead")
    args = p.parse_args(argv)
    if args.compare:
        results = {}
        for item in args.compare:
            name, _, path = item.rpartition("=")
            with open(path) as f:
                results[name or path] = json.load(f)
        print(compare(results))
        return
    out = args.out or os.path.join("runs", "holdout-" + args.sequence)
    splits = build(out, args.sequence, args.data)
    print("%s: train %d frames (other sequences), val %d (monitor), test %d (all of %s)" % (
        out, len(splits["train"]), len(splits["val"]), len(splits["test"]), args.sequence))


if __name__ == "__main__":
    main()
