"""Export a trained EPRNet to ONNX, with BN folded and the two lossless runtime rewrites.

Rewrites (../shared/docs/DESIGN.md):
1. PReLU with one shared slope == LeakyRelu(alpha=slope); runtimes fuse LeakyRelu into convs.
2. A depthwise conv that doubles channels (groups=C, C -> 2C) == repeat each input channel twice
   (one Gather, shared by the MPU's three branches) + a true depthwise conv (groups=2C) with the
   same weights; int8 depthwise kernels then apply.

The file describes itself through metadata_props (constants.metadata()): the Swift runner reads
normalisation, class names, palette and input size from it.
"""
import argparse
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import data
from .constants import DATASETS, INPUT_SIZE, NUM_CLASSES, metadata
from .model import MPU, PRM, ConvBNAct, EPRNet, build
from .precise_bn import recalibrate


def fold_bn(conv, bn):
    """conv (+ bias) followed by eval-mode BN -> one conv with bias."""
    std = torch.sqrt(bn.running_var + bn.eps)
    scale = bn.weight / std
    w = conv.weight * scale.reshape(-1, 1, 1, 1)
    b = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    b = (b - bn.running_mean) * scale + bn.bias
    out = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, conv.groups, bias=True)
    out.weight.data.copy_(w.detach())
    out.bias.data.copy_(b.detach())
    return out


def leaky(prelu):
    assert prelu.weight.numel() == 1, "only a shared-slope PReLU is a LeakyReLU"
    return nn.LeakyReLU(float(prelu.weight.detach()))


def conv_act(m):
    """ConvBNAct -> folded conv + LeakyReLU."""
    return nn.Sequential(fold_bn(m[0], m[1]), leaky(m[2]))


def as_true_depthwise(conv):
    """groups=C, C -> mC conv -> groups=mC, mC -> mC conv (same weights), for input repeated m times."""
    out = nn.Conv2d(conv.out_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, conv.out_channels, bias=conv.bias is not None)
    out.weight.data.copy_(conv.weight.data)
    if conv.bias is not None:
        out.bias.data.copy_(conv.bias.data)
    return out


class ExportMPU(nn.Module):
    def __init__(self, mpu: MPU):
        super().__init__()
        self.light = mpu.light
        first = mpu.branches[0][0]
        mult = first.out_channels // first.in_channels
        # Grouped conv output channel o reads input channel o // mult: repeat_interleave order.
        self.register_buffer("repeat", torch.arange(first.in_channels).repeat_interleave(mult)
                             if mult > 1 else torch.zeros(0, dtype=torch.long))
        self.branches = nn.ModuleList()
        for b in mpu.branches:
            seq = conv_act(b)
            if mult > 1:
                seq[0] = as_true_depthwise(seq[0])
            self.branches.append(seq)
        if not self.light:
            self.pointwise = conv_act(mpu.pointwise)
            self.fuse = conv_act(mpu.fuse)

    def forward(self, x):
        xr = x.index_select(1, self.repeat) if self.repeat.numel() else x
        outs = [b(xr) for b in self.branches]
        if self.light:
            return outs[0] + outs[1] + outs[2]
        outs.append(self.pointwise(x))
        return self.fuse(torch.cat(outs, 1))


class ExportPRM(nn.Module):
    def __init__(self, prm: PRM):
        super().__init__()
        self.mpu = ExportMPU(prm.mpu)
        self.conv = fold_bn(prm.conv, prm.bn)
        self.shortcut = None if prm.shortcut is None else fold_bn(prm.shortcut[0], prm.shortcut[1])
        self.act = leaky(prm.act)

    def forward(self, x):
        s = x if self.shortcut is None else self.shortcut(x)
        return self.act(self.conv(self.mpu(x)) + s)


class ExportEPRNet(nn.Module):
    """Inference-only EPRNet: BN folded, LeakyReLU, true depthwise convs. Same outputs as EPRNet.eval()."""

    def __init__(self, model: EPRNet):
        super().__init__()
        model = model.eval()
        self.stem = conv_act(model.stem)
        self.body = nn.Sequential(*(ExportPRM(p) for p in model.body))
        self.head = conv_act(model.head)
        self.classifier = model.classifier
        self.eval()

    def forward(self, x):
        h, w = x.shape[-2:]
        y = self.classifier(self.head(self.body(self.stem(x))))
        return F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)


def load_checkpoint(path, map_location="cpu"):
    """EPRNet from a train.py checkpoint (best.pt or last.pt), in eval mode, and its metadata."""
    ck = torch.load(path, map_location=map_location, weights_only=False)  # our own file: RNG states, history
    model = build(ck.get("model_name", "eprnet"), ck.get("num_classes", NUM_CLASSES))
    model.load_state_dict(ck["model"])
    return model.eval(), ck


def export_onnx(model, path, model_name, size=INPUT_SIZE, opset=17, dynamic=True, extra_meta=None, dataset="camvid"):
    """Write the rewritten model to ONNX: input `image` 1x3xHxW, output `logits` 1xKxHxW; the
    metadata names `dataset`'s classes, colours and default input size."""
    import onnx
    net = ExportEPRNet(model)
    x = torch.zeros(1, 3, *size)
    axes = {"image": {2: "height", 3: "width"}, "logits": {2: "height", 3: "width"}} if dynamic else None
    with torch.no_grad():
        torch.onnx.export(net, x, path, input_names=["image"], output_names=["logits"],
                          opset_version=opset, dynamic_axes=axes, do_constant_folding=True)
    m = onnx.load(path)
    labels = DATASETS[dataset]
    assert labels.num_classes == model.num_classes, (dataset, labels.num_classes, model.num_classes)
    meta = metadata(model_name, labels)
    meta.update(extra_meta or {})
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, str(v)
    m.doc_string = "EPRNet semantic segmentation (EPRStream). Input: RGB, (x - mean) / std, NCHW."
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description="Export an EPRNet checkpoint to ONNX")
    p.add_argument("--ckpt", default="runs/eprnet-camvid/best.pt")
    p.add_argument("--out", default="../Models/eprnet-camvid.onnx")
    p.add_argument("--name", default=None, help="model_name metadata (default from the checkpoint)")
    p.add_argument("--static", action="store_true", help="fixed input size (the dataset's default, 360x480 for CamVid) instead of dynamic H, W")
    p.add_argument("--no-precise-bn", dest="precise_bn", action="store_false",
                   help="keep the training-time BN statistics (default: recompute them, see precise_bn.py)")
    p.add_argument("--data", default=None, help="dataset root (train frames for precise BN; default: the run's dataset's)")
    args = p.parse_args(argv)
    model, ck = load_checkpoint(args.ckpt)
    dataset = ck.get("dataset", "camvid")
    labels = DATASETS[dataset]
    name = args.name or ("%s-%s" % (ck.get("model_name", "eprnet"), dataset))
    extra = {"epoch": str(ck.get("epoch", "")), "val_miou_checkpoint": "%.4f" % ck.get("val_miou", float("nan"))}
    if args.precise_bn:
        images = data.load_split("train", args.data or labels.root, dataset=dataset)[0]
        recalibrate(model, images)
        extra["bn_statistics"] = "%d %s train frames at full size" % (len(images), labels.title)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    export_onnx(model, args.out, name, size=labels.input_size, dynamic=not args.static, extra_meta=extra, dataset=dataset)
    print("wrote %s (%s, epoch %s, val mIoU %s)" % (args.out, name, extra["epoch"], extra["val_miou_checkpoint"]))


if __name__ == "__main__":
    main()
