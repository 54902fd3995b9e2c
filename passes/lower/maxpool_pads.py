"""Legalise a MaxPool whose windows reach padding the target would fill with zeros (a NeuralNetwork's
Pooling3D: "All padding types pad the input shape with zeros"): the padding made explicit with
-inf, then the same windows over the padded input with none. It runs in every pipeline, ``-O none``
included, so the report names the form.

ONNX's max never takes a padded cell; -inf is below every input value (an all -inf window gives
-inf either way), so max over the -inf-padded window is the max over its input cells. The padding
is ONNX's windows' own (``pool_windows.onnx_windows``): the begin pads, and at the end as far as
the last window reaches (ceil_mode's included), so floor-mode windows over the padded input are
the same windows. Pad and MaxPool move and compare values: exact.
"""

from __future__ import annotations

import numpy as np

from bridgec.core.pool_windows import AxisWindows, onnx_windows
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet


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


def _windows(op_node, x) -> list[AxisWindows] | str:
    shape = x.shape
    if shape is None or not all(isinstance(d, int) for d in shape[2:]):
        return "the input's spatial shape is not static"
    return onnx_windows(op_node, tuple(shape[2:]))


def _strides(kernel_shape, strides) -> list[int]:
    return [int(s) for s in strides] if strides is not None else [1] * len(kernel_shape)


def _explicit(x, windows: list[AxisWindows], kernel_shape, strides) -> tuple[list[int], list[int]]:
    """(begin, end) -inf pads per spatial axis: the begin pads, and the last window's reach."""
    spatial = x.shape[2:]
    steps = _strides(kernel_shape, strides)
    ends = [w.reach(n, int(k), s) for w, n, k, s in zip(windows, spatial, kernel_shape, steps, strict=True)]
    return [w.begin for w in windows], ends


class _Node:
    """The matched MaxPool's attributes as ``onnx_windows`` reads a node (the check sees bindings)."""

    op = "MaxPool"
    domain = ""

    def __init__(self, **attrs) -> None:
        self.attrs = {k: v for k, v in attrs.items() if v is not None}


def _bound_node(auto_pad, ceil_mode, kernel_shape, pads, strides) -> _Node:
    return _Node(
        auto_pad=auto_pad, ceil_mode=ceil_mode, kernel_shape=kernel_shape, pads=pads, strides=strides
    )


def check(x, auto_pad, ceil_mode, dilations, kernel_shape, pads, strides) -> str | None:
    if dilations is not None and any(int(d) != 1 for d in dilations):
        return "dilations (no pooling of the target takes them)"
    windows = _windows(_bound_node(auto_pad, ceil_mode, kernel_shape, pads, strides), x)
    if isinstance(windows, str):
        return windows
    begin, end = _explicit(x, windows, kernel_shape, strides)
    return None if any(begin) or any(end) else "no window reaches the padding"


def padded(op, x, auto_pad, ceil_mode, dilations, kernel_shape, pads, storage_order, strides):
    if len(op.anchor.outputs) > 1:
        # Indices count positions in the unpadded input, which no padded form keeps: the node's own
        # form again, which the target refuses, so the rule set passes this node by
        return op.MaxPool(
            x,
            _outputs=len(op.anchor.outputs),
            **{k: v for k, v in op.anchor.attrs.items()},
        )
    windows = _windows(_bound_node(auto_pad, ceil_mode, kernel_shape, pads, strides), x)
    begin, end = _explicit(x, windows, kernel_shape, strides)
    widths = op.const([0, 0, *begin, 0, 0, *end], np.int64)
    wide = op.Pad(x, widths, op.const(-np.inf, np.float32), mode="constant")
    wide.shape = [*x.shape[:2], *(n + b + e for n, b, e in zip(x.shape[2:], begin, end, strict=True))]
    return op.MaxPool(wide, kernel_shape=list(kernel_shape), strides=_strides(kernel_shape, strides))


@register
class LegalizeMaxPoolPads(RuleSet):
    """A MaxPool whose windows reach padding the target fills with zeros -> Pad with -inf, MaxPool unpadded."""

    id = "lower::maxpool_pads"
    # fmt: off
    rules = (
        Rule("maxpool_pads_as_neg_inf", max_pool, padded, check, "maxpool(x, pads) -> maxpool(pad(x, pads, -inf))   (the windows' own padding, ceil_mode's reach included)", legalize=True),
    )
    # fmt: on
