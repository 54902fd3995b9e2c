"""timm architectures for tests and ``tools/families.py``: the transformer and hybrid-ViT families
whose ops a target refuses in some configuration (issue 22), with seeded random weights.

``pretrained=False``: nothing is downloaded. Batch-norm statistics are randomised, as in
``examples.zoo``, so folding and normalisation see non-trivial values, and zero-initialised BN
weights and tiny layer scales get random ones, so every residual branch contributes to the output.
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
    "edgenext_xx_small": ((1, 3, 256, 256), "split depthwise transposed (channel) attention; LayerNorm2d"),
    "coatnet_pico_rw_224": ((1, 3, 224, 224), "MBConv then attention with a relative position bias"),
    "fastvit_t8": ((1, 3, 256, 256), "reparameterisable RepMixer blocks; conditional positional encoding"),
    "convnext_atto": ((1, 3, 224, 224), "depthwise 7x7; LayerNorm over channels in NCHW; GELU"),
}


def build(name: str, seed: int = 0) -> nn.Module:
    import timm

    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False).eval()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
            if module.weight is not None and not module.weight.any():
                # a zero-initialised BN ends a residual branch (levit: 20 of its 52): the branch adds
                # nothing, so a check would prove nothing about its attention or MLP
                module.weight.data.uniform_(0.5, 1.5)
    with torch.no_grad():
        for parameter in model.parameters():
            flat = parameter.flatten()
            if flat.numel() > 1 and bool((flat == flat[0]).all()) and 0 < abs(float(flat[0])) <= 1e-4:
                # a layer scale (poolformer, fastvit 1e-5; convnext, edgenext 1e-6) scales its residual
                # branch to ~1e-5 of the output: a branch's error hides under the check's tolerance
                # (coreai-torch's poolformer AvgPool, wrong at the pool, measured 6.6e-5 at the logits)
                parameter.uniform_(0.5, 1.5)
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
