"""Torch ops that reach the passes as distinct bridgec-domain nodes instead of being decomposed.

The TorchScript exporter would turn ``aten::hardtanh`` into ``Clip`` (and ``aten::gelu`` into an
Erf formula, ``aten::silu`` into Sigmoid and Mul, ...) and so decide the lowering itself.
Registering these symbolics for the duration of one export keeps the decision open: every op
below becomes one node of ``BRIDGEC_OPS`` with that table's attributes, in torch's semantics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bridgec.core.ir import BRIDGEC_DOMAIN, BRIDGEC_OPSET, SELU_ALPHA, SELU_GAMMA


@dataclass(frozen=True)
class KeptOp:
    aten: str  # the TorchScript op name, e.g. "aten::hardtanh"
    op: str  # the bridgec op it becomes
    symbolic_factory: Callable[[], Callable]


def _node(g, op: str, x, **attrs):
    out = g.op(f"{BRIDGEC_DOMAIN}::{op}", x, **attrs)
    return out.setType(x.type())  # elementwise: the exporter's later symbolics need the type


def _hardtanh_symbolic() -> Callable:
    from torch.onnx import symbolic_helper

    @symbolic_helper.parse_args("v", "f", "f")
    def hardtanh(g, x, min_value, max_value):
        return _node(g, "HardTanh", x, min_value_f=min_value, max_value_f=max_value)

    return hardtanh


def _relu6_symbolic() -> Callable:
    def relu6(g, x):
        return _node(g, "HardTanh", x, min_value_f=0.0, max_value_f=6.0)

    return relu6


def _plain_symbolic(op: str, **attrs: float) -> Callable[[], Callable]:
    """A symbolic for an op whose only input is ``x`` (its constants are fixed by torch)."""

    def factory() -> Callable:
        def symbolic(g, x):
            return _node(g, op, x, **{f"{k}_f": v for k, v in attrs.items()})

        return symbolic

    return factory


def _gelu_symbolic() -> Callable:
    from torch.onnx import symbolic_helper

    @symbolic_helper.parse_args("v", "s")
    def gelu(g, x, approximate="none"):
        return _node(g, "Gelu", x, approximate_s=approximate)

    return gelu


def _elu_symbolic() -> Callable:
    from torch.onnx import symbolic_helper, symbolic_opset9

    @symbolic_helper.parse_args("v", "f", "f", "f")
    def elu(g, x, alpha, scale, input_scale):
        if scale != 1.0 or input_scale != 1.0:
            # Only torch internals call elu with scales; not the Elu of BRIDGEC_OPS: torch decides.
            return symbolic_opset9.elu(g, x, alpha, scale, input_scale)
        return _node(g, "Elu", x, alpha_f=alpha)

    return elu


def _celu_symbolic() -> Callable:
    from torch.onnx import symbolic_helper

    @symbolic_helper.parse_args("v", "f")
    def celu(g, x, alpha):
        return _node(g, "Celu", x, alpha_f=alpha)

    return celu


def _softplus_symbolic() -> Callable:
    from torch.onnx import symbolic_helper

    @symbolic_helper.parse_args("v", "f", "f")
    def softplus(g, x, beta, threshold):
        return _node(g, "Softplus", x, beta_f=beta, threshold_f=threshold)

    return softplus


def _leaky_relu_symbolic() -> Callable:
    from torch.onnx import symbolic_helper

    @symbolic_helper.parse_args("v", "f")
    def leaky_relu(g, x, negative_slope):
        return _node(g, "LeakyRelu", x, alpha_f=negative_slope)

    return leaky_relu


def _with_inplace(aten: str, op: str, factory: Callable[[], Callable]) -> tuple[KeptOp, ...]:
    return (KeptOp(aten, op, factory), KeptOp(f"{aten}_", op, factory))


KEPT_OPS: tuple[KeptOp, ...] = (
    *_with_inplace("aten::hardtanh", "HardTanh", _hardtanh_symbolic),
    *_with_inplace("aten::relu6", "HardTanh", _relu6_symbolic),
    *_with_inplace("aten::hardswish", "HardSwish", _plain_symbolic("HardSwish")),
    # torch's hardsigmoid is relu6(x + 3) / 6, i.e. alpha 1/6 (ONNX's default is 0.2)
    *_with_inplace("aten::hardsigmoid", "HardSigmoid", _plain_symbolic("HardSigmoid", alpha=1 / 6, beta=0.5)),
    KeptOp("aten::gelu", "Gelu", _gelu_symbolic),
    *_with_inplace("aten::silu", "Silu", _plain_symbolic("Silu")),
    *_with_inplace("aten::mish", "Mish", _plain_symbolic("Mish")),
    *_with_inplace("aten::elu", "Elu", _elu_symbolic),
    *_with_inplace("aten::selu", "Selu", _plain_symbolic("Selu", alpha=SELU_ALPHA, gamma=SELU_GAMMA)),
    *_with_inplace("aten::celu", "Celu", _celu_symbolic),
    KeptOp("aten::softplus", "Softplus", _softplus_symbolic),
    *_with_inplace("aten::leaky_relu", "LeakyRelu", _leaky_relu_symbolic),
)

CUSTOM_OPSETS = {BRIDGEC_DOMAIN: BRIDGEC_OPSET}


def _log_sigmoid_symbolic() -> Callable:
    """log_sigmoid(x) = -softplus(-x). torch.onnx's own symbolic writes Log(Sigmoid(x)), which is -inf
    where torch gives x (sigmoid underflows to 0 below x = -88): a wrong model on such inputs."""

    def log_sigmoid(g, x):
        return g.op("Neg", g.op("Softplus", g.op("Neg", x)))

    return log_sigmoid


# Standard ops whose torch.onnx symbolic is numerically wrong somewhere: exported in a stable form.
STABLE_SYMBOLICS: tuple[tuple[str, Callable[[], Callable]], ...] = (
    ("aten::log_sigmoid", _log_sigmoid_symbolic),
)


@contextmanager
def kept_ops_registered(opset: int) -> Iterator[None]:
    """Register the kept-op symbolics for one export at ``opset``, and remove them afterwards.

    Registration must name the export opset itself: a built-in symbolic registered at a closer
    opset (hardtanh has one for opset 11) would otherwise win over ours.
    """
    import torch.onnx

    registered = []
    try:
        for aten, factory in [*((k.aten, k.symbolic_factory) for k in KEPT_OPS), *STABLE_SYMBOLICS]:
            torch.onnx.register_custom_op_symbolic(aten, factory(), opset)
            registered.append(aten)
        yield
    finally:
        for name in registered:
            torch.onnx.unregister_custom_op_symbolic(name, opset)
