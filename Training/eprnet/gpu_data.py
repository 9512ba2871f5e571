"""CamVid train + val packed small enough to travel to a GPU machine (`make gpu-data`).

The GPU machine has no network, and everything that travels there (the repository and what the
device tool carries) counts against one size limit, so the frames go as JPEG quality 90 (about
46 KB each instead of 250 KB of PNG; optimised and progressive, which change no pixel) and the
labels as PNG re-encoded with optimisation (lossless: a label must not change). The folder has CamVid's layout (train.txt, train/, trainannot/, ...),
so data.load_split reads it as it reads CamVid, on the GPU machine and here alike.
"""
import argparse
import os
import shutil

from PIL import Image

from . import data

SPLITS = ("train", "val")
QUALITY = 90
MAX_MIB = 32


def folder_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def pack(root, out, limit=None, max_bytes=MAX_MIB << 20):
    """Writes the packed splits of the CamVid at `root` to `out` (replacing an earlier pack) and
    returns its size in bytes; over max_bytes nothing is left behind and SystemExit says so."""
    if os.path.exists(out) and not os.path.exists(os.path.join(out, "train.txt")):
        raise SystemExit("%s exists and is not a packed CamVid: not replacing it" % out)
    tmp = out.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for split in SPLITS:
        os.makedirs(os.path.join(tmp, split))
        os.makedirs(os.path.join(tmp, split + "annot"))
        lines = []
        for img_path, lbl_path in data.read_split(split, root)[:limit]:
            name = data.frame_name(img_path)
            img, lbl = "%s/%s.jpg" % (split, name), "%sannot/%s.png" % (split, name)
            Image.open(img_path).convert("RGB").save(os.path.join(tmp, img), "JPEG", quality=QUALITY,
                                                     optimize=True, progressive=True)
            Image.open(lbl_path).save(os.path.join(tmp, lbl), "PNG", optimize=True)
            lines.append("%s %s\n" % (img, lbl))
        with open(os.path.join(tmp, split + ".txt"), "w") as f:
            f.writelines(lines)
    size = folder_bytes(tmp)
    if size > max_bytes:
        shutil.rmtree(tmp)
        raise SystemExit("packed CamVid is %.1f MiB, over the %.1f MiB limit" % (size / 2**20, max_bytes / 2**20))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return size


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=data.DATASET_ROOT, help="CamVid root")
    p.add_argument("--out", default="gpu-data")
    p.add_argument("--max-mib", type=float, default=MAX_MIB)
    args = p.parse_args(argv)
    size = pack(args.data, args.out, max_bytes=int(args.max_mib * 2**20))
    frames = sum(len(data.read_split(s, args.out)) for s in SPLITS)
    print("%s: %d frames (JPEG q%d) + labels, %.1f MiB (limit %g MiB)" % (
        args.out, frames, QUALITY, size / 2**20, args.max_mib))


if __name__ == "__main__":
    main()
