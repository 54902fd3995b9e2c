"""Small Core AI programs written with Apple's authoring API for ops (and operand forms) bridgec's
emitters do not write yet, so each of the executor's semantics is cross-checked against Apple's
runtime, not only the ones the emitter cases reach. ``PROGRAMS[name] = (inputs, outputs, body, feeds)``."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated

import numpy as np
from coreai.authoring import TensorSpec, Value

F32, I32 = np.float32, np.int32
_RNG = np.random.default_rng(1)


def _normal(*shape) -> np.ndarray:
    return _RNG.standard_normal(shape).astype(F32)


def u32(*values) -> np.ndarray:
    return np.asarray(values, np.uint32)


def i32(*values) -> np.ndarray:
    return np.asarray(values, I32)


def _unary(op: str, **kwargs):
    return lambda ca, x: getattr(ca, op)(x, **kwargs)


# name -> ([(input, shape, dtype)], [(output, shape, dtype)], body(ca, *inputs), feeds)
PROGRAMS = {
    "silu": ([("x", (2, 5), F32)], [("y", (2, 5), F32)], _unary("silu"), {"x": _normal(2, 5)}),
    "gelu_tanh": (
        [("x", (2, 5), F32)],
        [("y", (2, 5), F32)],
        _unary("gelu", approximate="tanh"),
        {"x": _normal(2, 5)},
    ),
    "gelu_sigmoid": (
        [("x", (2, 5), F32)],
        [("y", (2, 5), F32)],
        _unary("gelu", approximate="sigmoid"),
        {"x": _normal(2, 5)},
    ),
    "rsqrt_exp": (
        [("x", (7,), F32)],
        [("y", (7,), F32)],
        lambda ca, x: ca.rsqrt(ca.exp(x)),
        {"x": _normal(7)},
    ),
    "round_abs_sin": (
        [("x", (9,), F32)],
        [("y", (9,), F32)],
        lambda ca, x: ca.add(ca.round_(x), ca.add(ca.abs_(x), ca.sin(x))),
        {"x": np.asarray([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.3, -3.7, 4.49], F32)},
    ),
    "float_floor_divide_modulo": (
        [("x", (3, 4), F32), ("w", (3, 4), F32)],
        [("q", (3, 4), F32), ("r", (3, 4), F32)],
        lambda ca, x, w: (ca.floor_divide(x, w), ca.modulo(x, w)),
        {"x": 5 * _normal(3, 4), "w": np.where(_RNG.random((3, 4)) < 0.5, -1, 1).astype(F32) * 1.7},
    ),
    "int_divide_floor_divide_modulo": (
        [("x", (8,), I32), ("w", (8,), I32)],
        [("t", (8,), I32), ("q", (8,), I32), ("r", (8,), I32)],
        lambda ca, x, w: (ca.divide(x, w), ca.floor_divide(x, w), ca.modulo(x, w)),
        {"x": i32(10, -10, 10, -10, 7, -7, 0, 9), "w": i32(3, 3, -3, -3, 7, 2, 5, -4)},
    ),
    "reduce_sum_min_product": (
        [("x", (2, 3, 4), F32)],
        [("s", (1, 3, 1), F32), ("m", (2, 1, 4), F32), ("p", (2, 3, 1), F32)],
        lambda ca, x: (ca.reduce_sum(x, i32(0, -1)), ca.reduce_min(x, i32(1)), ca.reduce_product(x, i32(2))),
        {"x": _normal(2, 3, 4)},
    ),
    "argmax": (
        [("x", (3, 4), F32)],
        [("y", (3, 1), np.uint32)],
        lambda ca, x: ca.argmax(x, np.asarray(1, I32)),
        {"x": np.asarray([[1, 3, 2, 3], [0, 0, 0, 0], [5, 2, 2, 9]], F32)},
    ),
    "tile_broadcast_to_expand_dims": (
        [("x", (3, 1), F32)],
        [("t", (6, 2), F32), ("b", (2, 3, 4), F32), ("e", (1, 3, 1, 1), F32)],
        lambda ca, x: (
            ca.tile(x, u32(2, 2)),
            ca.broadcast_to(x, u32(2, 3, 4)),
            ca.expand_dims(x, i32(2, -4)),
        ),
        {"x": _normal(3, 1)},
    ),
    "slice_negative_strides": (
        [("x", (5, 6), F32)],
        [("y", (4, 3), F32)],
        lambda ca, x: ca.slice_(x, i32(4, -1), i32(0, -7), i32(-1, -2)),
        {"x": _normal(5, 6)},
    ),
    "slice_clamped": (
        [("x", (5, 6), F32)],
        [("y", (3, 2), F32)],
        lambda ca, x: ca.slice_(x, i32(-3, 1), i32(99, 5), i32(1, 3)),
        {"x": _normal(5, 6)},
    ),
    "gather_along_axis": (
        [("x", (3, 4), F32), ("i", (3, 2), I32)],
        [("y", (3, 2), F32)],
        lambda ca, x, i: ca.gather_along_axis(x, i, np.asarray(1, I32)),
        {"x": _normal(3, 4), "i": i32([0, -1], [3, 1], [-4, 2])},
    ),
    "gather_nd_negative": (
        [("x", (4, 3), F32), ("i", (2, 1), I32)],
        [("y", (2, 3), F32)],
        lambda ca, x, i: ca.gather_nd(x, i),
        {"x": _normal(4, 3), "i": i32([-1], [2])},
    ),
    "interpolate_linear_half_pixel": (
        [("x", (1, 2, 4, 5), F32)],
        [("y", (1, 2, 7, 9), F32)],
        lambda ca, x: ca.interpolate(
            x, i32(1, 2, 7, 9), np.asarray([1, 1, 7 / 4, 9 / 5], F32), np.zeros(4, F32), "linear"
        ),
        {"x": _normal(1, 2, 4, 5)},
    ),
    "interpolate_nearest_align_corners": (
        [("x", (1, 1, 5, 4), F32)],
        [("y", (1, 1, 9, 3), F32)],
        lambda ca, x: ca.interpolate(
            x,
            i32(1, 1, 9, 3),
            np.asarray([1, 1, 8 / 4, 2 / 3], F32),
            np.asarray([0, 0, 0.5 * (1 - 8 / 4), 0.5 * (1 - 2 / 3)], F32),
            "nearest_neighbor",
        ),
        {"x": _normal(1, 1, 5, 4)},
    ),
    "pad_modes": (
        [("x", (2, 3, 4), F32)],
        [("s", (2, 5, 7), F32), ("r", (2, 5, 7), F32), ("c", (2, 5, 7), F32)],
        lambda ca, x: tuple(
            ca.pad(x, u32(0, 0, 1, 1, 2, 1), np.float32(0), padding_mode=mode)
            for mode in ("symmetric", "replicate", "circular")
        ),
        {"x": _normal(2, 3, 4)},
    ),
    "pools_dilated": (
        [("x", (1, 2, 9, 8), F32)],
        [("m", (1, 2, 3, 4), F32), ("s", (1, 2, 5, 2), F32)],
        lambda ca, x: (
            ca.maxpool2d(
                ca.TensorType((1, 2, 3, 4), F32), x, u32(3, 2), u32(2, 2), u32(2, 1), np.asarray(False)
            ),
            ca.sumpool2d(x, u32(2, 3), u32(1, 3), _constant(u32(4, 2))),
        ),
        {"x": _normal(1, 2, 9, 8)},
    ),
    "cast_where_compare": (
        [("x", (2, 6), F32), ("w", (2, 6), F32)],
        [("c", (2, 6), I32), ("y", (2, 6), F32), ("n", (2, 6), np.bool_)],
        lambda ca, x, w: (
            ca.cast(ca.mul(x, np.full((2, 6), 5, F32)), np.int32),
            ca.where(ca.greater(x, w), x, w),
            ca.not_equal(ca.cast(x, np.bool_), ca.greater(w, x)),
        ),
        {"x": np.where(_RNG.random((2, 6)) < 0.3, 0, _normal(2, 6)).astype(F32), "w": _normal(2, 6)},
    ),
    "split_by_size_and_sections": (
        [("x", (7, 2), F32)],
        [("a", (3, 2), F32), ("b", (3, 2), F32), ("c", (1, 2), F32), ("d", (7, 1), F32), ("e", (7, 1), F32)],
        lambda ca, x: (
            *ca.split(x, np.asarray(3, np.uint32), np.asarray(0, I32)),
            *ca.split(x, u32(1, 1), np.asarray(-1, I32)),
        ),
        {"x": _normal(7, 2)},
    ),
    "conv3d_grouped": (
        [("x", (1, 4, 5, 6, 7), F32), ("w", (6, 2, 2, 3, 2), F32)],
        [("y", (1, 6, 3, 2, 5), F32)],
        lambda ca, x, w: ca.conv3d(x, w, u32(1, 2, 1), u32(2, 1, 2), np.asarray(2, np.uint32)),
        {"x": _normal(1, 4, 5, 6, 7), "w": _normal(6, 2, 2, 3, 2)},
    ),
    "pools_3d": (
        [("x", (1, 2, 5, 6, 7), F32)],
        [("m", (1, 2, 3, 3, 3), F32), ("s", (1, 2, 4, 3, 2), F32)],
        lambda ca, x: (
            ca.maxpool3d(
                ca.TensorType((1, 2, 3, 3, 3), F32),
                x,
                u32(2, 3, 2),
                u32(2, 2, 2),
                u32(1, 1, 2),
                np.asarray(True),
            ),
            ca.sumpool3d(x, u32(2, 2, 2), u32(1, 2, 3), _constant(u32(1, 1, 1))),
        ),
        {"x": _normal(1, 2, 5, 6, 7)},
    ),
    "reverse": (
        [("x", (3, 4, 2), F32)],
        [("y", (3, 4, 2), F32)],
        lambda ca, x: ca.reverse(x, i32(-1, 0)),
        {"x": _normal(3, 4, 2)},
    ),
    "math_unary": (
        [("x", (2, 6), F32)],
        [("g", (2, 6), F32), ("e", (2, 6), F32), ("l", (2, 6), F32), ("r", (2, 6), F32), ("x2", (2, 6), F32)],
        lambda ca, x: (
            ca.gelu(x),
            ca.erf(x),
            ca.log(ca.exp(x)),
            ca.sqrt(ca.abs_(x)),
            ca.pow_(ca.abs_(x), np.full((2, 6), 1.5, F32)),
        ),
        {"x": _normal(2, 6)},
    ),
    "broadcasting_logic": (
        [("x", (2, 3), F32), ("w", (3,), F32)],
        [
            ("g", (2, 3), np.bool_),
            ("o", (2, 3), np.bool_),
            ("y", (2, 3), F32),
            ("p", (2, 3), F32),
            ("m", (2, 1), F32),
        ],
        lambda ca, x, w: (
            ca.broadcasting_xor(ca.broadcasting_greater(x, w), ca.not_(ca.broadcasting_equal(x, x))),
            ca.broadcasting_or(ca.and_(ca.greater(x, x), ca.greater(x, x)), ca.broadcasting_greater(w, x)),
            ca.broadcasting_where(ca.broadcasting_greater(x, w), x, w),
            ca.broadcasting_pow(ca.abs_(x), w),
            ca.reduce_max(x, i32(-1)),
        ),
        {"x": _normal(2, 3), "w": _normal(3)},
    ),
}


def _constant(value: np.ndarray):
    # sumpool2d's facade does not materialise a numpy dilation (docs/coreai-groundwork.md §2)
    from coreai.authoring.constant import constant

    return constant(value)


def save(name: str, path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """Build ``PROGRAMS[name]`` with a synthesised signature (as bridgec's builder does), save it."""
    import coreai.authoring as ca

    inputs, outputs, body, feeds = PROGRAMS[name]

    def main(*args):
        return body(ca, *args)

    annotations = {n: Annotated[Value, TensorSpec(s, d)] for n, s, d in inputs}
    results = [Annotated[Value, TensorSpec(s, d, name=n)] for n, s, d in outputs]
    annotations["return"] = results[0] if len(results) == 1 else tuple[tuple(results)]
    main.__signature__ = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n, _, _ in inputs]
    )
    main.__annotations__ = annotations
    module = ca.Module.create()
    with module:
        ca.graph(main)
    ca.AIProgram(module).save_asset(path, minimum_os=ca.OSVersion.v27)
    return path, feeds
