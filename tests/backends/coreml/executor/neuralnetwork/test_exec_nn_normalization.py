"""batchnorm and softmax layers against torch.nn.functional."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.backends.coreml.executor.neuralnetwork._executor_helpers import rand, run_one
from tests.helpers import assert_matches


@pytest.mark.parametrize("shape", [(2, 5, 4, 3), (5, 3, 3), (2, 2, 5, 3, 3)])
def test_batchnorm_given_statistics(shape):
    x = rand(*shape, seed=1)
    gamma, beta, mean = rand(5, seed=2), rand(5, seed=3), rand(5, seed=4)
    var = rand(5, seed=5, low=0.1, high=2.0)

    def add(b):
        b.add_batchnorm("bn", 5, gamma, beta, mean, var, input_name="x", output_name="y", epsilon=1e-3)

    t = torch.from_numpy(x).reshape(-1, *shape[-3:])
    ref = F.batch_norm(t, *(torch.from_numpy(v) for v in (mean, var, gamma, beta)), eps=1e-3)
    assert_matches(run_one({"x": x}, add), ref.reshape(shape), tolerance=1e-5)


@pytest.mark.parametrize("instance", [True, False])
def test_batchnorm_compute_mean_var(instance):
    x = rand(3, 4, 5, 6, seed=6)
    gamma, beta = rand(4, seed=7), rand(4, seed=8)

    def add(b):
        layer = b.add_batchnorm(
            "bn",
            4,
            gamma,
            beta,
            input_name="x",
            output_name="y",
            compute_mean_var=True,
            instance_normalization=True,
            epsilon=1e-5,
        )
        # The builder refuses whole-batch statistics, the proto allows them: set the flag directly.
        layer.batchnorm.instanceNormalization = instance

    t, g, bt = (torch.from_numpy(v) for v in (x, gamma, beta))
    if instance:
        ref = F.instance_norm(t, weight=g, bias=bt, eps=1e-5)
    else:
        ref = F.batch_norm(t, None, None, g, bt, training=True, eps=1e-5)
    assert_matches(run_one({"x": x}, add), ref, tolerance=1e-5)


@pytest.mark.parametrize("axis", [-1, 1, -3, 0])
def test_softmax_nd(axis):
    x = rand(2, 3, 4, 5, seed=9, low=-8, high=8)
    y = run_one({"x": x}, lambda b: b.add_softmax_nd("sm", "x", "y", axis=axis))
    assert_matches(y, F.softmax(torch.from_numpy(x), dim=axis), tolerance=1e-6)


def test_old_softmax_is_over_axis_minus_3():
    x = rand(2, 3, 4, 5, seed=10)
    y = run_one({"x": x}, lambda b: b.add_softmax("sm", "x", "y"))
    assert_matches(y, F.softmax(torch.from_numpy(x), dim=1), tolerance=1e-6)


def test_batchnorm_epsilon_zero_means_the_default():
    # BatchnormLayerParams.epsilon: "Defaults to 1e-5 if not set or set to 0"
    x = rand(2, 3, 4, 5, seed=11)
    gamma, beta, mean = rand(3, seed=12), rand(3, seed=13), rand(3, seed=14)
    var = rand(3, seed=15, low=1e-4, high=2e-4)  # small enough for 1e-5 to show

    def add(b):
        b.add_batchnorm("bn", 3, gamma, beta, mean, var, input_name="x", output_name="y", epsilon=0.0)

    ref = F.batch_norm(
        torch.from_numpy(x), *(torch.from_numpy(v) for v in (mean, var, gamma, beta)), eps=1e-5
    )
    assert_matches(run_one({"x": x}, add), ref, tolerance=5e-7)


@pytest.mark.parametrize("normalized", [(5,), (4, 5), (3, 4, 5)])
def test_layer_normalization_over_the_trailing_axes(normalized):
    x = rand(2, 3, 4, 5, seed=16)
    gamma, beta = rand(*normalized, seed=17), rand(*normalized, seed=18)

    def add(b):
        b.add_layer_normalization("ln", "x", "y", list(normalized), gamma, beta, eps=1e-3)

    ref = F.layer_norm(
        torch.from_numpy(x), normalized, torch.from_numpy(gamma), torch.from_numpy(beta), eps=1e-3
    )
    assert_matches(run_one({"x": x}, add), ref, tolerance=1e-6)
