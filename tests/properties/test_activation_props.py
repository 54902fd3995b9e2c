"""Property: the activation emitters (ops/activations.py, mil/activations.py and PRelu of
ops/math.py), both formats, against onnxruntime.

Every parameter reaches its corners: LeakyRelu/Elu/Celu alpha negative, 0 and > 1, Selu's alpha and
gamma off their defaults, HardSigmoid's kinks, Clip with either bound absent, min > max, min == max
and infinite bounds, PRelu slopes of every broadcast form (scalar, per channel on axis 1 or -3,
last axis, full, run time), Softmax/LogSoftmax on every axis. Feeds put elements exactly on the
op's edges and draw a scale from tiny to past exp's overflow (``_edges``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties._edges import edge_feeds
from tests.properties._harness import FORMATS, PROPERTY_SETTINGS, Case, Hints, In, prove, schema_cases, shapes

PLAIN = ("Relu", "Sigmoid", "Tanh", "Softsign", "Softplus", "HardSwish", "Mish", "Identity")
# alpha values: negative, 0, the defaults, > 1
ALPHAS = [-0.5, 0.0, 0.01, 0.2, 1.0, 1.5, 3.0]


def _with_edges(draw, case: Case, points=()) -> Case:
    case.feed = draw(edge_feeds(points))
    return case


@st.composite
def plain_cases(draw, op: str) -> Case:
    return _with_edges(draw, draw(schema_cases(op)))


@st.composite
def alpha_cases(draw, op: str) -> Case:
    return _with_edges(draw, draw(schema_cases(op, Hints(attrs={"alpha": ALPHAS}))))


@st.composite
def selu_cases(draw) -> Case:
    hints = Hints(
        attrs={"alpha": [1.6732632, 0.5, 2.0, -1.0, 0.0], "gamma": [1.0507010, 0.5, 2.0, -1.0, 0.0]}
    )
    return _with_edges(draw, draw(schema_cases("Selu", hints)))


@st.composite
def hard_sigmoid_cases(draw) -> Case:
    hints = Hints(attrs={"alpha": [0.2, 1 / 6, 0.5, -0.3, 0.0, 2.0], "beta": [0.5, 0.0, 1.0, -0.5, 2.0]})
    case = draw(schema_cases("HardSigmoid", hints))
    alpha, beta = case.attrs.get("alpha", 0.2), case.attrs.get("beta", 0.5)
    kinks = [-beta / alpha, (1 - beta) / alpha] if alpha else []
    return _with_edges(draw, case, kinks)


def _bound(draw, which: str) -> float | None:
    return draw(st.sampled_from([None, -1.0, 0.0, 0.5, 1.0, 6.0, -np.inf, np.inf]), label=which)


@st.composite
def clip_cases(draw) -> Case:
    shape = draw(shapes())
    lo, hi = _bound(draw, "min"), _bound(draw, "max")
    if lo is not None and hi is not None and draw(st.integers(0, 4)) == 0:
        hi = lo  # min == max: every element becomes the bound
    form = draw(st.sampled_from(["const", "const", "const", "runtime", "empty-name"]), label="bounds form")
    inputs = [In(shape)]
    for value in (lo, hi):
        if value is None:
            inputs.append(In((), absent=True))
        elif form == "runtime":
            inputs.append(In((), from_float=True, lift=True))  # a run-time scalar bound
        else:
            inputs.append(In((), np.float32, np.asarray(value, np.float32)))
    if form != "empty-name":
        while inputs[-1].absent:
            inputs.pop()
    case = Case("Clip", inputs)
    if form == "const" and draw(st.integers(0, 4), label="integer") == 0:  # integer x and bounds
        for x in case.inputs[1:]:
            if x.value is not None and np.isfinite(x.value):
                x.dtype, x.value = np.int64, x.value.astype(np.int64)
            elif x.value is not None:
                return case  # an infinite bound has no integer form: the float case stays
        case.inputs[0] = In(shape, np.int64, from_float=True)
        case.feed = lambda rng, s, dtype: rng.integers(-9, 10, s).astype(np.float32)
        return case
    return _with_edges(draw, case, [v for v in (lo, hi) if v is not None])


@st.composite
def softmax_cases(draw, op: str) -> Case:
    shape = draw(shapes())
    attrs = {}
    if draw(st.booleans(), label="axis given"):
        attrs["axis"] = draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    case = Case(op, [In(shape)], attrs)
    return _with_edges(draw, case)


@st.composite
def prelu_cases(draw) -> Case:
    shape = draw(shapes())
    rank = len(shape)
    forms = ["scalar", "one", "last", "full", "suffix", "runtime"]
    if rank >= 2:
        forms += ["axis1", "axis1-lead"]
    if rank >= 3:
        forms += ["axis-3"]
    form = draw(st.sampled_from(forms), label="slope form")
    if form in ("suffix", "runtime"):
        slope_shape = draw(st.one_of(st.just(shape), st.just(shape[-1:]), st.just((1,))))
    elif form.startswith("axis1"):  # one slope per channel of axis 1 (torch's PReLU(C))
        slope_shape = (1,) * (form == "axis1-lead") + (shape[1],) + (1,) * (rank - 2)
    elif form == "axis-3":  # one slope per channel of axis -3 (NeuralNetwork PReLU's C)
        slope_shape = (shape[-3], 1, 1)
    else:
        slope_shape = {"scalar": (), "one": (1,), "last": shape[-1:], "full": shape}[form]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    values = rng.choice(np.asarray(ALPHAS, np.float32), size=slope_shape).astype(np.float32)
    slope = In(slope_shape) if form == "runtime" else In(slope_shape, np.float32, values)
    return _with_edges(draw, Case("PRelu", [In(shape), slope]))


@st.composite
def gelu_cases(draw) -> Case:
    # ONNX Gelu is opset 20 (the harness's schema is 18's): built by hand
    attrs = {}
    mode = draw(st.sampled_from([None, "none", "tanh", "sigmoid"]), label="approximate")
    if mode is not None:
        attrs["approximate"] = mode
    return _with_edges(draw, Case("Gelu", [In(draw(shapes()))], attrs, opset=20))


@st.composite
def dropout_cases(draw) -> Case:
    shape = draw(shapes())
    inputs = [In(shape)]
    ratio = draw(st.sampled_from([None, 0.0, 0.5, "runtime"]), label="ratio")
    training = draw(st.sampled_from([None, False, True, "runtime"]), label="training_mode")
    if ratio is None:
        inputs.append(In((), absent=True))
    elif ratio == "runtime":
        inputs.append(In((), from_float=True, lift=True))
    else:
        inputs.append(In((), np.float32, np.asarray(ratio, np.float32)))
    if training == "runtime":
        inputs.append(In((), np.bool_, from_float=True, lift=True))
    elif training is not None:
        inputs.append(In((), np.bool_, np.asarray(training)))
    while inputs[-1].absent:
        inputs.pop()
    outputs = draw(st.sampled_from([1, 2]), label="outputs")
    case = Case("Dropout", inputs, outputs=outputs)
    if training == "runtime":
        feed = draw(edge_feeds())
        case.feed = lambda rng, shape, dtype: (
            np.zeros(shape, np.float32) if np.dtype(dtype) == np.bool_ else feed(rng, shape, dtype)
        )
        return case
    return _with_edges(draw, case)


CASES = {op: plain_cases(op) for op in PLAIN} | {
    "LeakyRelu": alpha_cases("LeakyRelu"),
    "Elu": alpha_cases("Elu"),
    "Celu": alpha_cases("Celu"),
    "Selu": selu_cases(),
    "HardSigmoid": hard_sigmoid_cases(),
    "Clip": clip_cases(),
    "Softmax": softmax_cases("Softmax"),
    "LogSoftmax": softmax_cases("LogSoftmax"),
    "PRelu": prelu_cases(),
    "Gelu": gelu_cases(),
    "Dropout": dropout_cases(),
}


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("op", CASES)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_activation(op, format, data):
    prove(data, CASES[op], format)
