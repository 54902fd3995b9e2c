"""Property: the pooling emitters (MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool), both
formats, against onnxruntime: 1-D to 3-D, every auto_pad, explicit and asymmetric pads, ceil_mode,
count_include_pad, dilations, storage_order, kernels larger than the input, the Indices output."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties._harness import (
    FORMATS,
    PROPERTY_SETTINGS,
    Case,
    Hints,
    In,
    ops_of,
    prove,
    run_case,
    schema_cases,
)
from tests.properties._spatial import SPATIAL_ATTRS, X, maybe, spatial_attrs


def _x_only(draw, shape) -> list[In]:
    return [In(draw(X))]


_WINDOWED = Hints(
    attrs={
        **spatial_attrs(),
        "ceil_mode": maybe(st.sampled_from([0, 1])),
        "count_include_pad": maybe(st.sampled_from([0, 1])),
        "storage_order": maybe(st.sampled_from([0, 1])),
    },
    required_attrs=(*SPATIAL_ATTRS, "ceil_mode", "count_include_pad", "storage_order"),
    inputs=_x_only,
)

CASES = {
    # the Indices output asked for now and then: an emitter must refuse it (no argmax pooling)
    "MaxPool": st.sampled_from([1, 1, 1, 2]).flatmap(
        lambda n: schema_cases("MaxPool", Hints(**{**_WINDOWED.__dict__, "outputs": n}))
    ),
    "AveragePool": schema_cases("AveragePool", _WINDOWED),
    # rank 3..5 (onnxruntime needs N, C and one spatial axis); size-1 axes included
    "GlobalAveragePool": schema_cases("GlobalAveragePool", Hints(ranks=(3, 5), dims=(1, 5))),
    "GlobalMaxPool": schema_cases("GlobalMaxPool", Hints(ranks=(3, 5), dims=(1, 5))),
}


def test_every_pooling_emitter_is_drawn():
    assert set(ops_of("neuralnetwork", "pooling")) | set(ops_of("mlprogram", "pooling")) <= set(CASES)


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("op", sorted(CASES))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_pooling(op, format, data):
    prove(data, CASES[op], format)


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("op", ["AveragePool", "MaxPool"])
def test_same_padding_with_input_past_every_window_is_refused(op, format):
    """Stride 3 over kernel 1 on 3 pixels: ONNX's SAME pad is -2, which the spec leaves undefined
    (onnxruntime crops AveragePool's input to x[1], fails MaxPool; the reference fails). Emitted with
    no pad it read x[0] (found by the 200-example soak): refused in both formats."""
    attrs = {"auto_pad": "SAME_UPPER", "kernel_shape": [1, 1], "strides": [1, 3]}
    case = Case(op, [In((1, 1, 1, 3))], attrs)
    found = run_case(case, format, FORMATS[format][0])
    assert found.kind in ("refused", "invalid"), found
    if found.kind == "refused":
        assert "leaves input past every window" in found.detail
