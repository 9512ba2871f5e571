import os

import torch

from conftest import needs_camvid
from eprnet import runstate, train
from test_train import TINY, read_log


@needs_camvid
def test_committed_state_resumes_bit_identically_in_a_fresh_directory(tmp_path):
    straight, here, elsewhere = (str(tmp_path / d) for d in ("straight", "here", "elsewhere"))
    state = str(tmp_path / "checkpoints" / "run.pt")
    recipe = ["--epochs", "2", "--photometric", "--ohem", "0.7"] + TINY  # the resume takes both from args.json
    train.main(["--out", straight] + recipe)
    train.main(["--out", here, "--stop-after", "1"] + recipe)
    assert runstate.save(here, state) == 1
    assert runstate.save(here, state) is None  # unchanged run: the file is not rewritten

    # Another machine: only the committed file; the resume command line carries no recipe.
    assert runstate.restore(state, elsewhere) == 1
    train.main(["--out", elsewhere, "--resume", "--threads", "1"])
    a = torch.load(os.path.join(straight, "last.pt"), weights_only=False)
    b = torch.load(os.path.join(elsewhere, "last.pt"), weights_only=False)
    assert a["epoch"] == b["epoch"] == 2 and b["args"]["photometric"] and b["args"]["ohem"] == 0.7
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert read_log(straight) == read_log(elsewhere)
    best_a = torch.load(os.path.join(straight, "best.pt"), weights_only=False)
    best_b = torch.load(os.path.join(elsewhere, "best.pt"), weights_only=False)
    assert best_a["epoch"] == best_b["epoch"]
    for k in best_a["model"]:
        assert torch.equal(best_a["model"][k], best_b["model"][k]), k


@needs_camvid
def test_restore_never_overwrites_a_run_that_is_further_along(tmp_path):
    run, state = str(tmp_path / "run"), str(tmp_path / "state.pt")
    train.main(["--out", run, "--epochs", "3", "--stop-after", "1"] + TINY)
    runstate.save(run, state)
    train.main(["--out", run, "--resume", "--threads", "1", "--stop-after", "1"])
    assert runstate.restore(state, run) is None
    assert torch.load(os.path.join(run, "last.pt"), weights_only=False)["epoch"] == 2
    assert runstate.restore(str(tmp_path / "absent.pt"), run) is None


@needs_camvid
def test_state_keeps_best_weights_once_when_best_is_the_last_epoch(tmp_path):
    run, state = str(tmp_path / "run"), str(tmp_path / "state.pt")
    train.main(["--out", run, "--epochs", "1"] + TINY)  # one epoch: best.pt is last.pt's epoch
    runstate.save(run, state)
    packed = torch.load(state, weights_only=False)
    assert "model" not in packed["best"] and packed["best"]["model_from_last"]
    fresh = str(tmp_path / "fresh")
    runstate.restore(state, fresh)
    best = torch.load(os.path.join(fresh, "best.pt"), weights_only=False)
    last = torch.load(os.path.join(run, "last.pt"), weights_only=False)
    assert all(torch.equal(best["model"][k], last["model"][k]) for k in last["model"])
