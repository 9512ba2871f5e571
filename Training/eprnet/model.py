"""EPRNet and EPRNet-Light, exactly as ../shared/docs/eprnet.md (output stride 8, no decoder)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBNAct(nn.Sequential):
    """conv (no bias) -> BN -> PReLU with one shared slope."""

    def __init__(self, cin, cout, k=1, stride=1, dilation=1, groups=1):
        pad = dilation * (k - 1) // 2
        super().__init__(
            nn.Conv2d(cin, cout, k, stride, pad, dilation, groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.PReLU(1, 0.25),
        )


class MPU(nn.Module):
    """Multi-scale processing unit: 3 depthwise dilated branches (+ 1x1 branch and fusion unless light)."""

    def __init__(self, cin, cout, dilations, light=False):
        super().__init__()
        self.light = light
        self.branches = nn.ModuleList(
            ConvBNAct(cin, cout, 3, dilation=d, groups=cin) for d in dilations)
        if not light:
            self.pointwise = ConvBNAct(cin, cout, 1)
            self.fuse = ConvBNAct(4 * cout, cout, 1)

    def forward(self, x):
        outs = [b(x) for b in self.branches]
        if self.light:
            return outs[0] + outs[1] + outs[2]
        outs.append(self.pointwise(x))
        return self.fuse(torch.cat(outs, 1))


class PRM(nn.Module):
    """Pyramid representation module: a basic residual block whose first conv is an MPU."""

    def __init__(self, cin, cout, dilations, stride=1, light=False):
        super().__init__()
        self.mpu = MPU(cin, cout, dilations, light)
        self.conv = nn.Conv2d(cout, cout, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.shortcut = None
        if cin != cout or stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.act = nn.PReLU(1, 0.25)

    def forward(self, x):
        y = self.bn(self.conv(self.mpu(x)))
        s = x if self.shortcut is None else self.shortcut(x)
        return self.act(y + s)


# (cin, cout, dilations, stride) for layers 1..8 of the layer table.
STAGES = (
    (16, 32, (1, 2, 4), 1),
    (32, 32, (1, 2, 4), 2),
    (32, 64, (3, 6, 9), 1),
    (64, 64, (3, 6, 9), 1),
    (64, 64, (3, 6, 9), 1),
    (64, 64, (3, 6, 9), 2),
    (64, 128, (7, 13, 19), 1),
    (128, 128, (13, 25, 37), 1),
)


class EPRNet(nn.Module):
    def __init__(self, num_classes=11, light=False):
        super().__init__()
        self.num_classes = num_classes
        self.light = light
        self.stem = ConvBNAct(3, 16, 3, stride=2)
        self.body = nn.Sequential(*(PRM(ci, co, d, s, light) for ci, co, d, s in STAGES))
        self.head = ConvBNAct(128, 128, 3)
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Conv2d(128, num_classes, 1, bias=True)

    def forward(self, x):
        h, w = x.shape[-2:]
        y = self.classifier(self.dropout(self.head(self.body(self.stem(x)))))
        return F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)


def build(name="eprnet", num_classes=11):
    """name: 'eprnet' or 'eprnet-light'."""
    if name not in ("eprnet", "eprnet-light"):
        raise ValueError("unknown model %r" % name)
    return EPRNet(num_classes, light=(name == "eprnet-light"))


def count_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
