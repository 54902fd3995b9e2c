"""Kept activations from a TorchScript file to Core ML: PyTorch vs onnxruntime (before and after
the passes) vs the emitted .mlmodel in the reference executor, for targets with and without the
native layers."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from bridgec.driver.verify import verify

MODULES = {
    "hardswish": nn.Hardswish(),
    "hardsigmoid": nn.Hardsigmoid(),
    "gelu": nn.GELU(),
    "gelu_tanh": nn.GELU("tanh"),
    "silu": nn.SiLU(),
    "mish": nn.Mish(),
    "elu": nn.ELU(0.7),
    "selu": nn.SELU(),
    "celu": nn.CELU(1.3),
    "softplus": nn.Softplus(),
    "softplus_beta": nn.Softplus(2.0),
    "leaky_relu": nn.LeakyReLU(0.2),
    "softshrink": nn.Softshrink(1.5),
    "hardshrink": nn.Hardshrink(1.5),
}
# exact gelu needs erf, which NeuralNetwork models before iOS14 lack: a custom layer there
IOS13_CUSTOM = {"gelu"}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kept")
    paths = {}
    for name, act in MODULES.items():
        module = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), act, nn.Conv2d(4, 2, 1)).eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(module, torch.randn(1, 3, 8, 8))
        paths[name] = folder / f"{name}.pt"
        torch.jit.save(traced, str(paths[name]))
    return paths


CASES = [(n, "iOS14") for n in MODULES] + [(n, "iOS13") for n in MODULES if n not in IOS13_CUSTOM]


@pytest.mark.parametrize("name, target", CASES)
def test_lower_mode_matches_torch_everywhere(saved, name, target):
    result = verify(saved[name], inputs={None: (1, 3, 8, 8)}, pipeline="lower", target=target, seed=1)
    assert [c.runtime for c in result.comparisons] == ["onnx_before", "onnx_after", "coreml_reference"]
    assert result.passed, [(c.runtime, c.max_abs) for c in result.comparisons]
    for comparison in result.comparisons:
        assert comparison.max_abs < 1e-5


def test_exact_gelu_before_ios14_is_left_for_a_custom_layer(saved):
    from bridgec.driver.convert import convert

    result = convert(saved["gelu"], inputs={None: (1, 3, 8, 8)}, target="iOS13", write=False)
    assert list(result.custom_classes) == ["Gelu"]
