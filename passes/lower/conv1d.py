"""Legalise 1-D convolution, transposed convolution and pooling where the target's layer is 2-D
only (a NeuralNetwork's convolution, deconvolution and pooling layers slide over H and W). It runs
in every pipeline, ``-O none`` included, so the report names the form.

A 1-D window over [N, C, L] is the 2-D window (1, k) over [N, C, 1, L]: the unit axis has no
padding, stride 1 and one position, so every output element is the same sum, max or average of
the same inputs in the same order (a transposed convolution scatters into one row the same way).
Unsqueeze and Squeeze move no data: exact.
"""

from __future__ import annotations

import numpy as np

from bridgec.core import ir
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet
from bridgec.passes.lower.matmul import _axes

_UNIT = 2  # the new H axis, before L


def _lift(value, unit):
    """A 1-D window attribute as its 2-D one: ``unit`` on H (pads: begin and end), the value on W."""
    if value is None:
        return None
    if len(value) == 2:  # pads: [begin, end] -> [top, left, bottom, right]
        return [unit, int(value[0]), unit, int(value[1])]
    return [unit, *(int(v) for v in value)]


def _window_attrs(**attrs) -> dict:
    """The node's window attributes for the 2-D form; absent ones (None) stay absent."""
    lifted = {
        "kernel_shape": _lift(attrs.pop("kernel_shape"), 1),
        "strides": _lift(attrs.pop("strides"), 1),
        "dilations": _lift(attrs.pop("dilations"), 1),
        "pads": _lift(attrs.pop("pads"), 0),
    }
    return {k: v for k, v in {**lifted, **attrs}.items() if v is not None}


def _unsqueezed(op, x):
    """x [N, C, L] as [N, C, 1, L], its shape set: the target's checks read it (pooling's
    ceil_mode needs the static spatial shape)."""
    lifted = _axes(op, "Unsqueeze", x, [_UNIT])
    if x.shape is not None:
        lifted.shape = [*x.shape[:_UNIT], 1, *x.shape[_UNIT:]]
    return lifted


def _squeezed(op, y):
    """The 2-D result [N, C', 1, L'] back to [N, C', L'] (the anchor's output shape, with H put in)."""
    out = op.anchor.outputs[0].shape
    if out is not None:
        y.shape = [*out[:_UNIT], 1, *out[_UNIT:]]
    return _axes(op, "Squeeze", y, [_UNIT])


def _weight(op, w):
    """(O, I, K) -> (O, I, 1, K): a constant stays a constant (the target may need one)."""
    value = ir.constant_value(w)
    if value is not None:
        return op.const(np.expand_dims(value, _UNIT), value.dtype.type)
    return _axes(op, "Unsqueeze", w, [_UNIT])


def _one_spatial(x) -> str | None:
    if x.shape is None:
        return "the input's rank is unknown"
    return None if len(x.shape) == 3 else f"the input has rank {len(x.shape)}, not 3 (one spatial axis)"


# --- Conv ------------------------------------------------------------------------------------------


def conv(op, x, w, auto_pad, dilations, group, kernel_shape, pads, strides):
    return op.Conv(
        x,
        w,
        auto_pad=auto_pad,
        dilations=dilations,
        group=group,
        kernel_shape=kernel_shape,
        pads=pads,
        strides=strides,
    )


def conv_bias(op, x, w, b, auto_pad, dilations, group, kernel_shape, pads, strides):
    return op.Conv(
        x,
        w,
        b,
        auto_pad=auto_pad,
        dilations=dilations,
        group=group,
        kernel_shape=kernel_shape,
        pads=pads,
        strides=strides,
    )


def _conv_2d(op, x, w, b, auto_pad, dilations, group, kernel_shape, pads, strides):
    attrs = _window_attrs(
        kernel_shape=kernel_shape,
        strides=strides,
        dilations=dilations,
        pads=pads,
        auto_pad=auto_pad,
        group=group,
    )
    inputs = [_unsqueezed(op, x), _weight(op, w)] + ([b] if b is not None else [])
    return _squeezed(op, op.Conv(*inputs, **attrs))


def conv_2d(op, x, w, auto_pad, dilations, group, kernel_shape, pads, strides):
    return _conv_2d(op, x, w, None, auto_pad, dilations, group, kernel_shape, pads, strides)


def conv_bias_2d(op, x, w, b, auto_pad, dilations, group, kernel_shape, pads, strides):
    return _conv_2d(op, x, w, b, auto_pad, dilations, group, kernel_shape, pads, strides)


def conv_check(x, w) -> str | None:
    return _one_spatial(x)


# --- ConvTranspose -----------------------------------------------------------------------------------
# The unit H axis: kernel 1, stride 1, no pads or output padding, one input row: one output row,
# H_out = 1 * (1 - 1) + 0 + (1 - 1) * 1 + 1 - 0 = 1 (auto_pad SAME: H_in * 1 = 1).


def conv_transpose(
    op, x, w, auto_pad, dilations, group, kernel_shape, output_padding, output_shape, pads, strides
):
    return op.ConvTranspose(
        x,
        w,
        auto_pad=auto_pad,
        dilations=dilations,
        group=group,
        kernel_shape=kernel_shape,
        output_padding=output_padding,
        output_shape=output_shape,
        pads=pads,
        strides=strides,
    )


def conv_transpose_bias(
    op, x, w, b, auto_pad, dilations, group, kernel_shape, output_padding, output_shape, pads, strides
):
    return op.ConvTranspose(
        x,
        w,
        b,
        auto_pad=auto_pad,
        dilations=dilations,
        group=group,
        kernel_shape=kernel_shape,
        output_padding=output_padding,
        output_shape=output_shape,
        pads=pads,
        strides=strides,
    )


def _conv_transpose_2d(
    op, x, w, b, auto_pad, dilations, group, kernel_shape, output_padding, output_shape, pads, strides
):
    attrs = _window_attrs(
        kernel_shape=kernel_shape,
        strides=strides,
        dilations=dilations,
        pads=pads,
        auto_pad=auto_pad,
        group=group,
        output_padding=_lift(output_padding, 0),
        # spatial [L] or the whole [N, C, L]: H (size 1) goes in before L either way
        output_shape=None if output_shape is None else [*output_shape[:-1], 1, output_shape[-1]],
    )
    inputs = [_unsqueezed(op, x), _weight(op, w)] + ([b] if b is not None else [])
    return _squeezed(op, op.ConvTranspose(*inputs, **attrs))


def conv_transpose_2d(
    op, x, w, auto_pad, dilations, group, kernel_shape, output_padding, output_shape, pads, strides
):
    return _conv_transpose_2d(
        op, x, w, None, auto_pad, dilations, group, kernel_shape, output_padding, output_shape, pads, strides
    )


def conv_transpose_bias_2d(
    op, x, w, b, auto_pad, dilations, group, kernel_shape, output_padding, output_shape, pads, strides
):
    return _conv_transpose_2d(
        op, x, w, b, auto_pad, dilations, group, kernel_shape, output_padding, output_shape, pads, strides
    )


# --- MaxPool / AveragePool ---------------------------------------------------------------------------


def max_pool(op, x, auto_pad, ceil_mode, dilations, kernel_shape, pads, storage_order, strides):
    return op.MaxPool(
        x,
        auto_pad=auto_pad,
        ceil_mode=ceil_mode,
        dilations=dilations,
        kernel_shape=kernel_shape,
        pads=pads,
        storage_order=storage_order,
        strides=strides,
    )


def max_pool_2d(op, x, auto_pad, ceil_mode, dilations, kernel_shape, pads, storage_order, strides):
    attrs = _window_attrs(
        kernel_shape=kernel_shape,
        strides=strides,
        dilations=dilations,
        pads=pads,
        auto_pad=auto_pad,
        ceil_mode=ceil_mode,
    )
    if len(op.anchor.outputs) == 1:
        return _squeezed(op, op.MaxPool(_unsqueezed(op, x), **attrs))
    # with its Indices: flat NCHW indices over H = 1 are the NCL ones (the target may refuse them)
    values, indices = op.MaxPool(_unsqueezed(op, x), _outputs=2, storage_order=storage_order, **attrs)
    return _squeezed(op, values), _axes(op, "Squeeze", indices, [_UNIT])


def average_pool(op, x, auto_pad, ceil_mode, count_include_pad, dilations, kernel_shape, pads, strides):
    return op.AveragePool(
        x,
        auto_pad=auto_pad,
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
        dilations=dilations,
        kernel_shape=kernel_shape,
        pads=pads,
        strides=strides,
    )


def average_pool_2d(op, x, auto_pad, ceil_mode, count_include_pad, dilations, kernel_shape, pads, strides):
    attrs = _window_attrs(
        kernel_shape=kernel_shape,
        strides=strides,
        dilations=dilations,
        pads=pads,
        auto_pad=auto_pad,
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
    )
    return _squeezed(op, op.AveragePool(_unsqueezed(op, x), **attrs))


def pool_check(x) -> str | None:
    return _one_spatial(x)


# --- GlobalAveragePool / GlobalMaxPool --------------------------------------------------------------


def global_average(op, x):
    return op.GlobalAveragePool(x)


def global_max(op, x):
    return op.GlobalMaxPool(x)


def global_average_2d(op, x):
    return _squeezed(op, op.GlobalAveragePool(_unsqueezed(op, x)))


def global_max_2d(op, x):
    return _squeezed(op, op.GlobalMaxPool(_unsqueezed(op, x)))


@register
class LegalizeConv1d(RuleSet):
    """1-D Conv, ConvTranspose and pooling, where the target's layer is 2-D only -> the same window
    over a unit H axis."""

    id = "lower::conv1d"
    # fmt: off
    rules = (
        Rule("conv1d_to_conv2d", conv, conv_2d, conv_check, "conv1d(x, w) -> squeeze(conv2d(unsqueeze(x, 2), w[:, :, None]), 2)", legalize=True),
        Rule("conv1d_to_conv2d", conv_bias, conv_bias_2d, conv_check, "conv1d(x, w, b) -> squeeze(conv2d(unsqueeze(x, 2), w[:, :, None], b), 2)", legalize=True),
        Rule("conv_transpose1d_to_2d", conv_transpose, conv_transpose_2d, conv_check, "convtranspose1d(x, w) -> squeeze(convtranspose2d(unsqueeze(x, 2), w[:, :, None]), 2)", legalize=True),
        Rule("conv_transpose1d_to_2d", conv_transpose_bias, conv_transpose_bias_2d, conv_check, "convtranspose1d(x, w, b) -> squeeze(convtranspose2d(unsqueeze(x, 2), w[:, :, None], b), 2)", legalize=True),
        Rule("pool1d_to_pool2d", max_pool, max_pool_2d, pool_check, "maxpool1d(x, k) -> squeeze(maxpool2d(unsqueeze(x, 2), (1, k)), 2)", legalize=True),
        Rule("pool1d_to_pool2d", average_pool, average_pool_2d, pool_check, "avgpool1d(x, k) -> squeeze(avgpool2d(unsqueeze(x, 2), (1, k)), 2)", legalize=True),
        Rule("pool1d_to_pool2d", global_average, global_average_2d, pool_check, "globalavgpool(x) -> squeeze(globalavgpool(unsqueeze(x, 2)), 2)   (x rank 3)", legalize=True),
        Rule("pool1d_to_pool2d", global_max, global_max_2d, pool_check, "globalmaxpool(x) -> squeeze(globalmaxpool(unsqueeze(x, 2)), 2)   (x rank 3)", legalize=True),
    )
    # fmt: on
