"""timm architectures for tests and ``tools/families.py``: the transformer and hybrid-ViT families
whose ops a target refuses in some configuration (issue 22), with seeded random weights.

``pretrained=False``: nothing is downloaded. Batch-norm statistics are randomised, as in
``examples.zoo``, so folding and normalisation see non-trivial values.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

# name -> (input shape, what the model makes a target refuse: the case it is here for)
MODELS: dict[str, tuple[tuple[int, ...], str]] = {
    "repvit_m0_9": ((1, 3, 224, 224), "BatchNorm1d in the head (rank-2 BatchNormalization)"),
    "levit_128s": ((1, 3, 224, 224), "BatchNorm1d on tokens (rank-3 BatchNormalization)"),
    "efficientvit_m0": ((1, 3, 224, 224), "rank-6 window reshapes; sizes computed from x.shape"),
    "mobilevitv2_050": ((1, 3, 256, 256), "GroupNorm(1) as rank-3 InstanceNormalization; unfold"),
    "poolformer_s12": ((1, 3, 224, 224), "GroupNorm(1); AvgPool2d(count_include_pad=False)"),
    "tf_efficientnetv2_b0": ((1, 3, 224, 224), "TF 'SAME' padding: Pad amounts computed from x.shape"),
    "swin_tiny_patch4_window7_224": ((1, 3, 224, 224), "rank-6 window partition; integer Div and Mod"),
}


def build(name: str, seed: int = 0) -> nn.Module:
    import timm

    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False).eval()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    return model


def example(name: str) -> torch.Tensor:
    return torch.randn(*MODELS[name][0])


def save(name: str, path: Path, seed: int = 0) -> Path:
    """Build ``name`` and save it as TorchScript (traced) at ``path``, or as a torch.export archive
    when ``path`` ends in .pt2."""
    model = build(name, seed)
    x = example(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on sizes
        if path.suffix == ".pt2":
            torch.export.save(torch.export.export(model, (x,)), str(path))
        else:
            with torch.no_grad():
                torch.jit.save(torch.jit.trace(model, x, check_trace=False), str(path))
    return path
