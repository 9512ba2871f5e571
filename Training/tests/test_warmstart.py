import numpy as np
import pytest
import torch

from eprnet import data
from eprnet.export import ExportEPRNet, export_onnx
from eprnet.warmstart import from_onnx, onnx_module_path
from test_export import randomized

pytest.importorskip("onnx")


def test_onnx_scope_names_map_to_module_paths():
    assert onnx_module_path("/stem/stem.1/LeakyRelu") == "stem.1"
    assert onnx_module_path("/body/body.0/mpu/branches.0/branches.0.1/LeakyRelu") == "body.0.mpu.branches.0.1"
    assert onnx_module_path("/body/body.7/act/LeakyRelu") == "body.7.act"


def frames():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (40, 56, 3), dtype=np.uint8) for _ in range(6)]


@pytest.fixture(scope="module", params=["eprnet", "eprnet-light"])
def rebuilt(request, tmp_path_factory):
    original = randomized(request.param, seed=3)
    path = str(tmp_path_factory.mktemp("warm") / "m.onnx")
    export_onnx(original, path, request.param + "-camvid", extra_meta={"epoch": "30"})
    images = frames()
    model, meta = from_onnx(path, images, batch=len(images))
    x = torch.from_numpy(np.stack([data.normalize(im) for im in images]))
    return original, model, meta, x, request.param


def test_rebuilt_module_computes_the_shipped_function(rebuilt):
    original, model, meta, x, name = rebuilt
    assert meta["epoch"] == "30" and model.light == (name == "eprnet-light")
    with torch.no_grad():
        want, got = ExportEPRNet(original)(x), model.eval()(x)
    assert want.abs().max() > 0.05
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4)


def test_batch_statistics_reproduce_the_folded_affine(rebuilt):
    """In training mode each BN normalises with the batch's statistics; over the very frames
    whose statistics set gamma and beta that is the shipped function again (only the biased vs
    unbiased variance differs)."""
    _, model, _, x, _ = rebuilt
    with torch.no_grad():
        want = model.eval()(x)
        model.train()
        model.dropout.eval()
        got = model(x)
        model.eval()
    assert torch.allclose(got, want, atol=1e-2, rtol=1e-2), (got - want).abs().max()
    assert (got.argmax(1) == want.argmax(1)).float().mean() > 0.99


def test_missing_pieces_are_refused(tmp_path):
    import onnx
    original = randomized("eprnet", seed=1)
    path = str(tmp_path / "m.onnx")
    export_onnx(original, path, "eprnet-light-camvid")  # metadata says Light, tensors are EPRNet's
    with pytest.raises((AssertionError, KeyError)):
        from_onnx(path, frames(), batch=6)
    assert onnx.load(path)  # the file itself is fine
