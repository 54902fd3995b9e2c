"""Property: the normalisation emitters (BatchNormalization, InstanceNormalization,
LayerNormalization), both formats, against onnxruntime: ranks 1 to 5, every epsilon/momentum/
training_mode, LayerNormalization's positive and negative axis, broadcast Scale/B, missing bias,
stash_type, and the optional statistics outputs asked for."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties._harness import (
    FORMATS,
    PROPERTY_SETTINGS,
    Hints,
    In,
    broadcast_of,
    ops_of,
    prove,
    schema_cases,
    shapes,
)

# LayerNormalization's input and axis, shared so that the axis attribute and Scale/B agree; None:
# the attribute left out (its default is -1)
LN_SHAPE = st.shared(shapes((1, 5), (1, 5)), key="norm.layer_norm.x")
AXIS = st.shared(
    LN_SHAPE.flatmap(lambda s: st.one_of(st.none(), st.integers(-len(s), len(s) - 1))), key="norm.axis"
)
EPSILON = [1e-5, 1e-3, 0.1, 0.0]


def _const(draw, shape: tuple[int, ...], positive: bool = False) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    value = rng.standard_normal(shape).astype(np.float32)
    return np.abs(value) + np.float32(0.1) if positive else value


def _param(draw, shape: tuple[int, ...], positive: bool = False) -> In:
    """A per-channel parameter: a constant, or (rarely) computed at run time, which must be refused."""
    if draw(st.sampled_from(range(16))) == 11:
        return In(shape)
    return In(shape, value=_const(draw, shape, positive))


def _per_channel(count: int, ranks: tuple[int, ...], positive_last: bool = False, one_spatial: bool = True):
    """X of one of ``ranks`` (sampled evenly: the NeuralNetwork layers take rank 4 only) and
    ``count`` per-channel parameters."""

    def build(draw, _shape) -> list[In]:
        x = draw(shapes((rank := draw(st.sampled_from(ranks)), rank), (1, 5)))
        if not one_spatial and len(x) > 2 and np.prod(x[2:]) == 1:
            # one spatial element: InstanceNormalization is B exactly, which onnxruntime 1.32 returns
            # rounded to float16 (torch refuses the shape); two keep the zero-variance edge near
            x = (*x[:-1], 2)
        params = [_param(draw, (x[1],), positive=positive_last and i == count - 1) for i in range(count)]
        return [In(x), *params]

    return build


def _layer_norm_inputs(draw, _shape) -> list[In]:
    x, axis = draw(LN_SHAPE), draw(AXIS)
    axis = -1 if axis is None else axis
    normalized = x[axis % len(x) :]
    inputs = [In(x), _param(draw, draw(st.one_of(st.just(normalized), broadcast_of(normalized))))]
    if draw(st.booleans()):  # B is optional
        inputs.append(_param(draw, draw(st.one_of(st.just(normalized), broadcast_of(normalized)))))
    return inputs


def _with_outputs(op: str, hints: Hints, outputs: int) -> st.SearchStrategy:
    """The node with only Y (mostly), or with its optional statistics outputs asked for as well."""
    return st.sampled_from([1, 1, 1, outputs]).flatmap(
        lambda n: schema_cases(op, Hints(**{**hints.__dict__, "outputs": n}))
    )


BATCH_NORM = Hints(
    attrs={"epsilon": EPSILON, "momentum": [0.9, 0.0, 0.5], "training_mode": [0, 1]},
    inputs=_per_channel(4, (2, 3, 4, 5), positive_last=True),  # scale, B, mean, var (> 0)
)
INSTANCE_NORM = Hints(attrs={"epsilon": EPSILON}, inputs=_per_channel(2, (3, 4, 5), one_spatial=False))
LAYER_NORM = Hints(
    attrs={"epsilon": EPSILON, "axis": AXIS, "stash_type": [1, 10]},
    required_attrs=("axis",),  # drawn always, so Scale fits it (AXIS None leaves it out)
    inputs=_layer_norm_inputs,
)

CASES = {
    "BatchNormalization": _with_outputs("BatchNormalization", BATCH_NORM, 3),
    "InstanceNormalization": schema_cases("InstanceNormalization", INSTANCE_NORM),
    "LayerNormalization": _with_outputs("LayerNormalization", LAYER_NORM, 3),
}


def test_every_normalization_emitter_is_drawn():
    emitted = set(ops_of("mlprogram", "normalization")) | {"LayerNormalization"}  # NN: ops/tensor.py
    emitted |= {op for op in ops_of("neuralnetwork", "conv") if "Normalization" in op}
    assert emitted <= set(CASES)


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("op", sorted(CASES))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_normalization(op, format, data):
    prove(data, CASES[op], format)
