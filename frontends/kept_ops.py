"""Torch ops that reach the passes as distinct bridgec-domain nodes instead of being decomposed.

The TorchScript exporter would turn ``aten::hardtanh`` into ``Clip`` and so decide the lowering
itself. Registering these symbolics for the duration of one export keeps the decision open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bridgec.ir import BRIDGEC_DOMAIN, BRIDGEC_OPSET


@dataclass(frozen=True)
class KeptOp:
    aten: str  # the TorchScript op name, e.g. "aten::hardtanh"
    op: str  # the bridgec op it becomes
    symbolic_factory: Callable[[], Callable]


def _hardtanh_symbolic() -> Callable:
    from torch.onnx import symbolic_helper

    @symbolic_helper.parse_args("v", "f", "f")
    def hardtanh(g, x, min_value, max_value):
        out = g.op(f"{BRIDGEC_DOMAIN}::HardTanh", x, min_value_f=min_value, max_value_f=max_value)
        return out.setType(x.type())  # elementwise: the exporter's later symbolics need the type

    return hardtanh


def _relu6_symbolic() -> Callable:
    def relu6(g, x):
        return g.op(f"{BRIDGEC_DOMAIN}::HardTanh", x, min_value_f=0.0, max_value_f=6.0).setType(x.type())

    return relu6


KEPT_OPS: tuple[KeptOp, ...] = (
    KeptOp("aten::hardtanh", "HardTanh", _hardtanh_symbolic),
    KeptOp("aten::hardtanh_", "HardTanh", _hardtanh_symbolic),
    KeptOp("aten::relu6", "HardTanh", _relu6_symbolic),
    KeptOp("aten::relu6_", "HardTanh", _relu6_symbolic),
)

CUSTOM_OPSETS = {BRIDGEC_DOMAIN: BRIDGEC_OPSET}


@contextmanager
def kept_ops_registered(opset: int) -> Iterator[None]:
    """Register the kept-op symbolics for one export at ``opset``, and remove them afterwards.

    Registration must name the export opset itself: a built-in symbolic registered at a closer
    opset (hardtanh has one for opset 11) would otherwise win over ours.
    """
    import torch.onnx

    registered = []
    try:
        for kept in KEPT_OPS:
            torch.onnx.register_custom_op_symbolic(kept.aten, kept.symbolic_factory(), opset)
            registered.append(kept.aten)
        yield
    finally:
        for name in registered:
            torch.onnx.unregister_custom_op_symbolic(name, opset)
