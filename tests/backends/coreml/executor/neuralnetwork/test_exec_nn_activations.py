"""activation, clip and unary layers against torch.nn.functional."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.backends.coreml.executor.neuralnetwork._executor_helpers import rand, run_one
from tests.helpers import assert_matches

X = rand(2, 5, 3, 4, seed=1, low=-4, high=4)
T = torch.from_numpy(X)

CASES = [
    ("RELU", None, F.relu(T)),
    ("SIGMOID", None, torch.sigmoid(T)),
    ("TANH", None, torch.tanh(T)),
    ("LINEAR", [0.5, -1.25], 0.5 * T - 1.25),
    ("LEAKYRELU", [0.1], F.leaky_relu(T, 0.1)),
    ("ELU", 0.7, F.elu(T, 0.7)),
    ("SOFTPLUS", None, F.softplus(T)),
    ("SIGMOID_HARD", [0.2, 0.5], torch.clamp(0.2 * T + 0.5, 0, 1)),
    ("SCALED_TANH", [1.5, 0.5], 1.5 * torch.tanh(0.5 * T)),
    ("SOFTSIGN", None, F.softsign(T)),
    ("THRESHOLDEDRELU", 1.0, torch.where(T >= 1.0, T, torch.zeros_like(T))),
]


@pytest.mark.parametrize("kind,params,expected", CASES, ids=[c[0] for c in CASES])
def test_activation(kind, params, expected):
    y = run_one({"x": X}, lambda b: b.add_activation("act", kind, "x", "y", params=params))
    assert_matches(y, expected, tolerance=1e-6)


@pytest.mark.parametrize("per_channel", [True, False])
def test_prelu(per_channel):
    alpha = rand(5, seed=2, low=0, high=0.5) if per_channel else np.array([0.25], dtype=np.float32)
    y = run_one({"x": X}, lambda b: b.add_activation("act", "PRELU", "x", "y", params=alpha))
    assert_matches(y, F.prelu(T, torch.from_numpy(alpha)), tolerance=1e-5)


def test_parametric_softplus():
    alpha, beta = rand(5, seed=3, low=0.5, high=2), rand(5, seed=4, low=0.5, high=2)
    y = run_one(
        {"x": X}, lambda b: b.add_activation("act", "PARAMETRICSOFTPLUS", "x", "y", params=[alpha, beta])
    )
    a, bt = torch.from_numpy(alpha).view(-1, 1, 1), torch.from_numpy(beta).view(-1, 1, 1)
    assert_matches(y, a * F.softplus(bt * T), tolerance=1e-6)


def test_sigmoid_is_stable_for_large_inputs():
    x = np.array([[-1000.0, -80.0, 0.0, 80.0, 1000.0]], dtype=np.float32)
    y = run_one({"x": x}, lambda b: b.add_activation("act", "SIGMOID", "x", "y"))
    assert np.all(np.isfinite(y))
    assert_matches(y, torch.sigmoid(torch.from_numpy(x)), tolerance=1e-6)


@pytest.mark.parametrize("lo,hi", [(0.0, 6.0), (-1.0, 1.0)])
def test_clip(lo, hi):
    y = run_one({"x": X}, lambda b: b.add_clip("clip", "x", "y", min_value=lo, max_value=hi))
    assert_matches(y, torch.clamp(T, lo, hi), tolerance=1e-5)


@pytest.mark.parametrize(
    "mode,alpha,fn",
    [
        ("abs", 1.0, lambda v: np.abs(2 * v + 1)),
        ("exp", 1.0, lambda v: np.exp(2 * v + 1)),
        ("threshold", 0.5, lambda v: np.maximum(2 * v + 1, 0.5)),
        ("power", 2.0, lambda v: (2 * v + 1) ** 2),
    ],
)
def test_unary_scale_shift(mode, alpha, fn):
    y = run_one({"x": X}, lambda b: b.add_unary("u", "x", "y", mode, alpha=alpha, shift=1.0, scale=2.0))
    # elementwise relative: exp(2x + 1) spans orders of magnitude, and an error relative to the largest
    # output would not see the small ones
    np.testing.assert_allclose(y, fn(X.astype(np.float64)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode,approximate", [("EXACT", "none"), ("TANH_APPROXIMATION", "tanh")])
def test_gelu_modes_match_torch(mode, approximate):
    # the kept Gelu(approximate) is emitted as GeluLayerParams with this mode
    y = run_one({"x": X * 2}, lambda b: b.add_gelu("g", "x", "y", mode=mode))
    assert_matches(y, F.gelu(T * 2, approximate=approximate), tolerance=1e-7)


def test_gelu_sigmoid_approximation():
    y = run_one({"x": X}, lambda b: b.add_gelu("g", "x", "y", mode="SIGMOID_APPROXIMATION"))
    assert_matches(y, T * torch.sigmoid(1.702 * T), tolerance=1e-7)


def test_clip_applies_min_then_max():
    # ClipLayerParams: "output = min(max(input, minVal), maxVal)": minVal > maxVal gives maxVal, as ONNX
    y = run_one({"x": X}, lambda b: b.add_clip("clip", "x", "y", min_value=1.0, max_value=-1.0))
    assert_matches(y, torch.minimum(torch.maximum(T, torch.tensor(1.0)), torch.tensor(-1.0)))
    assert np.all(y == -1.0)


@pytest.mark.parametrize("alpha", [-0.5, 0.0, 1.5])
def test_leaky_relu_and_elu_any_alpha(alpha):
    # the formulas hold for any alpha (ONNX and torch allow negative and > 1 slopes)
    assert_matches(
        run_one({"x": X}, lambda b: b.add_activation("a", "LEAKYRELU", "x", "y", params=[alpha])),
        torch.where(T >= 0, T, alpha * T),
        tolerance=1e-5,
    )
    assert_matches(
        run_one({"x": X}, lambda b: b.add_activation("a", "ELU", "x", "y", params=alpha)),
        torch.where(T >= 0, T, alpha * torch.expm1(T)),
        tolerance=1e-7,
    )


def test_unary_outside_the_domain_is_ieee():
    # the proto is silent on sqrt/log of negatives and log of 0: IEEE (NaN, -inf) assumed, as torch
    x = np.array([[-4.0, -1.0, 0.0, 1e-30, 2.0]], np.float32)
    t = torch.from_numpy(x)
    assert_matches(
        run_one({"x": x}, lambda b: b.add_unary("u", "x", "y", "sqrt")), torch.sqrt(t), tolerance=1e-5
    )
    assert_matches(
        run_one({"x": x}, lambda b: b.add_unary("u", "x", "y", "log")), torch.log(t), tolerance=1e-6
    )


@pytest.mark.parametrize(
    "kind,low,high,fn",
    [
        ("sin", -4, 4, torch.sin),
        ("cos", -4, 4, torch.cos),
        ("tan", -1.5, 1.5, torch.tan),
        ("asin", -1, 1, torch.asin),
        ("acos", -1, 1, torch.acos),
        ("atan", -4, 4, torch.atan),
        ("sinh", -4, 4, torch.sinh),
        ("cosh", -4, 4, torch.cosh),
        ("asinh", -4, 4, torch.asinh),
        ("acosh", 1, 5, torch.acosh),
        ("atanh", -0.99, 0.99, torch.atanh),
    ],
)
def test_trigonometric_layers(kind, low, high, fn):
    x = rand(2, 3, 4, seed=5, low=low, high=high)
    y = run_one({"x": x}, lambda b: getattr(b, f"add_{kind}")(kind, "x", "y"))
    assert_matches(y, fn(torch.from_numpy(x)), tolerance=3e-7)
