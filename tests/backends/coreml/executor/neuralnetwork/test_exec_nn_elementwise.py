"""Broadcastable binary layers (numpy broadcasting) and the old add / multiply layers."""

from __future__ import annotations

import numpy as np
import pytest

from tests.backends.coreml.executor.neuralnetwork._executor_helpers import rand, run_one
from tests.helpers import assert_matches

OPS = {
    "add_add_broadcastable": np.add,
    "add_subtract_broadcastable": np.subtract,
    "add_multiply_broadcastable": np.multiply,
    "add_divide_broadcastable": np.divide,
    "add_max_broadcastable": np.maximum,
    "add_min_broadcastable": np.minimum,
}
SHAPES = [((2, 3, 4, 5), (2, 3, 4, 5)), ((1, 3, 4, 5), (3, 1, 1)), ((5,), (2, 1, 4, 5)), ((4, 1), (1, 6))]


@pytest.mark.parametrize("shapes", SHAPES, ids=[str(s) for s in SHAPES])
@pytest.mark.parametrize("method", sorted(OPS))
def test_broadcastable(method, shapes):
    a = rand(*shapes[0], seed=1)
    b = rand(*shapes[1], seed=2, low=0.5, high=2.0)
    y = run_one({"a": a, "b": b}, lambda bld: getattr(bld, method)("op", ["a", "b"], "y"))
    assert_matches(y, OPS[method](a, b), tolerance=1e-5)


@pytest.mark.parametrize("mode,fn", [("ADD", lambda x: x + 1.5), ("MULTIPLY", lambda x: x * 1.5)])
def test_old_style_single_input_uses_alpha(mode, fn):
    x = rand(1, 3, 4, 4, seed=3)
    y = run_one({"x": x}, lambda b: b.add_elementwise("e", ["x"], "y", mode, alpha=1.5))
    assert_matches(y, fn(x), tolerance=1e-5)


@pytest.mark.parametrize(
    "mode,fn",
    [
        ("ADD", lambda a, b, c: a + b + c),
        ("MULTIPLY", lambda a, b, c: a * b * c),
        ("MAX", lambda a, b, c: np.maximum(np.maximum(a, b), c)),
        ("AVE", lambda a, b, c: (a + b + c) / 3),
    ],
)
def test_old_style_several_inputs(mode, fn):
    a, b, c = rand(1, 3, 4, 4, seed=4), rand(1, 3, 1, 1, seed=5), rand(1, 1, 4, 4, seed=6)
    y = run_one({"a": a, "b": b, "c": c}, lambda bld: bld.add_elementwise("e", ["a", "b", "c"], "y", mode))
    assert_matches(y, fn(a, b, c), tolerance=1e-5)


def test_pow_and_divide_at_their_edges_are_ieee():
    # the proto is silent on a negative base with a fractional exponent, 0 to a negative power and
    # division by +-0: IEEE pow and division assumed (NaN, inf, signed inf), as torch computes them
    import torch

    a = np.array([[-2.0, -2.0, 0.0, 0.0, -0.0, 3.0]], np.float32)
    b = np.array([[0.5, 3.0, -1.0, 0.0, -1.0, -0.0]], np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    feeds = {"a": a, "b": b}
    assert_matches(
        run_one(feeds, lambda bld: bld.add_pow_broadcastable("p", ["a", "b"], "y")),
        torch.pow(ta, tb),
        tolerance=1e-5,
    )
    got = run_one(feeds, lambda bld: bld.add_divide_broadcastable("d", ["a", "b"], "y"))
    assert_matches(got, ta / tb, tolerance=1e-5)
    assert np.array_equal(np.signbit(got), np.signbit((ta / tb).numpy()))


def test_mod_of_operands_at_least_zero_broadcasts():
    a = np.abs(rand(2, 3, 4, seed=7)) * 5
    b = np.array([0.75, 1.0, 2.5, 3.0], np.float32)
    y = run_one({"a": a, "b": b}, lambda bld: bld.add_mod_broadcastable("m", ["a", "b"], "y"))
    assert_matches(y, np.fmod(a, b), tolerance=1e-6)


@pytest.mark.parametrize("a,b", [(-7.0, 3.0), (7.0, -3.0)])
def test_mod_refuses_a_negative_operand_whose_sign_the_proto_leaves_open(a, b):
    from bridgec.backends.coreml.executor import UnsupportedLayerError

    feeds = {"a": np.array([a], np.float32), "b": np.array([b], np.float32)}
    with pytest.raises(UnsupportedLayerError, match="negative operand"):
        run_one(feeds, lambda bld: bld.add_mod_broadcastable("m", ["a", "b"], "y"))
