"""``bridgec.core.erf`` gives math.erf's doubles bit for bit, and it is the one erf: Erf's
declaration and both executors compute erf through it, none calls ``math.erf`` per element."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

from bridgec.core.erf import erf

ROOT = Path(__file__).resolve().parents[2]


def _values() -> np.ndarray:
    rng = np.random.default_rng(0)
    edges = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-300, -1e-310, 5e-324, -5e-324]
    edges += [2.0**-28, -(2.0**-28), 0.84375, -0.84375, 1.25, -1.25, 1 / 0.35, -1 / 0.35, 6.0, -6.0]
    edges += [28.0, 1e300, -1e300, np.finfo(np.float64).max, -np.finfo(np.float64).max]
    boundaries = np.array([2.0**-1015, 2.0**-28, 0.84375, 1.25, 1 / 0.35, 6.0])
    magnitudes = np.logspace(-320, 308, 20_000)  # every binade, subnormals to the largest doubles
    return np.concatenate(
        [
            np.array(edges),
            np.nextafter(boundaries, 0.0),
            np.nextafter(boundaries, np.inf),
            -np.nextafter(boundaries, 0.0),
            magnitudes,
            -magnitudes,
            rng.uniform(-7, 7, 200_000),
            rng.standard_normal(200_000),
            rng.uniform(-1e-8, 1e-8, 2_000),
            rng.uniform(5.9, 6.1, 2_000),  # the tail's end, where 1 - r/a rounds to 1
        ]
    )


def _same_bits(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return (got.view(np.uint64) == want.view(np.uint64)) | (np.isnan(got) & np.isnan(want))


def test_erf_is_math_erf_bit_for_bit():
    xs = _values()
    want = np.array([math.erf(v) for v in xs])
    got = erf(xs)
    assert erf(xs[:10].reshape(5, 2)).shape == (5, 2)
    same = _same_bits(got, want)
    assert same.all(), f"{np.count_nonzero(~same)} differ, first at x={xs[~same][0]!r}"
    assert np.signbit(erf(np.array([-0.0])))[0]  # the sign of zero is kept (math.erf(-0.0) is -0.0)


def test_erf_of_no_element_and_of_a_scalar():
    assert erf(np.zeros((0, 3))).shape == (0, 3)
    scalar = erf(np.float64(0.5))
    assert scalar.shape == () and scalar.view(np.uint64) == np.float64(math.erf(0.5)).view(np.uint64)


def _users() -> dict:
    from bridgec.backends.coreai.executor import elementwise as coreai
    from bridgec.backends.coreml.executor.mlprogram import elementwise as mil
    from bridgec.core.ops import activations

    return {"declaration": activations.erf, "mil executor": mil.erf, "coreai executor": coreai._UNARY["erf"]}


@pytest.mark.parametrize("user", ["declaration", "mil executor", "coreai executor"])
def test_each_user_gives_math_erf(user):
    xs = _values()[:60_000]
    want = np.array([math.erf(v) for v in xs])
    assert _same_bits(np.asarray(_users()[user](xs), np.float64), want).all()


def test_no_module_calls_math_erf_per_element():
    """A per-element ``math.erf`` is a Python call per value: seconds on a vit_b_16 activation."""
    offenders = []
    for folder in ("bridgec", "passes", "frontends", "backends", "runtime_kernels"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                named = (
                    isinstance(node, ast.Attribute)
                    and node.attr == "erf"
                    and ast.unparse(node.value) == "math"
                ) or (
                    isinstance(node, ast.ImportFrom)
                    and node.module == "math"
                    and any(a.name == "erf" for a in node.names)
                )
                if named:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == [], f"use bridgec.core.erf.erf (math.erf's doubles, on arrays): {offenders}"
