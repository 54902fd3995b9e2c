"""Property: the kept ``ai.bridgec`` activations (ir.BRIDGEC_OPS, torch's semantics; their reference
is the ONNX function in ir.REFERENCE_FUNCTIONS), both formats, against onnxruntime.

Attributes are drawn as the frontends write them (every one given: the reference functions of
HardTanh and Softplus need them) and, for the ops whose function has defaults, left out too.
Softplus reaches beta != 1, negative beta and thresholds on both sides of the 15 where Core ML's
softplus stops being exact, with data exactly at threshold / beta; HardTanh reaches min == max,
min > max and infinite bounds.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridgec.core import ir
from bridgec.core.ops.activations import SELU_ALPHA, SELU_GAMMA
from tests.properties._edges import edge_feeds
from tests.properties._harness import FORMATS, PROPERTY_SETTINGS, Case, Hints, prove, schema_cases

D = ir.BRIDGEC_DOMAIN
PLAIN = ("HardSwish", "Silu", "Mish", "Erf")
ALPHAS = [-0.5, 0.0, 0.01, 0.2, 1.0, 1.5, 3.0]


def _kept(draw, op: str, hints: Hints, points=()) -> Case:
    case = draw(schema_cases(op, hints, domain=D))
    case.feed = draw(edge_feeds(points))
    return case


@st.composite
def plain_cases(draw, op: str) -> Case:
    return _kept(draw, op, Hints())


@st.composite
def hardtanh_cases(draw) -> Case:
    bounds = [-1.0, 0.0, 1.0, 2.0, 6.0, -2.0, -math.inf, math.inf]
    hints = Hints(attrs={"min_value": bounds, "max_value": bounds}, required_attrs=("min_value", "max_value"))
    case = draw(schema_cases("HardTanh", hints, domain=D))
    if draw(st.integers(0, 4), label="min == max") == 0:
        case.attrs["max_value"] = case.attrs["min_value"]
    case.feed = draw(edge_feeds([case.attrs["min_value"], case.attrs["max_value"]]))
    return case


@st.composite
def hard_sigmoid_cases(draw) -> Case:
    hints = Hints(attrs={"alpha": [1 / 6, 0.2, 0.5, -0.3, 0.0, 2.0], "beta": [0.5, 0.0, 1.0, -0.5, 2.0]})
    case = draw(schema_cases("HardSigmoid", hints, domain=D))
    alpha, beta = case.attrs.get("alpha", 0.2), case.attrs.get("beta", 0.5)
    case.feed = draw(edge_feeds([-beta / alpha, (1 - beta) / alpha] if alpha else []))
    return case


@st.composite
def gelu_cases(draw) -> Case:
    return _kept(draw, "Gelu", Hints(attrs={"approximate": ["none", "tanh", "sigmoid"]}))


@st.composite
def alpha_cases(draw, op: str) -> Case:
    return _kept(draw, op, Hints(attrs={"alpha": ALPHAS}))


@st.composite
def selu_cases(draw) -> Case:
    hints = Hints(
        attrs={
            "alpha": [SELU_ALPHA, 0.5, 2.0, -1.0, 0.0],
            "gamma": [SELU_GAMMA, 0.5, 2.0, -1.0, 0.0],
        }
    )
    return _kept(draw, "Selu", hints)


@st.composite
def softplus_cases(draw) -> Case:
    hints = Hints(
        attrs={
            "beta": [1.0, 1.0, 2.0, 0.5, 10.0, -1.0],
            "threshold": [20.0, 20.0, 15.0, 14.9, 5.0, 1.0, 0.0, -1.0, 100.0],
        },
        required_attrs=("beta", "threshold"),  # the reference function needs both
    )
    case = draw(schema_cases("Softplus", hints, domain=D))
    beta, threshold = case.attrs["beta"], case.attrs["threshold"]
    case.feed = draw(
        edge_feeds([threshold / beta] if beta else [], scales=(2.0, 2.0, 0.05, 10.0, 30.0, 100.0))
    )
    return case


CASES = {op: plain_cases(op) for op in PLAIN} | {
    "HardTanh": hardtanh_cases(),
    "HardSigmoid": hard_sigmoid_cases(),
    "Gelu": gelu_cases(),
    "Elu": alpha_cases("Elu"),
    "Celu": alpha_cases("Celu"),
    "LeakyRelu": alpha_cases("LeakyRelu"),
    "Selu": selu_cases(),
    "Softplus": softplus_cases(),
}


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("op", CASES)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_kept_activation(op, format, data):
    prove(data, CASES[op], format)
