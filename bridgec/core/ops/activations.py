"""The kept activations: elementwise torch activations the frontend keeps as one node each.

Each declaration holds the op's attributes with torch's defaults, its one-line semantics, its ONNX
function body (what onnxruntime runs) and its numpy reference (what the custom-layer kernels and
the reference executor are held to). The numpy references compute in float64 and round once to
the input's dtype: the value torch computes (in float32 "opmath" for float16 tensors), up to its own
rounding errors. NaN inputs give NaN. At +-infinity they give the IEEE value of torch's formula:
x * gate(x) forms (HardSwish, Gelu, Silu, Mish) are NaN at -inf (-inf * 0) and inf at +inf; the
saturating ones (HardSigmoid, Elu, Selu, Celu, Softplus, Erf) their limits; LeakyRelu +-inf.
"""

from __future__ import annotations

import math

import numpy as np

from bridgec.core.erf import erf as _erf  # math.erf's doubles, on arrays
from bridgec.core.ops._decl import Aten, Attr, OpDecl, register, scalar

# torch.nn.SELU's constants (the ONNX Selu defaults are these rounded to float32).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_GAMMA = 1.0507009873554804934193349852946
GELU_TANH_COEFFICIENT = 0.044715  # torch's tanh approximation: sqrt(2/pi) (x + 0.044715 x^3)


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _like(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.asarray(y).astype(np.asarray(x).dtype, copy=False)


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _only(body: str):
    """A body that is the same at every opset."""
    return lambda opset: body


def _float(name: str, default: float) -> Attr:
    return Attr(name, "float", default)


# --- HardTanh ---------------------------------------------------------------------------------------


def hardtanh(x: np.ndarray, min_value: float, max_value: float) -> np.ndarray:
    """In x's own dtype (clamping rounds nothing: the kernels are bit-exact to this); an infinite
    bound leaves that side open."""
    lo = np.asarray(min_value, dtype=x.dtype)
    hi = np.asarray(max_value, dtype=x.dtype)
    return np.minimum(np.maximum(x, lo), hi)


_HARDTANH_BODIES = {
    "attr": "y = Clip <min: float = @min_value, max: float = @max_value> (x)",
    "input": """
        lo = Constant <value_float: float = @min_value> ()
        hi = Constant <value_float: float = @max_value> ()
        y = Clip (x, lo, hi)""",
    "castlike": """
        lo_f = Constant <value_float: float = @min_value> ()
        hi_f = Constant <value_float: float = @max_value> ()
        lo = CastLike (lo_f, x)
        hi = CastLike (hi_f, x)
        y = Clip (x, lo, hi)""",
}


def _hardtanh_body(opset: int) -> str:
    # Clip takes its bounds as attributes before opset 11 and as inputs after
    return _HARDTANH_BODIES["attr" if opset < 11 else ("input" if opset < 15 else "castlike")]


HARDTANH = register(
    OpDecl(
        "HardTanh",
        "min(max(x, min_value), max_value)",
        (_float("min_value", -1.0), _float("max_value", 1.0)),
        _hardtanh_body,
        hardtanh,
        aten=(
            Aten("hardtanh", (("min_val", "min_value"), ("max_val", "max_value"))),
            Aten("relu6", fixed={"min_value": 0.0, "max_value": 6.0}),
        ),
    )
)

# --- HardSwish, HardSigmoid ---------------------------------------------------------------------------


def hardswish(x: np.ndarray) -> np.ndarray:
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(v * np.clip(v + 3.0, 0.0, 6.0) / 6.0, x)


def hardsigmoid(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(np.clip(alpha * v + beta, 0.0, 1.0), x)


def _hardswish_body(opset: int) -> str:
    if opset >= 14:  # ONNX HardSwish exists from opset 14
        return "y = HardSwish (x)"
    # x * relu6(x + 3) / 6 == x * hardsigmoid(x, 1/6, 1/2)
    return "s = HardSigmoid <alpha: float = 0.16666667, beta: float = 0.5> (x)\ny = Mul (x, s)"


HARDSWISH = register(
    OpDecl("HardSwish", "x * relu6(x + 3) / 6", (), _hardswish_body, hardswish, (Aten("hardswish"),))
)

# torch's hardsigmoid is relu6(x + 3) / 6: alpha 1/6 (ONNX's HardSigmoid defaults to 0.2)
HARDSIGMOID = register(
    OpDecl(
        "HardSigmoid",
        "max(0, min(1, alpha * x + beta))",
        (_float("alpha", 1 / 6), _float("beta", 0.5)),
        _only("y = HardSigmoid <alpha: float = @alpha, beta: float = @beta> (x)"),
        hardsigmoid,
        (Aten("hardsigmoid"),),
    )
)

# --- Gelu -----------------------------------------------------------------------------------------------


def gelu(x: np.ndarray, approximate: str) -> np.ndarray:
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        if approximate == "none":
            # 0.5 * x * (1 + erf(x / sqrt 2)) = 0.5 * x * erfc(-x / sqrt 2), without cancellation.
            y = 0.5 * v * _erfc(-v / math.sqrt(2.0))
        elif approximate == "tanh":
            # 0.5 * x * (1 + tanh(u)) = x / (1 + exp(-2u)), u = sqrt(2/pi) * (x + 0.044715 x^3).
            u = math.sqrt(2.0 / math.pi) * (v + GELU_TANH_COEFFICIENT * v * v * v)
            y = v / (1.0 + np.exp(-2.0 * u))
        else:
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _like(y, x)


def _gelu_body(opset: int, approximate: str) -> str:
    if approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        return (
            scalar("k", str(math.sqrt(2 / math.pi)), opset)
            + scalar("c", str(GELU_TANH_COEFFICIENT), opset)
            + scalar("half", "0.5", opset)
            + scalar("one", "1.0", opset)
            + """x2 = Mul (x, x)
            x3 = Mul (x2, x)
            cx3 = Mul (c, x3)
            inner = Add (x, cx3)
            arg = Mul (k, inner)
            t = Tanh (arg)
            onet = Add (one, t)
            hx = Mul (half, x)
            y = Mul (hx, onet)"""
        )
    # 0.5 x (1 + erf(x / sqrt(2)))
    return (
        scalar("r", str(1 / math.sqrt(2)), opset)
        + scalar("half", "0.5", opset)
        + scalar("one", "1.0", opset)
        + """xr = Mul (x, r)
        e = Erf (xr)
        onee = Add (one, e)
        hx = Mul (half, x)
        y = Mul (hx, onee)"""
    )


GELU = register(
    OpDecl(
        "Gelu",
        'x * Phi(x) (approximate "none") or its tanh approximation (approximate "tanh")',
        (Attr("approximate", "string", "none", choices=("none", "tanh")),),
        _gelu_body,
        gelu,
        (Aten("gelu", (("approximate", "approximate"),), inplace=False),),
    )
)

# --- Silu, Mish -------------------------------------------------------------------------------------------


def silu(x: np.ndarray) -> np.ndarray:
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(v / (1.0 + np.exp(-v)), x)


def mish(x: np.ndarray) -> np.ndarray:
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(v * np.tanh(np.logaddexp(0.0, v)), x)


SILU = register(
    OpDecl("Silu", "x * sigmoid(x)", (), _only("s = Sigmoid (x)\ny = Mul (x, s)"), silu, (Aten("silu"),))
)
MISH = register(
    OpDecl(
        "Mish",
        "x * tanh(softplus(x))",
        (),
        _only("sp = Softplus (x)\nt = Tanh (sp)\ny = Mul (x, t)"),
        mish,
        (Aten("mish"),),
    )
)

# --- Elu, Selu, Celu ------------------------------------------------------------------------------------


def elu(x: np.ndarray, alpha: float) -> np.ndarray:
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(np.where(v > 0, v, alpha * np.expm1(v)), x)


def selu(x: np.ndarray, alpha: float, gamma: float) -> np.ndarray:
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(gamma * np.where(v > 0, v, alpha * np.expm1(v)), x)


def celu(x: np.ndarray, alpha: float) -> np.ndarray:
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        return _like(np.maximum(v, 0.0) + np.minimum(0.0, alpha * np.expm1(v / alpha)), x)


def _celu_body(opset: int) -> str:
    if opset >= 12:  # ONNX Celu exists from opset 12
        return "y = Celu <alpha: float = @alpha> (x)"
    return (
        scalar("a", "@alpha", opset)
        + scalar("zero", "0.0", opset)
        + scalar("one", "1.0", opset)
        + """xa = Div (x, a)
        ex = Exp (xa)
        em1 = Sub (ex, one)
        neg = Mul (a, em1)
        lo = Min (zero, neg)
        hi = Max (zero, x)
        y = Add (hi, lo)"""
    )


# aten::elu's scale and input_scale (torch-internal uses) are not attributes: the frontends map
# elu with scales to Selu / Celu or leave it to torch.
ELU = register(
    OpDecl(
        "Elu",
        "x if x > 0 else alpha * (exp(x) - 1)",
        (_float("alpha", 1.0),),
        _only("y = Elu <alpha: float = @alpha> (x)"),
        elu,
        (Aten("elu", (("alpha", "alpha"),)),),
    )
)
SELU = register(
    OpDecl(
        "Selu",
        "gamma * (x if x > 0 else alpha * (exp(x) - 1))",
        (_float("alpha", SELU_ALPHA), _float("gamma", SELU_GAMMA)),
        _only("y = Selu <alpha: float = @alpha, gamma: float = @gamma> (x)"),
        selu,
        (Aten("selu"),),
    )
)
CELU = register(
    OpDecl(
        "Celu",
        "max(0, x) + min(0, alpha * (exp(x / alpha) - 1))",
        (_float("alpha", 1.0),),
        _celu_body,
        celu,
        (Aten("celu", (("alpha", "alpha"),)),),
    )
)

# --- Softplus, LeakyRelu, Erf -----------------------------------------------------------------------------


def softplus(x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
    v = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(np.where(beta * v > threshold, v, np.logaddexp(0.0, beta * v) / beta), x)


def _softplus_body(opset: int) -> str:
    return (
        scalar("beta", "@beta", opset)
        + scalar("threshold", "@threshold", opset)
        + """bx = Mul (x, beta)
        sp = Softplus (bx)
        soft = Div (sp, beta)
        linear = Greater (bx, threshold)
        y = Where (linear, x, soft)"""
    )


def leaky_relu(x: np.ndarray, alpha: float) -> np.ndarray:
    v = _f64(x)
    # torch's kernel tests x > 0 (its docs say x >= 0): the same value at 0, and the same sign of
    # zero as torch at -0.0 with a negative slope
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(np.where(v > 0, v, alpha * v), x)


def erf(x: np.ndarray) -> np.ndarray:
    return _like(_erf(_f64(x)), x)


SOFTPLUS = register(
    OpDecl(
        "Softplus",
        "x if beta * x > threshold else log(1 + exp(beta * x)) / beta",
        (_float("beta", 1.0), _float("threshold", 20.0)),
        _softplus_body,
        softplus,
        (Aten("softplus", (("beta", "beta"), ("threshold", "threshold")), inplace=False),),
    )
)
LEAKY_RELU = register(
    OpDecl(
        "LeakyRelu",
        "x if x >= 0 else alpha * x",
        (_float("alpha", 0.01),),
        _only("y = LeakyRelu <alpha: float = @alpha> (x)"),
        leaky_relu,
        (Aten("leaky_relu", (("negative_slope", "alpha"),)),),
    )
)
ERF = register(OpDecl("Erf", "erf(x), the error function", (), _only("y = Erf (x)"), erf))

# --- Softshrink ---------------------------------------------------------------------------------------


def softshrink(x: np.ndarray, lambd: float) -> np.ndarray:
    v = _f64(x)
    # torch's kernel: x * 0 inside the band, so NaN stays NaN and -0.0 keeps its sign
    with np.errstate(invalid="ignore", over="ignore"):
        return _like(np.where(v > lambd, v - lambd, np.where(v < -lambd, v + lambd, v * 0.0)), x)


def _softshrink_body(opset: int) -> str:
    # x - clip(x, -lambd, lambd); Clip takes its bounds as inputs from opset 11
    clip = "c = Clip (x, nl, l)" if opset >= 11 else "m = Max (x, nl)\nc = Min (m, l)"
    return scalar("l", "@lambd", opset) + f"nl = Neg (l)\n{clip}\ny = Sub (x, c)"


SOFTSHRINK = register(
    OpDecl(
        "Softshrink",
        "x - lambd if x > lambd else (x + lambd if x < -lambd else 0)",
        (_float("lambd", 0.5),),
        _softshrink_body,
        softshrink,
        (Aten("softshrink", (("lambd", "lambd"),), inplace=False),),
    )
)

# --- Hardshrink ---------------------------------------------------------------------------------------


def hardshrink(x: np.ndarray, lambd: float) -> np.ndarray:
    """In x's own dtype, as torch's kernel compares (lambd rounded to it; nothing else rounds): +0.0
    inside the closed band |x| <= lambd, x elsewhere — NaN fails the test and stays NaN."""
    band = np.abs(x) <= np.asarray(lambd, dtype=x.dtype)
    return np.where(band, np.zeros((), dtype=x.dtype), x)


def _hardshrink_body(opset: int) -> str:
    # where(|x| <= lambd, 0, x): "not |x| > lambd" would zero NaN. LessOrEqual needs opset 12, as
    # scalar()'s Constant(value_float) does (ir.export_model raises a bridgec graph's opset 11 to 12).
    return (
        scalar("l", "@lambd", opset)
        + scalar("zero", "0.0", opset)
        + """a = Abs (x)
        band = LessOrEqual (a, l)
        y = Where (band, zero, x)"""
    )


HARDSHRINK = register(
    OpDecl(
        "Hardshrink",
        "0 if -lambd <= x <= lambd else x",
        (_float("lambd", 0.5),),
        _hardshrink_body,
        hardshrink,
        (Aten("hardshrink", (("lambd", "lambd"),), inplace=False),),
    )
)
