"""Property: the convolution emitters (Conv, ConvTranspose), both formats, against onnxruntime:
1-D to 3-D, groups (depthwise and channel multipliers), dilations, strides, every auto_pad, explicit
and asymmetric pads, ConvTranspose's output_padding and output_shape, bias present or absent."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties._harness import FORMATS, PROPERTY_SETTINGS, Hints, In, ops_of, prove, schema_cases
from tests.properties._spatial import DILATIONS, KERNEL, SPATIAL_ATTRS, STRIDES, X, maybe, spatial_attrs

# group divides the input channels; the weight's output channels are a multiple of it
GROUP = st.shared(
    X.flatmap(lambda s: st.sampled_from([g for g in range(1, s[1] + 1) if s[1] % g == 0])), key="g"
)
PER_GROUP = st.shared(st.integers(1, 3), key="conv.per_group")  # output channels per group


def _weights(draw, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return rng.standard_normal(shape).astype(np.float32)


def _conv_inputs(transpose: bool):
    def build(draw, _shape) -> list[In]:
        x, kernel, group, per = draw(X), draw(KERNEL), draw(GROUP), draw(PER_GROUP)
        # Conv: W [M, C/group, *k]; ConvTranspose: W [C, M/group, *k]
        w_shape = (x[1], per, *kernel) if transpose else (group * per, x[1] // group, *kernel)
        out_channels = group * per
        computed = draw(st.sampled_from(range(16))) == 11  # a weight computed at run time must be refused
        inputs = [In(x), In(w_shape) if computed else In(w_shape, value=_weights(draw, w_shape))]
        if draw(st.booleans()):
            inputs.append(In((out_channels,), value=_weights(draw, (out_channels,))))
        return inputs

    return build


def _output_padding() -> st.SearchStrategy:
    # ONNX: output_padding below max(stride, dilation) on each axis
    return st.tuples(STRIDES, DILATIONS).flatmap(
        lambda sd: st.tuples(*[st.integers(0, max(s, d) - 1) for s, d in zip(*sd, strict=True)]).map(list)
    )


def _output_shape() -> st.SearchStrategy:
    """A spatial output size near the full deconvolution ``s (in - 1) + (k - 1) d + 1`` (smaller
    crops it, larger needs output_padding-like growth); sometimes with N and C in front."""

    def sizes(args):
        x, kernel, strides, dilations = args
        full = [
            s * (n - 1) + (k - 1) * d + 1
            for n, k, s, d in zip(x[2:], kernel, strides, dilations, strict=True)
        ]
        return st.tuples(
            *[st.integers(max(f - 3, 1), f + s - 1) for f, s in zip(full, strides, strict=True)]
        ).map(list)

    return st.tuples(X, KERNEL, STRIDES, DILATIONS).flatmap(sizes)


CONV = Hints(
    attrs={**spatial_attrs(pad_limit=3), "group": GROUP},
    required_attrs=("group",),
    inputs=_conv_inputs(False),
)
CONV_TRANSPOSE = Hints(
    attrs={
        **spatial_attrs(pad_limit=2),
        "kernel_shape": maybe(KERNEL.map(list)),
        "group": GROUP,
        "output_padding": maybe(_output_padding()),
        "output_shape": st.one_of(st.none(), st.none(), _output_shape()),
    },
    required_attrs=(*SPATIAL_ATTRS, "group", "output_padding", "output_shape"),
    inputs=_conv_inputs(True),
)

CASES = {"Conv": schema_cases("Conv", CONV), "ConvTranspose": schema_cases("ConvTranspose", CONV_TRANSPOSE)}


def test_every_conv_emitter_is_drawn():
    drawn = set(CASES) | {"BatchNormalization", "InstanceNormalization"}  # in test_normalization_props
    assert set(ops_of("neuralnetwork", "conv")) | set(ops_of("mlprogram", "conv")) <= drawn


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("op", sorted(CASES))
@PROPERTY_SETTINGS
@given(data=st.data())
def test_conv(op, format, data):
    prove(data, CASES[op], format)
