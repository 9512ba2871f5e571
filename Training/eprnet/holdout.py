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
    """Markdown table of per-class IoU (%), one column per arm, and the difference of the last
    column from the first. An arm is one evaluate.py result, or a list of them (one per seed):
    then each cell is the mean over the seeds, and a last row gives each seed's mIoU."""
    runs = {name: r if isinstance(r, list) else [r] for name, r in results.items()}
    names = list(runs)
    seeds = len(runs[names[0]])
    if any(len(runs[n]) != seeds for n in names):
        raise SystemExit("every arm needs the same number of seeds: %s" % ", ".join(
            "%s %d" % (n, len(runs[n])) for n in names))

    def mean(name, key, c=None):
        values = [r[key][c] if c else r[key] for r in runs[name]]
        return 100 * sum(values) / len(values)

    def row(label, key, c=None, bold=False):
        cells = ["%.1f" % mean(n, key, c) for n in names]
        cells.append("%+.1f" % (mean(names[-1], key, c) - mean(names[0], key, c)))
        return "| %s | " % label + " | ".join("**%s**" % x if bold else x for x in cells) + " |"

    rows = ["| class | " + " | ".join(names) + " | difference |", "|---" * (len(names) + 2) + "|"]
    rows += [row(c, "iou", c) for c in runs[names[0]][0]["iou"]]
    rows.append(row("**mIoU**" + (" (mean of %d seeds)" % seeds if seeds > 1 else ""), "miou", bold=True))
    if seeds > 1:
        each = [[100 * r["miou"] for r in runs[n]] for n in names]
        gaps = [b - a for a, b in zip(each[0], each[-1])]
        rows.append("| mIoU, each seed | " + " | ".join(", ".join("%.1f" % v for v in e) for e in each)
                    + " | " + ", ".join("%+.1f" % g for g in gaps) + " |")
    return "\n".join(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sequence", default="0016E5", help="the sequence to hold out")
    p.add_argument("--out", default=None, help="default runs/holdout-SEQUENCE")
    p.add_argument("--data", default=DATASET_ROOT)
    p.add_argument("--compare", nargs="+", metavar="NAME=RESULT.json[,RESULT.json...]",
                   help="print the per-class table of evaluate.py results instead (several per arm: one per seed)")
    args = p.parse_args(argv)
    if args.compare:
        results = {}
        for item in args.compare:
            name, _, paths = item.rpartition("=")
            loaded = []
            for path in paths.split(","):
                with open(path) as f:
                    loaded.append(json.load(f))
            results[name or paths] = loaded if len(loaded) > 1 else loaded[0]
        print(compare(results))
        return
    out = args.out or os.path.join("runs", "holdout-" + args.sequence)
    splits = build(out, args.sequence, args.data)
    print("%s: train %d frames (other sequences), val %d (monitor), test %d (all of %s)" % (
        out, len(splits["train"]), len(splits["val"]), len(splits["test"]), args.sequence))


if __name__ == "__main__":
    main()
