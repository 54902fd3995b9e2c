"""Property: the ops that repeat or rearrange data, both formats, against onnxruntime: Expand, Tile,
Pad, DepthToSpace, SpaceToDepth.

Shapes, repeats and pads are initializers, as the frontends make them (and sometimes a value computed
at run time, which the checks must refuse or emit). Ranks reach 6, which an ML Program cannot hold:
its checks must refuse those, not let the build fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties._harness import (
    FORMATS,
    PROPERTY_SETTINGS,
    Case,
    In,
    const,
    feeding,
    ops_of,
    prove,
    runtime,
    shapes,
)

RANKS = (1, 6)  # rank 6: past what an ML Program holds
DIMS = (1, 4)


@st.composite
def expand_cases(draw) -> Case:
    """Broadcasting both ways: a target axis of 1 keeps the input's extent, a target of lower rank
    than the input is fine, and so is one of higher rank."""
    shape = draw(shapes((1, 5), DIMS))
    rank = draw(st.integers(1, 6))
    target = []
    for i in range(rank):
        j = len(shape) - rank + i  # the input axis aligned to the right
        if j < 0:
            target.append(draw(st.integers(1, 3)))
        elif shape[j] == 1:
            target.append(draw(st.sampled_from([1, 2, 3])))
        else:
            target.append(draw(st.sampled_from([1, shape[j]])))
    if draw(st.integers(0, 4)) == 0:  # a shape computed at run time
        given, value = runtime(target)
        return Case("Expand", [In(shape), given], feed=feeding(value))
    return Case("Expand", [In(shape), const(target)])


@st.composite
def tile_cases(draw) -> Case:
    shape = draw(shapes(RANKS, DIMS))
    repeats = [draw(st.sampled_from([1, 1, 2, 3])) for _ in shape]
    if draw(st.integers(0, 4)) == 0:  # repeats computed at run time
        given, value = runtime(repeats)
        return Case("Tile", [In(shape), given], feed=feeding(value))
    return Case("Tile", [In(shape), const(repeats)])


@st.composite
def pad_cases(draw) -> Case:
    shape = draw(shapes(RANKS, (1, 5)))
    rank = len(shape)
    mode = draw(st.sampled_from([None, "constant", "reflect", "edge", "wrap"]))
    axes = list(range(rank))
    explicit = draw(st.integers(0, 2)) == 0
    if explicit:  # a subset of the axes, in any order, negative or not
        axes = draw(st.permutations(range(rank)))[: draw(st.integers(1, rank))]
    widths = [
        (draw(st.integers(-shape[a] + 1, 3)), draw(st.integers(-shape[a] + 1, 3)))
        if draw(st.integers(0, 3)) == 0
        else (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
        for a in axes
    ]
    pads = [b for b, _ in widths] + [e for _, e in widths]  # ONNX: every begin, then every end
    inputs = [In(shape), const(pads)]
    if draw(st.booleans()):
        inputs.append(const(draw(st.sampled_from([0.0, 1.5, -2.0])), np.float32))
    if explicit:
        if len(inputs) == 2:
            inputs.append(In((), absent=True))
        inputs.append(const([a - rank if draw(st.booleans()) else a for a in axes]))
    attrs = {} if mode is None else {"mode": mode}
    return Case("Pad", inputs, attrs, opset=19 if mode == "wrap" else 18)  # wrap: Pad-19


@st.composite
def depth_to_space_cases(draw) -> Case:
    block = draw(st.sampled_from([2, 3]))
    n, k, h, w = (draw(st.integers(1, 3)) for _ in range(4))
    attrs = {"blocksize": block}
    if draw(st.booleans()):
        attrs["mode"] = draw(st.sampled_from(["DCR", "CRD"]))
    return Case("DepthToSpace", [In((n, k * block * block, h, w))], attrs)


@st.composite
def space_to_depth_cases(draw) -> Case:
    block = draw(st.sampled_from([2, 3]))
    n, c, h, w = (draw(st.integers(1, 3)) for _ in range(4))
    attrs = {"blocksize": block}
    if draw(st.integers(0, 2)) == 0:  # opset 28 gave SpaceToDepth DepthToSpace's modes
        attrs["mode"] = draw(st.sampled_from(["DCR", "CRD"]))
        return Case("SpaceToDepth", [In((n, c, h * block, w * block))], attrs, opset=28)
    return Case("SpaceToDepth", [In((n, c, h * block, w * block))], attrs)


CASES = {
    "Expand": expand_cases,
    "Tile": tile_cases,
    "Pad": pad_cases,
    "DepthToSpace": depth_to_space_cases,
    "SpaceToDepth": space_to_depth_cases,
}

MINE = {"neuralnetwork": set(ops_of("neuralnetwork", "layout")), "mlprogram": set(CASES)}
PAIRS = [(op, fmt) for op in CASES for fmt in FORMATS if op in MINE[fmt]]


@pytest.mark.parametrize(("op", "format"), PAIRS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_layout_op(op, format, data):
    prove(data, CASES[op](), format)
