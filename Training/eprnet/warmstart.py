"""A trainable EPRNet from a shipped ONNX file: export.py's rewrites undone.

The ONNX holds an inference-only network (export.ExportEPRNet): every BN folded into the conv
before it (weight W_f, bias b_f), PReLU as LeakyRelu(alpha), and the channel-doubling depthwise
convs as a Gather + true depthwise conv with the same weights. Undoing that:

1. LeakyRelu(alpha) -> PReLU with one shared slope alpha (the same function).
2. Gather + true depthwise (groups=2C, 2C -> 2C) -> grouped conv (groups=C, C -> 2C): the weight
   tensor has the same shape and meaning ([2C, 1, k, k], output o reads input o // 2).
3. Folded conv -> conv W_f without bias + BN whose population statistics over the train split
   (the network run as shipped, full-size frames) are (mu, var) per channel: gamma = sqrt(var + eps),
   beta = mu + b_f, running statistics (mu, var). In eval mode that BN computes exactly z + b_f, the
   shipped function; in training mode it normalises with batch statistics, which for batches like
   the train split's reproduce the folded affine, so training continues from the shipped model
   instead of from a BN that would first rescale every layer to unit variance.

What cannot come back: the optimizer's momentum (starts at zero) and the conv weights' own scale
before folding (W_f carries the BN scale; BN makes the function independent of it, weight decay
and the effective step size are not).
"""
import argparse

import numpy as np
import torch
import torch.nn as nn

from . import data, metrics
from .constants import NUM_CLASSES
from .model import EPRNet, build
from .precise_bn import population_statistics


def onnx_module_path(node_name):
    """'/body/body.0/mpu/branches.0/branches.0.1/LeakyRelu' -> 'body.0.mpu.branches.0.1': torch's
    ONNX scopes name a Sequential/ModuleList child by its parent's name plus the index."""
    parts = node_name.strip("/").split("/")[:-1]
    path = []
    for c in parts:
        if path and c.startswith(path[-1] + "."):
            path[-1] = c
        else:
            path.append(c)
    return ".".join(path)


def read_onnx(path):
    """(tensors by export-module parameter name, LeakyRelu slope by export-module path, metadata)."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    tensors = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in m.graph.initializer}
    slopes = {}
    for n in m.graph.node:
        if n.op_type == "LeakyRelu":
            alpha = next(a.f for a in n.attribute if a.name == "alpha")
            slopes[onnx_module_path(n.name)] = alpha
    return tensors, slopes, {p.key: p.value for p in m.metadata_props}


# (training-module prefix, export-module prefix) of every conv -> BN -> PReLU and conv -> BN pair.
def _pairs(model: EPRNet):
    """Yields (conv, bn, prelu or None, export conv prefix, export activation path or None)."""
    yield model.stem[0], model.stem[1], model.stem[2], "stem.0", "stem.1"
    for i, prm in enumerate(model.body):
        p = "body.%d" % i
        for j, b in enumerate(prm.mpu.branches):
            yield b[0], b[1], b[2], "%s.mpu.branches.%d.0" % (p, j), "%s.mpu.branches.%d.1" % (p, j)
        if not prm.mpu.light:
            yield prm.mpu.pointwise[0], prm.mpu.pointwise[1], prm.mpu.pointwise[2], p + ".mpu.pointwise.0", p + ".mpu.pointwise.1"
            yield prm.mpu.fuse[0], prm.mpu.fuse[1], prm.mpu.fuse[2], p + ".mpu.fuse.0", p + ".mpu.fuse.1"
        yield prm.conv, prm.bn, None, p + ".conv", None
        if prm.shortcut is not None:
            yield prm.shortcut[0], prm.shortcut[1], None, p + ".shortcut", None
    yield model.head[0], model.head[1], model.head[2], "head.0", "head.1"


@torch.no_grad()
def from_onnx(path, train_images, batch=4):
    """EPRNet (training module, eval mode) computing what the ONNX computes, with BN set from the
    population statistics over `train_images` (see the module docstring). Returns (model, meta)."""
    tensors, slopes, meta = read_onnx(path)
    name = meta.get("model_name", "eprnet-camvid").replace("-camvid", "")
    model = build(name, int(meta.get("num_classes", NUM_CLASSES))).eval()
    used = set()
    folded_bias = {}
    for conv, bn, prelu, prefix, act in _pairs(model):
        w, b = tensors[prefix + ".weight"], tensors[prefix + ".bias"]
        assert w.shape == conv.weight.shape, (prefix, tuple(w.shape), tuple(conv.weight.shape))
        conv.weight.copy_(w)
        folded_bias[bn] = b.double()
        # Identity BN until the statistics are known: eval mode then computes W_f x + b_f.
        bn.weight.fill_(1.0)
        bn.bias.copy_(b)
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)
        used.update({prefix + ".weight", prefix + ".bias"})
        if prelu is not None:
            prelu.weight.fill_(slopes.pop(act))
    for i, prm in enumerate(model.body):
        prm.act.weight.fill_(slopes.pop("body.%d.act" % i))
    model.classifier.weight.copy_(tensors["classifier.weight"])
    model.classifier.bias.copy_(tensors["classifier.bias"])
    used.update({"classifier.weight", "classifier.bias"})
    leftover = {k for k in tensors if k not in used and not k.endswith(".repeat")}
    assert not leftover and not slopes, ("ONNX parts not mapped", sorted(leftover), sorted(slopes))

    # Statistics of each BN's input as the shipped network computes it (eval mode throughout).
    for bn, (mu, var) in population_statistics(model, train_images, batch, batch_norm=False).items():
        bn.weight.copy_(torch.sqrt(var + bn.eps).to(bn.weight.dtype))
        bn.bias.copy_((mu + folded_bias[bn]).to(bn.bias.dtype))
        bn.running_mean.copy_(mu.to(bn.running_mean.dtype))
        bn.running_var.copy_(var.to(bn.running_var.dtype))
    return model.eval(), meta


def main(argv=None):
    """Check a warm start: val mIoU of the ONNX (ONNX Runtime) and of the rebuilt module."""
    from .evaluate import confusion_over, onnx_predictor
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--onnx", default="../Models/eprnet-camvid.onnx")
    p.add_argument("--data", default=data.DATASET_ROOT)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    tr_img = data.load_split("train", args.data)[0]
    va_img, va_lbl, _ = data.load_split("val", args.data)
    model, meta = from_onnx(args.onnx, tr_img)
    shipped = metrics.mean_iou(confusion_over(onnx_predictor(args.onnx, args.threads)[0], va_img, va_lbl))
    def predict(x):
        with torch.no_grad():
            return model(torch.from_numpy(x)).argmax(1).numpy()
    rebuilt = metrics.mean_iou(confusion_over(predict, va_img, va_lbl))
    print("%s (epoch %s): val mIoU ONNX %.2f%%, rebuilt PyTorch module %.2f%%" % (
        args.onnx, meta.get("epoch", "?"), 100 * shipped, 100 * rebuilt))


if __name__ == "__main__":
    main()
