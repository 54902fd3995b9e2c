"""The bundled example: a small MobileNet-style face-segmentation net, saved as TorchScript.

MobileNetV2 inverted-residual encoder (ReLU6 everywhere, as in the real model), a squeeze-and-
excite block (global pool, Linear on rank-2 and rank-3 tensors, sigmoid gate), and a UNet-style
decoder with skip concatenations, nearest and bilinear upsampling, an ``nn.Hardtanh(-2, 2)``
with integer bounds (the case coremltools' own converter crashes on) and a softmax mask head.
Random weights, no downloads: the point is the ops, not the accuracy.

    python examples/faceseg.py -o faceseg.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers = [conv_bn(cin, hidden, 1)] if expand != 1 else []
        layers += [
            conv_bn(hidden, hidden, 3, stride, groups=hidden),  # depthwise
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.fc2 = nn.Linear(channels // reduction, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[0], x.shape[1]
        s = F.adaptive_avg_pool2d(x, 1).flatten(1)  # GlobalAveragePool + Flatten
        s = F.relu(self.fc1(s))  # Gemm on rank 2
        s = self.fc2(s.reshape(n, 1, -1))  # MatMul + Add on rank 3
        return x * torch.sigmoid(s).reshape(n, c, 1, 1)


class FaceSeg(nn.Module):
    def __init__(self, classes: int = 2) -> None:
        super().__init__()
        self.stem = conv_bn(3, 16, 3, 2)  # 128
        self.enc1 = InvertedResidual(16, 16, 1, 1)
        self.enc2 = nn.Sequential(InvertedResidual(16, 24, 2, 4), InvertedResidual(24, 24, 1, 4))  # 64
        self.enc3 = nn.Sequential(InvertedResidual(24, 40, 2, 4), InvertedResidual(40, 40, 1, 4))  # 32
        self.pool = nn.MaxPool2d(2)  # 16
        self.bottleneck = nn.Sequential(InvertedResidual(40, 64, 1, 4), SqueezeExcite(64))
        self.dec3 = nn.Sequential(
            nn.BatchNorm2d(64 + 40), nn.Conv2d(64 + 40, 40, 3, padding=1), nn.Hardtanh(-2, 2)
        )
        self.smooth = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.dec2 = nn.Sequential(nn.Conv2d(40 + 24, 24, 3, padding=1), nn.ReLU())
        self.dec1 = conv_bn(24 + 16, 16, 3)
        self.head = nn.Conv2d(16, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1 = self.enc1(self.stem(x))
        s2 = self.enc2(s1)
        s3 = self.enc3(s2)
        b = self.bottleneck(self.pool(s3))
        d3 = self.dec3(torch.cat([F.interpolate(b, scale_factor=2, mode="nearest"), s3], 1))
        d3 = self.smooth(d3)
        d2 = self.dec2(
            torch.cat([F.interpolate(d3, scale_factor=2, mode="bilinear", align_corners=False), s2], 1)
        )
        d1 = self.dec1(
            torch.cat([F.interpolate(d2, scale_factor=2, mode="bilinear", align_corners=True), s1], 1)
        )
        logits = F.interpolate(self.head(d1), scale_factor=2, mode="bilinear", align_corners=False)
        return torch.softmax(logits, dim=1)


def build(seed: int = 0) -> FaceSeg:
    """The example network with deterministic random weights and non-trivial batch-norm statistics."""
    torch.manual_seed(seed)
    model = FaceSeg()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


INPUT_SHAPE = (1, 3, 256, 256)


def save(path: Path, seed: int = 0) -> Path:
    model = build(seed)
    with torch.no_grad():
        scripted = torch.jit.trace(model, torch.randn(*INPUT_SHAPE))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(scripted, str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-o", "--output", type=Path, default=Path("faceseg.pt"), help="where to write (faceseg.pt)"
    )
    parser.add_argument("--seed", type=int, default=0, help="weight seed (0)")
    args = parser.parse_args()
    print(save(args.output, args.seed))


if __name__ == "__main__":
    main()
