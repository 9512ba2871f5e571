import json
import os

import numpy as np
import pytest

from conftest import needs_camvid
from test_export import randomized
from eprnet import data, evaluate
from eprnet.export import export_onnx


@needs_camvid
def test_onnx_eval_matches_pytorch_eval(tmp_path):
    pytest.importorskip("onnxruntime")
    import torch
    model = randomized("eprnet")
    ckpt, onnx_path = str(tmp_path / "m.pt"), str(tmp_path / "m.onnx")
    torch.save({"model": model.state_dict(), "model_name": "eprnet", "num_classes": 11, "epoch": 3}, ckpt)
    export_onnx(model, onnx_path, "t")
    images, labels, _ = data.load_split("val", limit=2)
    cm_t = evaluate.confusion_over(evaluate.torch_predictor(ckpt)[0], images, labels)
    cm_o = evaluate.confusion_over(evaluate.onnx_predictor(onnx_path)[0], images, labels)
    assert cm_t.sum() == cm_o.sum() == sum(int((l < 11).sum()) for l in labels)
    assert np.abs(cm_t - cm_o).sum() <= 2e-4 * cm_t.sum()  # only near-tied logits may flip


def test_cli_outputs(tmp_path, monkeypatch):
    cm = np.diag(np.arange(1, 12))
    cm[0, 1] = 5
    res = evaluate.summarize(cm, {"backend": "x"})
    assert np.isclose(res["iou"]["Sky"], 1 / 6) and np.isclose(res["iou"]["Building"], 2 / 7)
    md = evaluate.table(res)
    assert "| Sky | 16.7 |" in md and "mIoU" in md
    png = str(tmp_path / "bar.png")
    evaluate.bar_chart(res, png)
    assert os.path.getsize(png) > 1000
    json.dumps(res)  # results are plain JSON
