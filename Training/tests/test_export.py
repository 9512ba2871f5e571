import numpy as np
import pytest
import torch

from eprnet.constants import metadata
from eprnet.export import ExportEPRNet, export_onnx
from eprnet.model import build

onnx = pytest.importorskip("onnx")
from onnx import numpy_helper  # noqa: E402


def randomized(name, seed=0):
    """A model whose BN statistics and PReLU slopes are far from their defaults, so folding and
    the LeakyReLU rewrite are really exercised."""
    torch.manual_seed(seed)
    m = build(name)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
        if isinstance(mod, torch.nn.PReLU):
            mod.weight.data.uniform_(-0.3, 0.6)
    return m.eval()


@pytest.mark.parametrize("name", ["eprnet", "eprnet-light"])
def test_rewritten_model_equals_original(name):
    m = randomized(name)
    x = torch.randn(2, 3, 48, 64)
    with torch.no_grad():
        a, b = m(x), ExportEPRNet(m)(x)
    assert a.abs().max() > 0.05
    assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)
    assert torch.equal(a.argmax(1), b.argmax(1))


@pytest.fixture(scope="module", params=["eprnet", "eprnet-light"])
def exported(request, tmp_path_factory):
    m = randomized(request.param)
    path = str(tmp_path_factory.mktemp("onnx") / (request.param + ".onnx"))
    export_onnx(m, path, request.param + "-test")
    return m, path


def test_graph_has_the_rewrites(exported):
    _, path = exported
    g = onnx.load(path).graph
    ops = [n.op_type for n in g.node]
    assert "PRelu" not in ops and "BatchNormalization" not in ops
    assert ops.count("LeakyRelu") > 0
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in g.node if n.op_type == "Constant"}
    inits.update(consts)
    repeats = [inits[n.input[1]] for n in g.node if n.op_type == "Gather" and n.input[1] in inits
               and inits[n.input[1]].ndim == 1 and inits[n.input[1]].size > 1]
    # one channel-repeat Gather per widening MPU (16->32, 32->64, 64->128), shared by its branches
    assert sorted(r.size for r in repeats) == [32, 64, 128]
    for r in repeats:
        assert np.array_equal(r, np.arange(r.size // 2).repeat(2))
    for n in g.node:
        if n.op_type == "Conv":
            group = next((a.i for a in n.attribute if a.name == "group"), 1)
            w = inits[n.input[1]]
            if group > 1:  # every grouped conv is now a true depthwise conv
                assert group == w.shape[0] and w.shape[1] == 1


def test_interface_and_metadata(exported):
    _, path = exported
    m = onnx.load(path)
    assert [i.name for i in m.graph.input] == ["image"] and [o.name for o in m.graph.output] == ["logits"]
    dims = [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, "height", "width"]
    meta = {p.key: p.value for p in m.metadata_props}
    for k, v in metadata(meta["model_name"]).items():
        assert meta[k] == v
    assert set(["mean", "std", "class_names", "palette", "input_size", "void_label", "model_name"]) <= set(meta)


def test_onnxruntime_matches_pytorch(exported):
    ort = pytest.importorskip("onnxruntime")
    model, path = exported
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for h, w in [(48, 64), (40, 72)]:  # dynamic H and W
        x = torch.randn(1, 3, h, w)
        with torch.no_grad():
            ref = model(x).numpy()
        out = sess.run(["logits"], {"image": x.numpy()})[0]
        assert out.shape == ref.shape == (1, 11, h, w)
        assert np.abs(out - ref).max() < 1e-4
