"""Legalise Pad where the target's pad cannot take it: negative pads (cropping), reflect/edge pads
on an axis the layer does not pad (a NeuralNetwork's padding layer pads the last two axes), edge
pads wider than MIL's pad takes, and mode wrap (no layer in either format). It runs in every
pipeline, ``-O none`` included, so the report names the form.

Every form moves data only: a crop is a Slice; a padded axis is the Concat of slices of the input
that ONNX's mode copies there (reflect: x[b..1] | x | x[D-2..D-1-e]; edge: x[0] b times | x |
x[D-1] e times; wrap: x[D-b..D-1] | x | x[0..e-1]). Exact.

ONNX's Pad takes two to four inputs (data, pads, constant_value, axes), so each form has one rule
per input arity, all under one name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np

from bridgec.core import ir
from bridgec.core.words import plural
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet

Widths = list[tuple[int, int]]

# the Pad inputs a pattern names, in order; None: omitted (axes given without a constant value)
_ARITIES = (
    ("x", "pads"),
    ("x", "pads", "value"),
    ("x", "pads", "value", "axes"),
    ("x", "pads", None, "axes"),
)
# the axes a NeuralNetwork padding layer pads in reflect/edge mode, counted from the end
_LAYER_AXES = 2


def _widths(x, pads, axes) -> Widths | str:
    """(before, after) for every axis of ``x`` (ONNX lists every begin, then every end, for
    ``axes``: all axes when absent), or why the form cannot be built."""
    shape = x.shape
    if shape is None or not all(isinstance(d, int) and d >= 0 for d in shape):
        return "the input's shape is not static"
    given = ir.constant_value(pads)
    chosen = None if axes is None else ir.constant_value(axes)
    if given is None or (axes is not None and chosen is None):
        return "pads or axes are computed at run time"
    rank = len(shape)
    names = list(range(rank)) if chosen is None else [int(a) % rank for a in chosen.reshape(-1)]
    flat = [int(p) for p in given.reshape(-1)]
    if len(flat) != 2 * len(names):
        return f"{plural(flat, 'pad')} for {plural(names, 'axis', 'axes')}"
    widths = [(0, 0)] * rank
    for i, axis in enumerate(names):
        widths[axis] = (flat[i], flat[len(names) + i])
    return widths


def _ints(op, values: list[int]):
    return op.const(values, np.int64)


def _slice(op, x, shape: list[int], axis: int, start: int, stop: int, step: int = 1):
    """x[i for i in range(start, stop, step)] on ``axis``, its shape set: the target's checks read it."""
    length = len(range(start, stop, step))
    if stop < 0:  # a reversed run through index 0: ONNX's end "before the first" is -dim - 1
        stop = -shape[axis] - 1
    y = op.Slice(x, _ints(op, [start]), _ints(op, [stop]), _ints(op, [axis]), _ints(op, [step]))
    y.shape = [*shape[:axis], length, *shape[axis + 1 :]]
    return y


def _concat_axis(op, x, shape: list[int], axis: int, before: int, after: int, mode: str):
    """x padded by ``before``/``after`` on ``axis`` in ``mode``, as a Concat of slices of x."""
    dim = shape[axis]
    if mode == "reflect":
        head = [_slice(op, x, shape, axis, before, 0, -1)] if before else []
        tail = [_slice(op, x, shape, axis, dim - 2, dim - 2 - after, -1)] if after else []
    elif mode == "edge":
        head = [_slice(op, x, shape, axis, 0, 1)] * before if before else []
        tail = [_slice(op, x, shape, axis, dim - 1, dim)] * after if after else []
    else:  # wrap
        head = [_slice(op, x, shape, axis, dim - before, dim)] if before else []
        tail = [_slice(op, x, shape, axis, 0, after)] if after else []
    y = op.Concat(*head, x, *tail, axis=axis)
    shape = [*shape[:axis], dim + before + after, *shape[axis + 1 :]]
    y.shape = shape
    return y, shape


def _native_pad(op, x, widths: Widths, mode: str, value=None):
    pads = [b for b, _ in widths] + [e for _, e in widths]
    inputs = [x, _ints(op, pads)] + ([value] if value is not None else [])
    return op.Pad(*inputs, mode=mode)


# --- the forms: (check, replacement) over x, pads, value, axes and mode --------------------------------


def crop_check(x, pads, value, axes, mode) -> str | None:
    widths = _widths(x, pads, axes)
    if isinstance(widths, str):
        return widths
    if mode != "constant":
        return f"mode {mode}: only a constant pad's negative pads are a crop"
    if not any(b < 0 or e < 0 for b, e in widths):
        return "no negative pads"
    if any(d + b + e <= 0 for d, (b, e) in zip(x.shape, widths, strict=True)):
        return "the crop leaves an empty axis"
    return None


def crop(op, x, pads, value, axes, mode):
    widths = _widths(x, pads, axes)
    shape = list(x.shape)
    cropped = [a for a, (b, e) in enumerate(widths) if b < 0 or e < 0]
    starts = [max(-widths[a][0], 0) for a in cropped]
    stops = [shape[a] + min(widths[a][1], 0) for a in cropped]
    y = op.Slice(x, _ints(op, starts), _ints(op, stops), _ints(op, cropped))
    for axis, start, stop in zip(cropped, starts, stops, strict=True):
        shape[axis] = stop - start
    y.shape = shape
    rest = [(max(b, 0), max(e, 0)) for b, e in widths]
    if not any(b or e for b, e in rest):
        return y
    return _native_pad(op, y, rest, mode, value)


def _copied_check(x, pads, axes, mode) -> str | None:
    """Why the slices of x that ``mode`` copies cannot be built."""
    widths = _widths(x, pads, axes)
    if isinstance(widths, str):
        return widths
    if mode not in ("reflect", "edge", "wrap"):
        return f"mode {mode} copies no input"
    if any(b < 0 or e < 0 for b, e in widths):
        return "negative pads (a crop) in a copying mode"
    for axis, (dim, (b, e)) in enumerate(zip(x.shape, widths, strict=True)):
        if mode == "reflect" and max(b, e) >= dim:
            return f"reflect pads of {max(b, e)} on axis {axis} of size {dim} (ONNX: below the size)"
        if mode == "wrap" and max(b, e) > dim:
            return f"wrap pads of {max(b, e)} on axis {axis} of size {dim} (at most the size)"
        if (b or e) and dim == 0:
            return f"axis {axis} is empty: nothing to copy"
    return None


def leading_check(x, pads, value, axes, mode) -> str | None:
    reason = _copied_check(x, pads, axes, mode)
    if reason:
        return reason
    if mode == "wrap":
        return "mode wrap has no layer for the last two axes"
    widths = _widths(x, pads, axes)
    if not any(b or e for b, e in widths[:-_LAYER_AXES]):
        return f"only the last {_LAYER_AXES} axes are padded"
    return None


def leading(op, x, pads, value, axes, mode):
    widths = _widths(x, pads, axes)
    y, shape = x, list(x.shape)
    for axis, (b, e) in enumerate(widths[:-_LAYER_AXES]):
        if b or e:
            y, shape = _concat_axis(op, y, shape, axis, b, e, mode)
    last = [(0, 0)] * (len(widths) - _LAYER_AXES) + widths[-_LAYER_AXES:]
    if not any(b or e for b, e in last):
        return y
    return _native_pad(op, y, last, mode)


def every_check(x, pads, value, axes, mode) -> str | None:
    return _copied_check(x, pads, axes, mode)


def every(op, x, pads, value, axes, mode):
    y, shape = x, list(x.shape)
    for axis, (b, e) in enumerate(_widths(x, pads, axes)):
        if b or e:
            y, shape = _concat_axis(op, y, shape, axis, b, e, mode)
    return y


# --- one rule per arity ---------------------------------------------------------------------------------


def _signature(names: list[str]) -> inspect.Signature:
    return inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names])


def _arity(inputs: tuple, check: Callable, replacement: Callable) -> tuple[Callable, Callable, Callable]:
    """(pattern, replacement, check) for a Pad of ``inputs``; the form's functions take every input
    (None where the node omits it)."""
    named = [n for n in inputs if n]

    def pattern(op, *variables):  # a pattern is called with its variables in order
        bound = dict(zip([*named, "mode"], variables, strict=True))
        return op.Pad(*(bound[n] if n else None for n in inputs), mode=bound["mode"])

    def form(op, **bound):
        return replacement(op, **{n: bound.get(n) for n in ("x", "pads", "value", "axes", "mode")})

    def why(**bound):
        return check(**{n: bound.get(n) for n in ("x", "pads", "value", "axes", "mode")})

    pattern.__signature__ = form.__signature__ = _signature(["op", *named, "mode"])
    why.__signature__ = _signature([*named, "mode"])
    return pattern, form, why


def _rules(name: str, check: Callable, replacement: Callable, identity: str) -> tuple[Rule, ...]:
    return tuple(
        Rule(name, *_arity(inputs, check, replacement), identity, legalize=True) for inputs in _ARITIES
    )


@register
class LegalizePad(RuleSet):
    """Pad the target's pad cannot take -> a crop (Slice), or Concats of the slices its mode copies."""

    id = "lower::pad"
    # fmt: off
    rules = (
        *_rules("pad_crop_to_slice", crop_check, crop, "pad(x, -p) -> slice(x, p:-p)   (constant mode; then pad the positive pads)"),
        *_rules("pad_leading_axes_to_concat", leading_check, leading, "pad(x, mode) -> pad(concat(slices of x), mode) on the last two axes   (reflect/edge)"),
        *_rules("pad_to_concat", every_check, every, "pad(x, (b, e), mode) -> concat(b slices, x, e slices)   (reflect/edge/wrap)"),
    )
    # fmt: on
