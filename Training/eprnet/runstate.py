"""A training run's resumable state as one committed file, so a run outlives the machine.

A run directory (runs/NAME/) is git-ignored and lives on one machine. `save` packs what resuming
needs into checkpoints/NAME.pt, which is committed: last.pt (weights, optimizer, epoch, RNG
states, log history, recipe) and best.pt (the weights that export ships; stored only when they
are not last.pt's). `restore` unpacks it into a run directory that has no newer state of its own,
so `make train-resume` on a fresh clone continues the run exactly (train.py seeds each epoch's
augmentation and shuffling from the recipe).
"""
import argparse
import json
import os

import torch

FORMAT = 1


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=False)  # our own files: RNG states, history


def _epoch(path):
    return _load(path)["epoch"] if os.path.exists(path) else -1


def pack(last, best):
    """The committed-run file's content: last.pt and best.pt, best's weights stored only when
    they are not last's (the same epoch)."""
    if best is not None and best["epoch"] == last["epoch"]:
        best = dict({k: v for k, v in best.items() if k != "model"}, model_from_last=True)
    return {"format": FORMAT, "last": last, "best": best}


def unpack(state, path="state"):
    """(last, best) as train.py writes last.pt and best.pt, from pack()'s content."""
    if state.get("format") != FORMAT:
        raise SystemExit("%s: unknown state format %r (expected %d)" % (path, state.get("format"), FORMAT))
    last, best = state["last"], state["best"]
    if best is not None and best.get("model_from_last"):
        best = dict({k: v for k, v in best.items() if k != "model_from_last"}, model=last["model"])
    return last, best


def save(run_dir, state_path):
    """Packs run_dir's last.pt and best.pt into state_path (atomically). Returns the epoch saved,
    or None when state_path already holds that epoch (nothing rewritten, so git sees no change)."""
    last = _load(os.path.join(run_dir, "last.pt"))
    if os.path.exists(state_path) and _load(state_path)["last"]["epoch"] == last["epoch"]:
        return None
    best_path = os.path.join(run_dir, "best.pt")
    best = _load(best_path) if os.path.exists(best_path) else None
    os.makedirs(os.path.dirname(os.path.abspath(state_path)), exist_ok=True)
    tmp = state_path + ".tmp"
    torch.save(pack(last, best), tmp)
    os.replace(tmp, state_path)
    return last["epoch"]


def restore(state_path, run_dir):
    """Unpacks state_path into run_dir unless run_dir already has the same or a later epoch.
    Returns the epoch restored, or None when nothing was written."""
    if not os.path.exists(state_path):
        return None
    last, best = unpack(_load(state_path), state_path)
    if _epoch(os.path.join(run_dir, "last.pt")) >= last["epoch"]:
        return None
    os.makedirs(run_dir, exist_ok=True)
    from .train import save_atomic, write_log  # lazily: train imports nothing from here
    if best is not None:
        save_atomic(best, os.path.join(run_dir, "best.pt"))
    save_atomic(last, os.path.join(run_dir, "last.pt"))
    with open(os.path.join(run_dir, "args.json"), "w") as f:
        json.dump(last["args"], f, indent=1)
    write_log(run_dir, last["history"])
    return last["epoch"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["save", "restore"])
    p.add_argument("--run", required=True, help="run directory, e.g. runs/eprnet-camvid")
    p.add_argument("--state", required=True, help="committed state file, e.g. checkpoints/eprnet-camvid.pt")
    args = p.parse_args(argv)
    if args.action == "save":
        epoch = save(args.run, args.state)
        print("%s: %s" % (args.state, "epoch %d saved" % epoch if epoch is not None else "already at the run's epoch"))
    elif not os.path.exists(args.state):
        print("%s: no committed state; %s is left as it is" % (args.state, args.run))
    else:
        epoch = restore(args.state, args.run)
        print("%s: %s" % (args.run, "restored epoch %d from %s" % (epoch, args.state) if epoch is not None
                          else "has its own state, same or newer than %s" % args.state))


if __name__ == "__main__":
    main()
