"""PyTorch's activations with their parameters at the corners, traced and converted in both formats:
each configuration verifies (PyTorch vs onnxruntime vs the reference executor) or is refused in
one line naming the op. Never a model that computes something else.

The data reaches each activation's edges: 0, the thresholds and kinks (exactly, and around them),
and a scale where softplus' linear region and exp's overflow matter (``_feeds``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from tests.frontends._corners import assert_verified_or_refused, outcome

SHAPE = (1, 4, 3, 6)  # even on axes 1 and -1: GLU halves them


class Fn(nn.Module):
    """A module calling ``fn`` (torch.clamp, F.softmin ...) with fixed arguments."""

    def __init__(self, fn, *args, **kwargs) -> None:
        super().__init__()
        self.fn, self.args, self.kwargs = fn, args, kwargs

    def forward(self, x):
        return self.fn(x, *self.args, **self.kwargs)


class Named(nn.Module):
    """``inner`` with its input named x (TorchScript names inputs after forward's argument)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


class ClampTensor(nn.Module):
    """torch.clamp with tensor bounds: a per-channel min and a scalar-tensor max (buffers)."""

    def __init__(self, lo: bool, hi: bool) -> None:
        super().__init__()
        self.register_buffer("lo", torch.linspace(-1.0, 0.0, SHAPE[1]).reshape(1, -1, 1, 1) if lo else None)
        self.register_buffer("hi", torch.tensor(0.75) if hi else None)

    def forward(self, x):
        return torch.clamp(x, self.lo, self.hi)


# name: (module, the op names a refusal may name, the edges of its data)
CONFIGS: dict[str, tuple[nn.Module, tuple[str, ...], tuple[float, ...]]] = {
    "softplus": (nn.Softplus(), ("Softplus",), (20.0,)),
    "softplus_beta2": (nn.Softplus(beta=2.0), ("Softplus",), (10.0,)),
    "softplus_beta0.5": (nn.Softplus(beta=0.5), ("Softplus",), (40.0,)),
    "softplus_threshold1": (nn.Softplus(threshold=1.0), ("Softplus",), (1.0,)),
    "softplus_beta2_threshold1": (nn.Softplus(beta=2.0, threshold=1.0), ("Softplus",), (0.5,)),
    "softplus_threshold15": (nn.Softplus(threshold=15.0), ("Softplus",), (15.0,)),
    "gelu": (nn.GELU(), ("Gelu",), ()),
    "gelu_tanh": (nn.GELU("tanh"), ("Gelu",), ()),
    "elu": (nn.ELU(), ("Elu",), ()),
    "elu_alpha0.5": (nn.ELU(0.5), ("Elu",), ()),
    "elu_alpha0": (nn.ELU(0.0), ("Elu",), ()),
    "elu_alpha_negative": (nn.ELU(-0.7), ("Elu",), ()),
    "celu": (nn.CELU(), ("Celu",), ()),
    "celu_alpha0.5": (nn.CELU(0.5), ("Celu",), ()),
    "celu_alpha2": (nn.CELU(2.0), ("Celu",), ()),
    "celu_alpha_negative": (nn.CELU(-1.0), ("Celu",), ()),
    "selu": (nn.SELU(), ("Selu",), ()),
    "leaky_relu": (nn.LeakyReLU(), ("LeakyRelu",), ()),
    "leaky_relu_0.2": (nn.LeakyReLU(0.2), ("LeakyRelu",), ()),
    "leaky_relu_negative": (nn.LeakyReLU(-0.5), ("LeakyRelu",), ()),
    "leaky_relu_1.5": (nn.LeakyReLU(1.5), ("LeakyRelu",), ()),
    "hardtanh": (nn.Hardtanh(), ("HardTanh", "Clip"), (-1.0, 1.0)),
    "hardtanh_int_bounds": (nn.Hardtanh(-2, 2), ("HardTanh", "Clip"), (-2.0, 2.0)),
    "hardtanh_0_6": (nn.Hardtanh(0.0, 6.0), ("HardTanh", "Clip", "Relu"), (0.0, 6.0)),
    "hardtanh_0.25_0.5": (nn.Hardtanh(0.25, 0.5), ("HardTanh", "Clip"), (0.25, 0.5)),
    "relu6": (nn.ReLU6(), ("HardTanh", "Clip"), (6.0,)),
    "hardswish": (nn.Hardswish(), ("HardSwish",), (-3.0, 3.0)),
    "hardsigmoid": (nn.Hardsigmoid(), ("HardSigmoid",), (-3.0, 3.0)),
    "silu": (nn.SiLU(), ("Silu",), ()),
    "mish": (nn.Mish(), ("Mish",), ()),
    "prelu_1": (nn.PReLU(), ("PRelu",), ()),
    "prelu_C": (nn.PReLU(SHAPE[1], init=0.1), ("PRelu",), ()),
    "rrelu_eval": (nn.RReLU(0.1, 0.3), ("LeakyRelu",), ()),
    "threshold": (nn.Threshold(0.5, -2.0), ("Threshold", "Where", "Greater"), (0.5,)),
    "hardshrink": (nn.Hardshrink(0.5), ("Shrink",), (-0.5, 0.5)),
    "softshrink": (nn.Softshrink(0.5), ("Shrink",), (-0.5, 0.5)),
    "tanhshrink": (nn.Tanhshrink(), ("Tanh", "Sub"), ()),
    "logsigmoid": (nn.LogSigmoid(), ("LogSigmoid", "Log", "Sigmoid", "Softplus"), ()),
    "glu_dim1": (nn.GLU(1), ("Split", "Sigmoid", "Mul", "Slice"), ()),
    "glu_last": (nn.GLU(-1), ("Split", "Sigmoid", "Mul", "Slice"), ()),
    "softmax_dim1": (nn.Softmax(1), ("Softmax",), ()),
    "softmax_last": (nn.Softmax(-1), ("Softmax",), ()),
    "log_softmax_dim1": (nn.LogSoftmax(1), ("LogSoftmax",), ()),
    "log_softmax_last": (nn.LogSoftmax(-1), ("LogSoftmax",), ()),
    "softmin": (nn.Softmin(1), ("Softmax", "Neg"), ()),
    "clamp_min": (Fn(torch.clamp, min=-0.5), ("Clip", "HardTanh", "Max"), (-0.5,)),
    "clamp_max": (Fn(torch.clamp, max=0.5), ("Clip", "HardTanh", "Min"), (0.5,)),
    "clamp_equal": (Fn(torch.clamp, 0.5, 0.5), ("Clip", "HardTanh"), (0.5,)),
    "clamp_min_above_max": (Fn(torch.clamp, 1.0, -1.0), ("Clip", "HardTanh"), (-1.0, 1.0)),
    "clamp_tensor_min": (ClampTensor(True, False), ("Clip", "Max"), ()),
    "clamp_tensor_both": (ClampTensor(True, True), ("Clip", "Max", "Min"), ()),
}

# configurations that may be refused (a one-line error naming the op) instead of verifying; every
# other one must verify in both formats
MAY_REFUSE = {
    "neuralnetwork": {
        "softplus_threshold1",  # torch's linear region: no layer, a custom layer with a kernel
        "softplus_beta2_threshold1",
        "celu_alpha_negative",
        "softshrink",
        "clamp_min_above_max",
    },
    "mlprogram": {
        "softplus_threshold1",
        "softplus_beta2_threshold1",
        "celu_alpha_negative",
        "softshrink",
        "clamp_min_above_max",
        "clamp_equal",
    },
}


def _feeds(edges: tuple[float, ...], seed: int) -> np.ndarray:
    """Normal data of scale 3 with the edges, their neighbours and large values in the first row."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(SHAPE).astype(np.float32) * 3
    special = [0.0, -0.0, 1e-3, -1e-3, 25.0, -25.0, 100.0, -100.0]
    for edge in edges:
        special += [
            edge,
            math.nextafter(edge, math.inf),
            math.nextafter(edge, -math.inf),
            edge + 0.1,
            edge - 0.1,
        ]
    flat = x.reshape(-1)
    flat[: len(special)] = np.asarray(special, np.float32)[: flat.size]
    return x


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corners")
    paths = {}
    for name, (module, _, edges) in CONFIGS.items():
        module = Named(module).eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(module, torch.randn(SHAPE))
        path = folder / f"{name}.pt"
        torch.jit.save(traced, str(path))
        feeds = folder / f"{name}.npz"
        np.savez(feeds, x=_feeds(edges, seed=len(name)))
        paths[name] = (path, feeds)
    return paths


# ML Programs for iOS17, whose clip is stricter than iOS15's (min < max); NeuralNetworks for the default
TARGETS = {"neuralnetwork": None, "mlprogram": "iOS17"}

# configurations whose export (not bridgec) differs from PyTorch: none since frontends/kept_ops.py
# exports log_sigmoid as -softplus(-x) (torch.onnx's Log(Sigmoid(x)) is -inf below x = -88)
FRONTEND_WRONG: dict[str, str] = {}


NAMES = [
    pytest.param(n, marks=pytest.mark.xfail(reason=FRONTEND_WRONG[n], strict=True))
    if n in FRONTEND_WRONG
    else n
    for n in CONFIGS
]


@pytest.mark.slow
@pytest.mark.parametrize("format", ["neuralnetwork", "mlprogram"])
@pytest.mark.parametrize("name", NAMES)
def test_activation_corner(saved, name, format):
    path, feeds = saved[name]
    found = outcome(path, feeds, format, SHAPE, target=TARGETS[format])
    assert_verified_or_refused(name, format, found, MAY_REFUSE[format], CONFIGS[name][1])
