"""Lowering rules for the kept activations other than hardtanh. First form the target supports wins.

Every rule states an identity that holds exactly in real arithmetic (float32 rounding aside).
Ops that a Core ML layer computes as they are (Gelu, Elu, LeakyRelu, HardSigmoid, and Softplus
with beta 1 and a large threshold: backends/coreml/neuralnetwork_layers/activations.py) have ``legalize`` rules:
fallbacks that fire only where the target lacks that layer. What no rule covers (Erf, exact Gelu
before iOS14, Softplus with a small threshold) stays for a custom layer.
"""

from __future__ import annotations

import math

import numpy as np

from bridgec.core import ir, ops
from bridgec.core.ops.activations import GELU_TANH_COEFFICIENT
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet

D = ir.BRIDGEC_DOMAIN

# torch's linear region of softplus (beta * x > threshold) rounds to the same float32 as
# softplus itself only from this threshold on (see SOFTPLUS_MIN_THRESHOLD in the backend).
SOFTPLUS_MIN_THRESHOLD = 15.0


def hardswish(op, x):
    return op.HardSwish(x, _domain=D)


def hardswish_hardsigmoid(op, x):
    # torch's hardsigmoid constants (1/6, 1/2): the declared HardSigmoid defaults
    return op.Mul(x, op.HardSigmoid(x, **ops.get("HardSigmoid").defaults))


def hardswish_clip(op, x):
    return op.Div(op.Mul(x, op.Clip(op.Add(x, op.const(3.0)), op.const(0.0), op.const(6.0))), op.const(6.0))


def hardswish_max_min(op, x):
    # for targets with no clip (Core AI): clip(v, 0, 6) = min(max(v, 0), 6)
    return op.Div(
        op.Mul(x, op.Min(op.Max(op.Add(x, op.const(3.0)), op.const(0.0)), op.const(6.0))), op.const(6.0)
    )


def hardsigmoid(op, x, alpha, beta):
    return op.HardSigmoid(x, alpha=alpha, beta=beta, _domain=D)


def hardsigmoid_clip(op, x, alpha, beta):
    return op.Clip(op.Add(op.Mul(x, op.const(alpha)), op.const(beta)), op.const(0.0), op.const(1.0))


def hardsigmoid_max_min(op, x, alpha, beta):
    return op.Min(op.Max(op.Add(op.Mul(x, op.const(alpha)), op.const(beta)), op.const(0.0)), op.const(1.0))


def gelu(op, x, approximate):
    return op.Gelu(x, approximate=approximate, _domain=D)


def gelu_tanh(op, x, approximate):
    cube = op.Mul(op.Mul(x, x), x)
    inner = op.Mul(op.Add(x, op.Mul(cube, op.const(GELU_TANH_COEFFICIENT))), op.const(math.sqrt(2 / math.pi)))
    return op.Mul(op.Mul(x, op.const(0.5)), op.Add(op.Tanh(inner), op.const(1.0)))


def is_tanh(approximate):
    return None if approximate == "tanh" else f"approximate={approximate!r} needs erf, which Core ML lacks"


def silu(op, x):
    return op.Silu(x, _domain=D)


def silu_sigmoid(op, x):
    return op.Mul(x, op.Sigmoid(x))


def mish(op, x):
    return op.Mish(x, _domain=D)


def mish_softplus(op, x):
    return op.Mul(x, op.Tanh(op.Softplus(x)))


def selu(op, x, alpha, gamma):
    return op.Selu(x, alpha=alpha, gamma=gamma, _domain=D)


def selu_elu(op, x, alpha, gamma):
    return op.Mul(op.Elu(x, alpha=float(alpha)), op.const(gamma))


def celu(op, x, alpha):
    return op.Celu(x, alpha=alpha, _domain=D)


def celu_elu(op, x, alpha):
    return op.Mul(op.Elu(op.Div(x, op.const(alpha)), alpha=1.0), op.const(alpha))


def positive_alpha(alpha):
    # alpha * elu(x / alpha) puts the exponential on the wrong side for alpha < 0
    return None if alpha > 0 else f"alpha {alpha} <= 0"


def softplus(op, x, beta, threshold):
    return op.Softplus(x, beta=beta, threshold=threshold, _domain=D)


def softplus_scaled(op, x, beta, threshold):
    return op.Div(op.Softplus(op.Mul(x, op.const(beta))), op.const(beta))


def large_threshold(beta, threshold):
    if not beta > 0:
        return f"beta {beta} <= 0"
    return (
        None if threshold >= SOFTPLUS_MIN_THRESHOLD else f"threshold {threshold} < {SOFTPLUS_MIN_THRESHOLD}"
    )


def leaky_relu(op, x, alpha):
    return op.LeakyRelu(x, alpha=alpha, _domain=D)


def leaky_relu_max(op, x, alpha):
    return op.Max(x, op.Mul(x, op.const(alpha)))


def softshrink(op, x, lambd):
    return op.Softshrink(x, lambd=lambd, _domain=D)


def softshrink_clip(op, x, lambd):
    return op.Sub(x, op.Clip(x, op.const(-lambd), op.const(lambd)))


def nonnegative_lambd(lambd):
    # torch refuses lambd < 0; clip's bounds would be out of order
    return None if lambd >= 0 else f"lambd {lambd} < 0"


def hardshrink(op, x, lambd):
    return op.Hardshrink(x, lambd=lambd, _domain=D)


def hardshrink_where(op, x, lambd):
    # the band test, not "|x| > lambd": NaN fails it and passes through, as in torch
    band = op.LessOrEqual(op.Abs(x), op.const(lambd))
    band.dtype = np.bool_  # the builder types new tensors like the matched node's output (float)
    return op.Where(band, op.const(0.0), x)


def unit_slope(alpha):
    return None if 0.0 <= alpha <= 1.0 else f"alpha {alpha} outside [0, 1]"


@register
class LowerKeptActivations(RuleSet):
    """Lower the kept activations the target lacks to layers it has — the first form it supports."""

    id = "lower::kept_activations"
    # fmt: off
    rules = (
        Rule("hardswish_to_hardsigmoid", hardswish, hardswish_hardsigmoid, None, "hardswish(x) -> x * hardsigmoid(x, 1/6, 1/2)"),
        Rule("hardswish_to_clip", hardswish, hardswish_clip, None, "hardswish(x) -> x * clip(x + 3, 0, 6) / 6"),
        Rule("hardswish_to_max_min", hardswish, hardswish_max_min, None, "hardswish(x) -> x * min(max(x + 3, 0), 6) / 6", legalize=True),
        Rule("hardsigmoid_to_clip", hardsigmoid, hardsigmoid_clip, None, "hardsigmoid(x, a, b) -> clip(a x + b, 0, 1)", legalize=True),
        Rule("hardsigmoid_to_max_min", hardsigmoid, hardsigmoid_max_min, None, "hardsigmoid(x, a, b) -> min(max(a x + b, 0), 1)", legalize=True),
        Rule("gelu_tanh_to_tanh", gelu, gelu_tanh, is_tanh, "gelu_tanh(x) -> x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))", legalize=True),
        Rule("silu_to_sigmoid", silu, silu_sigmoid, None, "silu(x) -> x * sigmoid(x)"),
        Rule("mish_to_softplus", mish, mish_softplus, None, "mish(x) -> x * tanh(softplus(x))"),
        Rule("selu_to_elu", selu, selu_elu, None, "selu(x, a, g) -> g * elu(x, a)"),
        Rule("celu_to_elu", celu, celu_elu, positive_alpha, "celu(x, a) -> a * elu(x / a, 1)   (a > 0)"),
        Rule("softplus_to_scaled", softplus, softplus_scaled, large_threshold, "softplus(x, b, t) -> softplus(b x) / b   (t >= 15)", legalize=True),
        Rule("softshrink_to_clip", softshrink, softshrink_clip, nonnegative_lambd, "softshrink(x, l) -> x - clip(x, -l, l)   (l >= 0)"),
        Rule("hardshrink_to_where", hardshrink, hardshrink_where, None, "hardshrink(x, l) -> where(|x| <= l, 0, x)"),
        Rule("leaky_relu_to_max", leaky_relu, leaky_relu_max, unit_slope, "leaky_relu(x, a) -> max(x, a x)   (0 <= a <= 1)", legalize=True),
    )
    # fmt: on
