"""Binary, comparison, logical and unary math ops, in fp32 and fp16 programs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.backends.coreml.executor.mlprogram._mlp_helpers import mb, rand, run_one
from tests.helpers import assert_matches

BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "real_div": np.divide,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "floor_div": lambda a, b: np.floor(a / b),
    "mod": np.mod,
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcasts(name, tmp_path):
    x, y = rand(2, 3, 4, seed=1), rand(3, 1, seed=2, low=0.5, high=2.0)
    got = run_one(lambda x, y: getattr(mb, name)(x=x, y=y), {"x": x, "y": y}, tmp_path, name)
    assert_matches(got, BINARY[name](x, y), tolerance=1e-6)


def test_pow(tmp_path):
    x, y = rand(4, 5, seed=1, low=0.1, high=3), rand(4, 5, seed=2)
    assert_matches(
        run_one(lambda x, y: mb.pow(x=x, y=y), {"x": x, "y": y}, tmp_path, "pow"), x**y, tolerance=1e-6
    )


COMPARE = {
    "equal": np.equal,
    "not_equal": np.not_equal,
    "less": np.less,
    "less_equal": np.less_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
}


@pytest.mark.parametrize("name", sorted(COMPARE))
def test_comparisons_feed_select(name, tmp_path):
    x = np.round(rand(3, 4, seed=3))
    y = np.round(rand(3, 4, seed=4))

    def build(x, y):
        return mb.select(cond=getattr(mb, name)(x=x, y=y), a=x, b=y)

    assert_matches(
        run_one(build, {"x": x, "y": y}, tmp_path, name), np.where(COMPARE[name](x, y), x, y), tolerance=1e-6
    )


@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor"])
def test_logical(name, tmp_path):
    x, y = rand(10, seed=5), rand(10, seed=6)

    def build(x, y):
        c = getattr(mb, name)(x=mb.greater(x=x, y=0.0), y=mb.greater(x=y, y=0.0))
        return mb.cast(x=mb.logical_not(x=c), dtype="fp32")

    want = ~getattr(np, name)(x > 0, y > 0)
    assert_matches(run_one(build, {"x": x, "y": y}, tmp_path, name), want.astype(np.float32), tolerance=1e-5)


UNARY = {
    "abs": (np.abs, (-2, 2)),
    "sqrt": (np.sqrt, (0.1, 4)),
    "rsqrt": (lambda v: 1 / np.sqrt(v + 1e-12), (0.1, 4)),
    "exp": (np.exp, (-2, 2)),
    "exp2": (np.exp2, (-2, 2)),
    "log": (np.log, (0.1, 4)),
    "inverse": (lambda v: 1 / (v + 1e-4), (0.5, 4)),
    "erf": (np.vectorize(math.erf), (-2, 2)),
    "tanh": (np.tanh, (-2, 2)),
    "sin": (np.sin, (-2, 2)),
    "cos": (np.cos, (-2, 2)),
    "floor": (np.floor, (-2, 2)),
    "ceil": (np.ceil, (-2, 2)),
    "sign": (np.sign, (-2, 2)),
    "square": (np.square, (-2, 2)),
    "atan": (np.arctan, (-2, 2)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, tmp_path):
    fn, (lo, hi) = UNARY[name]
    x = rand(3, 7, seed=7, low=lo, high=hi)
    assert_matches(run_one(lambda x: getattr(mb, name)(x=x), {"x": x}, tmp_path, name), fn(x), tolerance=1e-7)


def test_round_ties_to_even(tmp_path):
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4, 0.6], np.float32)
    assert_matches(
        run_one(lambda x: mb.round(x=x), {"x": x}, tmp_path, "round"),
        np.array([-2, -2, -0, 0, 2, 2, 0, 1]),
        tolerance=1e-6,
    )


def test_cast_to_int_truncates(tmp_path):
    x = np.array([-2.7, -0.5, 0.5, 1.9, 3.0], np.float32)
    got = run_one(lambda x: mb.cast(x=mb.cast(x=x, dtype="int32"), dtype="fp32"), {"x": x}, tmp_path, "cast")
    assert_matches(got, np.trunc(x), tolerance=1e-6)


def test_fp16_program_rounds_every_op(tmp_path):
    """In an fp16 program each op's result is fp16: (x * 1/3) * 3 differs from x in fp16."""
    x = rand(64, seed=8, low=1, high=2)

    def build(x):
        return mb.mul(x=mb.mul(x=mb.exp(x=x), y=np.float32(1 / 3)), y=np.float32(3.0))

    got16 = run_one(build, {"x": x}, tmp_path, "exp", fp16=True)
    got32 = run_one(build, {"x": x}, tmp_path, "exp")
    h = np.float16
    want16 = ((np.exp(x.astype(h)) * h(1 / 3)) * h(3)).astype(np.float32)
    assert_matches(got16, want16, tolerance=0)
    assert_matches(got32, np.exp(x), tolerance=1e-6)
    assert np.abs(got16 - got32).max() > 1e-4  # the fp16 error is visible, not hidden by fp32 math


def test_silent_edges_follow_ieee_and_python(tmp_path):
    # The reference is silent on: mod's sign ("x % y"; Python's sign-of-divisor remainder assumed, as
    # torch.remainder and ONNX's Mod fmod=0), a negative base to a fractional power (NaN), x / 0
    # (+-inf) and NaN in maximum/minimum (propagated, as torch.maximum)
    import torch

    a = np.array([-7.0, 7.0, -7.0, -2.0, 0.0, 1.0, np.nan], np.float32)
    b = np.array([3.0, -3.0, -3.0, 0.5, -1.0, 0.0, 1.0], np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    feeds = {"x": a, "y": b}
    assert_matches(
        run_one(lambda x, y: mb.mod(x=x, y=y), feeds, tmp_path, "mod"),
        torch.remainder(ta, tb),
        tolerance=1e-6,
    )
    assert_matches(
        run_one(lambda x, y: mb.pow(x=x, y=y), feeds, tmp_path, "pow"), torch.pow(ta, tb), tolerance=2e-8
    )
    assert_matches(
        run_one(lambda x, y: mb.real_div(x=x, y=y), feeds, tmp_path, "real_div"), ta / tb, tolerance=1e-6
    )
    assert_matches(
        run_one(lambda x, y: mb.maximum(x=x, y=y), feeds, tmp_path, "maximum"),
        torch.maximum(ta, tb),
        tolerance=1e-6,
    )
    assert_matches(
        run_one(lambda x, y: mb.minimum(x=x, y=y), feeds, tmp_path, "minimum"),
        torch.minimum(ta, tb),
        tolerance=1e-6,
    )
