"""Activations and softmax against torch.nn.functional (and the MIL docs' formulas)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.backends.coreml.executor.mlprogram._mlp_helpers import mb, rand, run_one
from tests.helpers import assert_matches

X = rand(2, 3, 4, 5, seed=1, low=-4, high=4)
T = torch.from_numpy(X)

CASES = {
    "relu": (lambda x: mb.relu(x=x), F.relu(T)),
    "relu6": (lambda x: mb.relu6(x=x), F.relu6(T)),
    "leaky_relu": (lambda x: mb.leaky_relu(x=x, alpha=0.1), F.leaky_relu(T, 0.1)),
    "elu": (lambda x: mb.elu(x=x, alpha=0.7), F.elu(T, 0.7)),
    "sigmoid": (lambda x: mb.sigmoid(x=x), torch.sigmoid(T)),
    "silu": (lambda x: mb.silu(x=x), F.silu(T)),
    "softplus": (lambda x: mb.softplus(x=x), F.softplus(T)),
    "softsign": (lambda x: mb.softsign(x=x), F.softsign(T)),
    "sigmoid_hard": (lambda x: mb.sigmoid_hard(x=x, alpha=1 / 6, beta=0.5), F.hardsigmoid(T)),
    "clip": (lambda x: mb.clip(x=x, alpha=-1.0, beta=2.5), torch.clamp(T, -1, 2.5)),
    "thresholded_relu": (lambda x: mb.thresholded_relu(x=x, alpha=1.0), torch.where(T >= 1, T, 0)),
    "scaled_tanh": (lambda x: mb.scaled_tanh(x=x, alpha=2.0, beta=0.5), 2 * torch.tanh(0.5 * T)),
    "linear_activation": (lambda x: mb.linear_activation(x=x, alpha=2.0, beta=-1.0), 2 * T - 1),
    "prelu": (
        lambda x: mb.prelu(x=x, alpha=np.array([0.1, 0.2, 0.3], np.float32)),
        F.prelu(T, torch.tensor([0.1, 0.2, 0.3])),
    ),
    "softmax": (lambda x: mb.softmax(x=x, axis=1), F.softmax(T, dim=1)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_activation(name, tmp_path):
    build, want = CASES[name]
    assert_matches(run_one(build, {"x": X}, tmp_path, name), want, tolerance=2e-7)


@pytest.mark.parametrize(
    "mode,approximate", [("EXACT", "none"), ("TANH_APPROXIMATION", "tanh"), ("SIGMOID_APPROXIMATION", None)]
)
def test_gelu_modes(mode, approximate, tmp_path):
    got = run_one(lambda x: mb.gelu(x=x, mode=mode), {"x": X}, tmp_path, "gelu")
    want = T * torch.sigmoid(1.702 * T) if approximate is None else F.gelu(T, approximate=approximate)
    assert_matches(got, want, tolerance=2e-7)


def test_sigmoid_fp16_does_not_overflow(tmp_path):
    x = np.array([-60000, -20, 0, 20, 60000], np.float32)
    got = run_one(lambda x: mb.sigmoid(x=x), {"x": x}, tmp_path, "sigmoid", fp16=True)
    assert_matches(got, [0, 2.0611537e-09, 0.5, 1, 1], tolerance=1e-7)


def test_parametric_activations(tmp_path):
    alpha, beta = np.array([0.5, 1.0, 2.0], np.float32), np.array([1.0, 2.0, 0.5], np.float32)

    def build(x):
        return (
            mb.softplus_parametric(x=x, alpha=alpha, beta=beta),
            mb.clamped_relu(x=x, alpha=0.1, beta=2.0),
            mb.threshold(x=x, alpha=0.5),
        )

    from tests.backends.coreml.executor.mlprogram._mlp_helpers import run_program

    got = list(run_program(build, {"x": X}, tmp_path, "softplus_parametric").values())
    a, b = alpha.reshape(1, 3, 1, 1), beta.reshape(1, 3, 1, 1)
    assert_matches(got[0], a * np.log1p(np.exp(b * X)), tolerance=1e-6)
    assert_matches(got[1], np.where(X >= 0, np.minimum(X, 2.0), np.minimum(0.1 * X, 2.0)), tolerance=1e-7)
    assert_matches(got[2], np.maximum(X, 0.5), tolerance=1e-6)


def test_softmax_fp16_rounds_inputs_and_result_only(tmp_path):
    x = rand(4, 300, seed=2, low=-3, high=3)
    got = run_one(lambda x: mb.softmax(x=x, axis=-1), {"x": x}, tmp_path, "softmax", fp16=True)
    x16 = x.astype(np.float16).astype(np.float32)
    want = F.softmax(torch.from_numpy(x16), dim=-1).numpy().astype(np.float16).astype(np.float32)
    assert_matches(got, want, tolerance=0)
    assert not np.array_equal(got, F.softmax(torch.from_numpy(x), dim=-1).numpy())


def _op(kind: str, **inputs):
    from bridgec.backends.coreml.executor.mlprogram._op import Op

    return Op(kind, kind, {k: np.asarray(v) for k, v in inputs.items()})


def test_prelu_follows_its_documented_shapes():
    # "x must have rank 4, rank 3, or rank 5", alpha "must match the second dimension of x", rank 3/5
    # only with one value for all channels: coremltools refuses other programs, so the executor does
    from bridgec.backends.coreml.executor.errors import LayerError
    from bridgec.backends.coreml.executor.mlprogram.activations import OPS

    x = rand(2, 3, 4, seed=7, low=-2, high=2)
    same = OPS["prelu"](_op("prelu", x=x, alpha=np.full(3, 0.25, np.float32)))
    assert_matches(same, F.prelu(torch.from_numpy(x), torch.tensor([0.25])), tolerance=1e-6)
    for alpha, shape in (([0.1, 0.2, 0.3], (2, 3, 4)), ([0.25], (2, 3, 4, 5)), ([0.1, 0.2, 0.3], (2, 3))):
        with pytest.raises(LayerError):
            OPS["prelu"](_op("prelu", x=np.zeros(shape, np.float32), alpha=np.asarray(alpha, np.float32)))


def test_clip_with_alpha_above_beta_gives_beta():
    # iOS15's clip is silent on alpha > beta (iOS17 forbids it): max then min assumed, as the op's own
    # value inference and ONNX's Clip; the emitters refuse such bounds, so this is the executor alone
    from bridgec.backends.coreml.executor.mlprogram.activations import OPS

    got = OPS["clip"](_op("clip", x=X, alpha=np.float32(1.0), beta=np.float32(-1.0)))
    assert_matches(got, torch.clamp(T, min=1.0).clamp(max=-1.0), tolerance=1e-5)


@pytest.mark.parametrize("alpha", [-0.5, 0.0, 1.5])
def test_leaky_relu_and_elu_any_alpha(alpha, tmp_path):
    got = run_one(lambda x: mb.leaky_relu(x=x, alpha=alpha), {"x": X}, tmp_path, "leaky_relu")
    assert_matches(got, torch.where(T >= 0, T, alpha * T), tolerance=1e-7)
    got = run_one(lambda x: mb.elu(x=x, alpha=alpha), {"x": X}, tmp_path, "elu")
    assert_matches(got, torch.where(T > 0, T, alpha * torch.expm1(T)), tolerance=1e-7)
