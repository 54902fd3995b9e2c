"""Model families for tests, benchmarks and ``tools/families.py``: torchvision architectures with
seeded random weights.

Nothing is downloaded (``weights=None``, and ``weights_backbone=None`` for the segmentation
models, whose backbone would otherwise fetch ImageNet weights); batch-norm statistics are
randomised so that folding and normalisation are exercised with non-trivial values.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

# name -> input shape
MODELS: dict[str, tuple[int, ...]] = {
    "mobilenet_v2": (1, 3, 224, 224),
    "mobilenet_v3_large": (1, 3, 224, 224),
    "resnet18": (1, 3, 224, 224),
    "resnet50": (1, 3, 224, 224),
    "squeezenet1_1": (1, 3, 224, 224),
    "shufflenet_v2_x1_0": (1, 3, 224, 224),
    "efficientnet_b0": (1, 3, 224, 224),
    "densenet121": (1, 3, 224, 224),
    "lraspp_mobilenet_v3_large": (1, 3, 224, 224),  # returns {"out": ...}
    "deeplabv3_mobilenet_v3_large": (1, 3, 224, 224),  # returns {"out": ...}
    "vit_b_16": (1, 3, 224, 224),
}

SEGMENTATION = ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large")


def build(name: str, seed: int = 0) -> nn.Module:
    from torchvision import models

    torch.manual_seed(seed)
    if name in SEGMENTATION:
        model = getattr(models.segmentation, name)(weights=None, weights_backbone=None, num_classes=21)
    else:
        model = getattr(models, name)(weights=None)
    model.eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
        if isinstance(module, nn.Linear) and not module.weight.any():
            # vit's classifier head starts at zero: every output would be 0 and every check trivial
            nn.init.normal_(module.weight, std=0.02)
    return model


def save(name: str, path: Path, seed: int = 0) -> Path:
    """Build ``name`` and save it as TorchScript (traced) at ``path``."""
    model = build(name, seed)
    # Traced with autograd on, as most users trace: the fused fast path nn.MultiheadAttention takes
    # under no_grad (aten::_native_multi_head_attention) is tested by tests/frontends/test_attention.py.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # strict=False: the segmentation models return a dict. check_trace=False: its re-trace check
        # fails on vit_b_16 over mangled class names only; the numbers are checked by verify instead.
        torch.jit.save(
            torch.jit.trace(model, torch.randn(*MODELS[name]), strict=False, check_trace=False), str(path)
        )
    return path
