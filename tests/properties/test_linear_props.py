"""Property: Gemm, MatMul (both formats) and Einsum (ML Program) against onnxruntime.

The cases reach every Gemm attribute (transA/transB, alpha/beta, C absent / scalar / row / column /
full, constant or not), MatMul operands of rank 1..5 with broadcast batch axes and a constant
operand on either side, and Einsum equations drawn at random (most of which MIL's einsum refuses)
next to the two contraction forms it takes, letters renamed.
"""

from __future__ import annotations

import string

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties._harness import FORMATS, PROPERTY_SETTINGS, Case, In, prove

_FACTORS = [None, 1.0, 0.5, -1.0, 2.0, 0.0]  # None: the attribute is left out (default 1.0)


def _rng(draw) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**16)))


def _operand(draw, shape: tuple[int, ...], constant: bool) -> In:
    if not constant:
        return In(shape)
    return In(shape, np.float32, _rng(draw).standard_normal(shape).astype(np.float32))


@st.composite
def gemm_cases(draw) -> Case:
    m, k, n = (draw(st.integers(1, 5), label=d) for d in "mkn")
    attrs = {}
    for name in ("transA", "transB"):
        value = draw(st.sampled_from([None, 0, 1]), label=name)
        if value is not None:
            attrs[name] = value
    for name in ("alpha", "beta"):
        value = draw(st.sampled_from(_FACTORS), label=name)
        if value is not None:
            attrs[name] = value
    a_shape = (k, m) if attrs.get("transA") else (m, k)
    b_shape = (n, k) if attrs.get("transB") else (k, n)
    # which operands are constants: B (a weight) most often, as the frontends give it
    constant = draw(st.sampled_from(["b", "b", "b", "none", "a"]), label="constant")
    inputs = [_operand(draw, a_shape, constant == "a"), _operand(draw, b_shape, constant == "b")]
    c_shape = draw(st.sampled_from([None, (), (1,), (n,), (1, n), (m, 1), (m, n), (1, 1)]), label="C shape")
    if c_shape is not None:  # a scalar C is a constant: Core ML model inputs have a rank
        inputs.append(_operand(draw, c_shape, c_shape == () or draw(st.booleans(), label="C constant")))
    return Case("Gemm", inputs, attrs)


@st.composite
def matmul_cases(draw) -> Case:
    ranks = draw(st.integers(1, 5), label="rank A"), draw(st.integers(1, 5), label="rank B")
    m, k, n = (draw(st.integers(1, 4), label=d) for d in "mkn")
    batch = tuple(draw(st.integers(1, 3)) for _ in range(max(ranks) - 2))

    def batch_of(rank: int) -> tuple[int, ...]:
        tail = batch[len(batch) - (rank - 2) :] if rank > 2 else ()
        return tuple(1 if draw(st.integers(0, 3)) == 0 else d for d in tail)  # some broadcast axes

    a_shape = (k,) if ranks[0] == 1 else (*batch_of(ranks[0]), m, k)
    b_shape = (k,) if ranks[1] == 1 else (*batch_of(ranks[1]), k, n)
    constant = draw(st.sampled_from(["none", "a", "b", "b"]), label="constant")
    return Case(
        "MatMul", [_operand(draw, a_shape, constant == "a"), _operand(draw, b_shape, constant == "b")]
    )


def _mil_einsum(draw, letters: list[str]) -> tuple[list[str], str]:
    """The two forms MIL's einsum takes: "nchw,nwhu->nchu" and "chw,whr->chr", letters renamed."""
    if draw(st.booleans(), label="rank 4"):
        n, c, h, w, u = letters[:5]
        terms, out = [n + c + h + w, n + w + h + u], n + c + h + u
    else:
        c, h, w, r = letters[:4]
        terms, out = [c + h + w, w + h + r], c + h + r
    if draw(st.integers(0, 3), label="near miss") == 0:  # the same operands, another output order
        out = "".join(draw(st.permutations(list(out))))
    return terms, out


def _random_einsum(draw, letters: list[str]) -> tuple[list[str], str | None]:
    pool = letters[: draw(st.integers(1, 5), label="letters")]
    terms = [
        "".join(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4)))
        for _ in range(draw(st.integers(1, 3), label="operands"))
    ]
    if draw(st.booleans(), label="implicit output"):
        return terms, None
    used = sorted(set("".join(terms)))
    kept = draw(st.lists(st.sampled_from(used), unique=True, max_size=len(used)), label="output")
    return terms, "".join(kept)


@st.composite
def einsum_cases(draw) -> Case:
    letters = draw(st.permutations(list(string.ascii_lowercase[:8])), label="alphabet")
    if draw(st.integers(0, 2), label="form") > 0:
        terms, out = _mil_einsum(draw, letters)
    else:
        terms, out = _random_einsum(draw, letters)
    size = {letter: draw(st.integers(1, 4)) for letter in sorted(set("".join(terms)))}
    shapes = [[size[c] for c in term] for term in terms]
    if len(terms) == 2 and draw(st.integers(0, 3), label="broadcast") == 0:
        # a size-1 axis against a longer one of the same letter (MIL broadcasts its batch axes)
        which = draw(st.integers(0, 1))
        shapes[which][draw(st.integers(0, len(terms[which]) - 1))] = 1
    constant = draw(st.integers(-1, len(terms) - 1), label="constant operand")
    inputs = [
        _operand(draw, tuple(shape), index == constant and len(terms) > 1)
        for index, shape in enumerate(shapes)
    ]
    equation = ",".join(terms) + ("" if out is None else "->" + out)
    return Case("Einsum", inputs, {"equation": equation})


@pytest.mark.parametrize("format", FORMATS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_gemm(format, data):
    prove(data, gemm_cases(), format)


@pytest.mark.parametrize("format", FORMATS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_matmul(format, data):
    prove(data, matmul_cases(), format)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_einsum(data):  # NeuralNetwork models have no einsum layer (the passes lower it)
    prove(data, einsum_cases(), "mlprogram")
