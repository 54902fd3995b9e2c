"""Elementwise binary, comparison, logical and unary math ops (iOS15 elementwise_binary/unary).

Semantics from the MIL op reference (coremltools' ops/defs/iOS15/elementwise_binary.py and
elementwise_unary.py docstrings): every binary op broadcasts "with numpy broadcasting" over
"T: fp16, fp32, i32" and computes the formula its docstring names (add "x + y", sub "x - y", mul
"x * y", real_div "x / y", floor_div "x / y ... rounded towards negative infinity", pow "x ^ y",
maximum "x > y ? x : y", minimum "x > y ? y : x", mod "x % y"); unary ops are the named function
element-wise (abs, ceil, cos, erf "the gauss error function", exp "e^x", floor "rounding towards
negative infinity", sin, sqrt, tanh ...; log "log(x + epsilon)", epsilon default 1e-45; inverse
"1 / (x + epsilon)", default 1e-4; rsqrt "1 / sqrt(x + epsilon)", default 1e-12; sign "either -1 or 1,
or zero if the input x is zero"). Where the reference is silent the comment on the entry says
what is assumed; tests/backends/coreml/executor/mlprogram/test_exec_mil_elementwise.py checks it against
numpy/torch and tests/properties/ the emitted programs against onnxruntime.
"""

from __future__ import annotations

import numpy as np

from bridgec.backends.coreml.executor.mlprogram._op import Op, OpFn
from bridgec.core.erf import erf as _erf


def erf(x: np.ndarray) -> np.ndarray:
    # math.erf's doubles (``_erf``, on whole arrays); rounding to x's dtype happens in the runner.
    return _erf(x.astype(np.float64)) if x.size else x


def _binary(fn) -> OpFn:
    return lambda op: fn(op["x"], op["y"])


def _floor_div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if x.dtype.kind in "iu" and y.dtype.kind in "iu":
        return np.floor_divide(x, y)
    return np.floor(x / y)


BINARY: dict[str, OpFn] = {
    "add": _binary(np.add),
    "sub": _binary(np.subtract),
    "mul": _binary(np.multiply),
    # silent: x / 0 (IEEE +-inf / NaN assumed); real_div of int32 (no emitter writes it)
    "real_div": _binary(np.true_divide),
    "floor_div": _binary(_floor_div),
    # silent: a negative base to a fractional exponent and 0 to a negative one (IEEE pow assumed: NaN, inf)
    "pow": _binary(np.power),
    # silent on NaN ("x > y ? x : y" would pick y for a NaN x): numpy's NaN propagation assumed
    "maximum": _binary(np.maximum),
    "minimum": _binary(np.minimum),
    # "x % y" is silent on signs (C's % takes the dividend's): Python's sign-of-divisor remainder
    # assumed, as MIL's value_inference (operator.mod)
    "mod": _binary(np.mod),
    # equal, less, ...: "Return the truth value of x == y [x < y, ...] element-wise with broadcasting",
    # a bool tensor; logical_and/or/xor: the same over bool tensors (iOS15 elementwise_binary.py)
    "equal": _binary(np.equal),
    "not_equal": _binary(np.not_equal),
    "less": _binary(np.less),
    "less_equal": _binary(np.less_equal),
    "greater": _binary(np.greater),
    "greater_equal": _binary(np.greater_equal),
    "logical_and": _binary(np.logical_and),
    "logical_or": _binary(np.logical_or),
    "logical_xor": _binary(np.logical_xor),
}


def _unary(fn) -> OpFn:
    return lambda op: fn(op["x"])


def _with_epsilon(fn, default: float) -> OpFn:
    def impl(op: Op) -> np.ndarray:
        x = op["x"]
        return fn(x + np.asarray(op.float("epsilon", default), dtype=x.dtype))

    return impl


def _round(x: np.ndarray) -> np.ndarray:
    # MIL's value_inference uses np.round: halves go to the even neighbour.
    return np.round(x)


UNARY: dict[str, OpFn] = {
    "abs": _unary(np.abs),
    "acos": _unary(np.arccos),
    "asin": _unary(np.arcsin),
    "atan": _unary(np.arctan),
    "atanh": _unary(np.arctanh),
    "ceil": _unary(np.ceil),
    "cos": _unary(np.cos),
    "cosh": _unary(np.cosh),
    "erf": _unary(erf),
    "exp": _unary(np.exp),
    "exp2": _unary(np.exp2),
    "floor": _unary(np.floor),
    "round": _unary(_round),
    "sign": _unary(np.sign),
    "sin": _unary(np.sin),
    "sinh": _unary(np.sinh),
    "sqrt": _unary(np.sqrt),
    "square": _unary(np.square),
    "tan": _unary(np.tan),
    "tanh": _unary(np.tanh),
    "logical_not": _unary(np.logical_not),  # "A numeric value t is evaluated to true iff t != 0"
    "inverse": _with_epsilon(np.reciprocal, 1e-4),
    "log": _with_epsilon(np.log, 1e-45),
    "rsqrt": _with_epsilon(lambda v: 1.0 / np.sqrt(v), 1e-12),
}


def select(op: Op) -> np.ndarray:
    """select (iOS15 control_flow.py): "When True, select element from x, otherwise, y"; "The shape
    of cond, a, and b must be broadcastable" and the result's shape follows "broadcast rules from
    cond, a, b"."""
    return np.where(op["cond"].astype(bool), op["a"], op["b"])


def cast(op: Op) -> np.ndarray:
    """cast: "Cast the input x to the new type dtype" (int32, fp16, fp32, bool; iOS17 adds int8,
    uint8, int16, uint16). The reference does not say how a float becomes an integer or a bool:
    truncation toward zero (as C, numpy and ONNX's Cast) and nonzero -> True are assumed, and
    tested on both sides (tests/backends/coreml/executor/mlprogram/test_exec_mil_tensor_ops.py, the Cast
    property test against onnxruntime)."""
    x, dtype = op["x"], op.dtype("dtype")
    if dtype.kind in "iu" and x.dtype.kind == "f":
        return np.trunc(x).astype(dtype)
    return x.astype(dtype)


def identity(op: Op) -> np.ndarray:
    return op["x"]


OPS: dict[str, OpFn] = {**BINARY, **UNARY, "select": select, "cast": cast, "identity": identity}
