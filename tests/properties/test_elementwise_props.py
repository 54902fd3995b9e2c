"""Property: the binary elementwise emitters, both formats, against onnxruntime."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties._harness import FORMATS, PROPERTY_SETTINGS, prove, schema_cases

BINARY = ("Add", "Sub", "Mul", "Div", "Max", "Min")


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("op", BINARY)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_binary(op, format, data):
    prove(data, schema_cases(op), format)
