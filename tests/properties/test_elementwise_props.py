"""Property: the binary elementwise emitters, both formats, against onnxruntime.

Operands broadcast both ways (the schema draw) and Max/Min take 1..3 inputs. Feeds reach the
edges: divisors within 1e-3 of 0 and exactly +-0 (Div's +-inf), data past float32's overflow when
multiplied. A quarter of the cases are integer (a Cast of a float input, as a comparison or Shape
would give one in a model), negative operands included: ONNX's integer Div truncates toward 0.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties._edges import edge_feeds
from tests.properties._harness import FORMATS, PROPERTY_SETTINGS, Case, In, prove, schema_cases

BINARY = ("Add", "Sub", "Mul", "Div", "Max", "Min")


def _int_feed(rng, shape, dtype) -> np.ndarray:
    x = rng.integers(-9, 10, shape)
    return np.where(x == 0, 3, x).astype(np.float32)  # no integer division by zero: ONNX leaves it undefined


@st.composite
def binary_cases(draw, op: str) -> Case:
    case = draw(schema_cases(op))
    # a rank-0 operand comes in as [1], squeezed in the model (Core ML model inputs have a rank)
    if draw(st.integers(0, 3), label="integer") == 0:
        inputs = [In(x.shape, np.int64, from_float=True, lift=True) for x in case.inputs]
        return Case(op, inputs, case.attrs, feed=_int_feed)
    case.inputs = [In((), from_float=True, lift=True) if x.shape == () else x for x in case.inputs]
    case.feed = draw(edge_feeds([1e-3, -1e-3, -0.0, 1e30, -1e30]))
    return case


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("op", BINARY)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_binary(op, format, data):
    prove(data, binary_cases(op), format)
