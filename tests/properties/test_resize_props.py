"""Property: the resize emitters (Resize, Upsample), both formats, against onnxruntime.

Drawn: every mode (nearest, linear, cubic), coordinate_transformation_mode (including opset 19's
half_pixel_symmetric and tf_crop_and_resize with a roi), nearest_mode, cubic_coeff_a,
exclude_outside, antialias, extrapolation_value, keep_aspect_ratio_policy and axes; scales or
sizes, up- and down-sampling by integer and fractional factors (ones whose product with the input
size is not an integer included), non-square and size-1 axes, batch and channel > 1, scaled N or C
axes, ranks 3 to 5; Upsample (opset 9) with nearest and linear.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, reject
from hypothesis import strategies as st
from onnx.reference import ReferenceEvaluator

from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.model import build as build_model
from bridgec.backends.coreml.targets import Target
from bridgec.core.numerics import TOLERANCES, difference
from bridgec.passes import PassContext
from bridgec.passes.lower.resize import LowerResize
from tests.properties._harness import (
    FORMATS,
    PROPERTY_SETTINGS,
    STATS,
    Case,
    Hints,
    In,
    ops_of,
    prove,
    reference,
    schema_cases,
)

# factors that hit integer, "nice" fractional (4 * 1.5 = 6) and awkward (5 * 1.5 = 7.5) products
_FACTORS = [0.25, 1 / 3, 0.5, 0.6, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0]
# repeated entries weight the draw toward what models contain (each rarer value still comes up)
_MODES = ["nearest", "nearest", "linear", "linear", "cubic"]
_TRANSFORMS = [
    "half_pixel",
    "half_pixel",
    "pytorch_half_pixel",
    "align_corners",
    "align_corners",
    "asymmetric",
    "asymmetric",
    "tf_crop_and_resize",
    "half_pixel_symmetric",  # opset 19
]


def _axis_factor(draw, spatial: bool) -> float:
    if spatial:
        return draw(st.sampled_from(_FACTORS))
    return draw(st.sampled_from([1.0] * 15 + [2.0]))  # N and C are rarely scaled


def _resize_inputs(draw, shape: tuple[int, ...]) -> list[In]:
    rank = len(shape)
    factors = [_axis_factor(draw, axis >= 2) for axis in range(rank)]
    # tf_crop_and_resize reads a roi (starts then ends, normalised); the others ignore it
    roi = In((), absent=True)
    if draw(st.integers(0, 3)) == 0:
        starts = [draw(st.sampled_from([0.0, 0.1, 0.25])) for _ in range(rank)]
        ends = [draw(st.sampled_from([1.0, 0.9, 0.75])) for _ in range(rank)]
        value = np.array(starts + ends, np.float32)
        roi = In(value.shape, np.float32, value)
    if draw(st.booleans()):
        scales = np.array(factors, np.float32)
        return [In(shape), roi, In(scales.shape, np.float32, scales)]
    sizes = np.array([max(1, int(round(d * f))) for d, f in zip(shape, factors, strict=True)], np.int64)
    if draw(st.booleans()):  # a size drawn on its own, not a multiple of the input
        sizes[-1] = draw(st.integers(1, 9))
    return [In(shape), roi, In((), absent=True), In(sizes.shape, np.int64, sizes)]


_RESIZE = Hints(
    attrs={
        "mode": _MODES,
        "coordinate_transformation_mode": _TRANSFORMS,
        "nearest_mode": ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"],
        "cubic_coeff_a": [-0.75, -0.5],
        "exclude_outside": [0, 0, 0, 1],
        "antialias": [0, 0, 0, 1],
        "keep_aspect_ratio_policy": ["stretch", "stretch", "stretch", "not_larger", "not_smaller"],
        "extrapolation_value": [0.0, 10.0, -1.5],
    },
    omit_attrs=("axes",),  # drawn below, with scales or sizes of the same length
    ranks=(4, 4),
    dims=(1, 6),
    inputs=_resize_inputs,
)


# what exporters write: mode and coordinates always explicit, no antialias / axes / aspect policy
_PLAIN = dataclasses.replace(
    _RESIZE,
    required_attrs=("mode", "coordinate_transformation_mode", "nearest_mode"),
    omit_attrs=("axes", "antialias", "exclude_outside", "keep_aspect_ratio_policy", "extrapolation_value"),
)


@st.composite
def resize_cases(draw, ranks: tuple[int, int] = (4, 4)) -> Case:
    plain = draw(st.booleans())
    hints = dataclasses.replace(_PLAIN if plain else _RESIZE, ranks=ranks)
    case = draw(schema_cases("Resize", hints))
    inputs = list(case.inputs)
    rank = len(inputs[0].shape)
    attrs = dict(case.attrs)
    if not plain and rank >= 3 and draw(st.integers(0, 3)) == 0:  # scales/sizes for `axes` only
        axes = draw(st.sampled_from([[-2, -1], [rank - 2, rank - 1], [rank - 1], [-2]]))
        given = next(i for i in (3, 2) if i < len(inputs) and not inputs[i].absent)
        value = np.asarray(inputs[given].value)[[a % rank for a in axes]]
        inputs[given] = In(value.shape, value.dtype, value)
        attrs["axes"] = axes
        if inputs[1].value is not None:  # the roi lists the same axes
            roi = np.asarray(inputs[1].value).reshape(2, rank)[:, [a % rank for a in axes]].reshape(-1)
            inputs[1] = In(roi.shape, np.float32, roi)
    opset = 19 if attrs.get("coordinate_transformation_mode") == "half_pixel_symmetric" else case.opset
    return dataclasses.replace(case, inputs=inputs, attrs=attrs, opset=opset)


def _upsample_inputs(draw, shape: tuple[int, ...]) -> list[In]:
    factors = [_axis_factor(draw, axis >= 2) for axis in range(len(shape))]
    factors = [max(f, 1.0) for f in factors]  # Upsample scales must be >= 1
    scales = np.array(factors, np.float32)
    return [In(shape), In(scales.shape, np.float32, scales)]


@st.composite
def upsample_cases(draw) -> Case:
    # Upsample's last version is 9 (deprecated from 10 on): drawn with opset 9's two modes
    hints = Hints(attrs={"mode": ["nearest", "linear"]}, ranks=(4, 4), dims=(1, 6), inputs=_upsample_inputs)
    case = draw(schema_cases("Upsample", hints))
    return dataclasses.replace(case, opset=9)


CASES = {
    "Resize": resize_cases(),
    "Upsample": upsample_cases(),
}


def test_every_resize_emitter_is_drawn():
    assert set(ops_of("neuralnetwork", "resize")) | set(ops_of("mlprogram", "resize")) <= set(CASES)


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("op", sorted(CASES))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_resize(op, format, data):
    prove(data, CASES[op], format)


@pytest.mark.parametrize("format", FORMATS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_resize_other_ranks(format, data):
    # ranks 3 and 5 (1-D and 3-D resizes): no Core ML layer is rank-generic, so these are refused
    # or, where emitted, must be right
    prove(data, resize_cases(ranks=(3, 5)), format)


def _as_resize(case: Case) -> Case:
    """Upsample as the Resize it is (asymmetric, floor when upsampling): the ONNX reference
    implements Upsample for integer scales only."""
    if case.op != "Upsample":
        return case
    attrs = {**case.attrs, "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    return dataclasses.replace(
        case, op="Resize", inputs=[case.inputs[0], In((), absent=True), case.inputs[1]], attrs=attrs, opset=13
    )


@pytest.mark.parametrize("format", FORMATS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_refused_resizes_lower_exactly(format, data):
    """What the emitter refuses, lower::resize turns into MatMuls computing what onnxruntime does
    (or leaves, with a reason); the lowered model is run by the reference executor."""
    case = data.draw(st.one_of(resize_cases(), resize_cases(ranks=(2, 5)), upsample_cases()), label="case")
    found = reference(case)
    if found is None or any(v.size == 0 for v in found[2]):
        reject()
    graph, feeds, want = found
    target = Target.parse(data.draw(st.sampled_from(FORMATS[format]), label="target"), format=format)
    context = PassContext(capabilities=capabilities_for(target))
    node = graph.nodes[0]
    if context.capabilities.unsupported_reason(node) is None:
        return  # native: test_resize proves it
    lowered = LowerResize()(graph, context).graph
    key = (format, f"{case.op} -> lower::resize")
    if not context.rewrites:
        assert context.near_misses["lower::resize/resize_to_matmul"].reason
        STATS[(*key, "refused")] += 1
        return
    expected = want[0]
    if expected.shape == tuple(graph.inputs[0].shape):
        # onnxruntime returns the input as it is when the shape does not change, whatever the scales
        # say (2 px by 1.25 -> 2 px); the ONNX reference (and PyTorch) sample at i / 1.25
        try:
            expected = ReferenceEvaluator(_as_resize(case).model()).run(None, feeds)[0]
        except ValueError:  # onnx.reference's Resize cannot transpose negative axes (its own bug)
            reject()
    got = build_model(lowered.copy(), target).run_reference(feeds)[graph.outputs[0].name]
    diff = difference(np.asarray(got).reshape(expected.shape), expected)
    STATS[(*key, "matched" if diff.within(TOLERANCES["fp32"]) else "wrong")] += 1
    assert diff.within(TOLERANCES["fp32"]), f"{case.describe()} lowered for {target.name}: {diff.max_rel:.3g}"
