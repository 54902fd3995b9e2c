"""Model families for tests and benchmarks: torchvision architectures with seeded random weights.

Nothing is downloaded (``weights=None``); batch-norm statistics are randomised so that folding
and normalisation are exercised with non-trivial values.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

MODELS: dict[str, tuple[int, ...]] = {
    "mobilenet_v2": (1, 3, 224, 224),
    "resnet18": (1, 3, 224, 224),
}


def build(name: str, seed: int = 0) -> nn.Module:
    from torchvision import models

    torch.manual_seed(seed)
    model = getattr(models, name)(weights=None).eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    return model


def save(name: str, path: Path, seed: int = 0) -> Path:
    """Build ``name`` and save it as TorchScript (traced) at ``path``."""
    model = build(name, seed)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(model, torch.randn(*MODELS[name])), str(path))
    return path
