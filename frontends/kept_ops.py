"""Torch ops that reach the passes as distinct bridgec-domain nodes instead of being decomposed.

The TorchScript exporter would turn ``aten::hardtanh`` into ``Clip`` (and ``aten::gelu`` into an
Erf formula, ``aten::silu`` into Sigmoid and Mul, ...) and so decide the lowering itself.
Registering these symbolics for the duration of one export keeps the decision open: every aten
op a declaration in ``bridgec.core.ops`` names (``OpDecl.aten``) becomes one node of that op,
with every attribute explicit in torch's semantics.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bridgec.core import ops
from bridgec.frontends.attention import TORCHSCRIPT_SYMBOLICS

# parse_args descriptor of each attribute kind
_DESCRIPTORS = {"float": "f", "string": "s"}


@dataclass(frozen=True)
class KeptOp:
    aten: str  # the TorchScript op name, e.g. "aten::hardtanh"
    op: str  # the bridgec op it becomes
    symbolic_factory: Callable[[], Callable]


def _node(g, decl: ops.OpDecl, x, attrs: dict):
    # the exporter's g.op spells an attribute's kind as a suffix: alpha_f, approximate_s
    kinds = {a.name: _DESCRIPTORS[a.kind] for a in decl.attributes}
    out = g.op(f"{decl.domain}::{decl.name}", x, **{f"{k}_{kinds[k]}": v for k, v in attrs.items()})
    return out.setType(x.type())  # elementwise: the exporter's later symbolics need the type


def _symbolic_factory(decl: ops.OpDecl, form: ops.Aten) -> Callable[[], Callable]:
    """The symbolic of ``aten::<form.name>``: its arguments after ``self`` become attributes."""

    def factory() -> Callable:
        from torch.onnx import symbolic_helper

        descriptors = [_DESCRIPTORS[decl.attribute(attr).kind] for _, attr in form.args]

        def symbolic(g, x, *args):
            return _node(
                g, decl, x, decl.aten_attrs(form, dict(zip([a for a, _ in form.args], args, strict=False)))
            )

        # parse_args reads the argument names from the signature: name them as aten does
        parameters = ["g", "x", *(arg for arg, _ in form.args)]
        symbolic.__signature__ = inspect.Signature(
            [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in parameters]
        )
        symbolic.__name__ = form.name
        return symbolic_helper.parse_args("v", *descriptors)(symbolic)

    return factory


def _elu_factory(decl: ops.OpDecl, form: ops.Aten) -> Callable[[], Callable]:
    def factory() -> Callable:
        from torch.onnx import symbolic_helper, symbolic_opset9

        @symbolic_helper.parse_args("v", "f", "f", "f")
        def elu(g, x, alpha, scale, input_scale):
            if scale != 1.0 or input_scale != 1.0:
                # Only torch internals call elu with scales; not the declared Elu: torch decides.
                return symbolic_opset9.elu(g, x, alpha, scale, input_scale)
            return _node(g, decl, x, decl.aten_attrs(form, {"alpha": alpha}))

        return elu

    return factory


# aten ops whose arguments are more than the declared attributes
_SPECIAL = {"elu": _elu_factory}


def _kept_ops() -> tuple[KeptOp, ...]:
    kept = []
    for decl in ops.all_ops():
        for form in decl.aten:
            if not decl.elementwise:  # more tensor arguments than self: its own symbolic
                factory = TORCHSCRIPT_SYMBOLICS[form.name]
            else:
                factory = _SPECIAL.get(form.name, _symbolic_factory)(decl, form)
            names = (form.name, f"{form.name}_") if form.inplace else (form.name,)
            kept += [KeptOp(f"aten::{name}", decl.name, factory) for name in names]
    return tuple(kept)


KEPT_OPS: tuple[KeptOp, ...] = _kept_ops()

CUSTOM_OPSETS = {ops.BRIDGEC_DOMAIN: ops.BRIDGEC_OPSET}


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


def _unflatten_symbolic() -> Callable:
    """torch.onnx's aten::unflatten builds the target shape from Shape, Slice and Concat at run time,
    so its result has no rank: the next symbolic needing one fails ("transpose for tensor of unknown
    rank" in nn.MultiheadAttention's packed projection, traced with autograd on or from a torch.export
    program). The same nodes, typed with the rank and the sizes that are known."""
    from torch.onnx import symbolic_helper, symbolic_opset13

    def unflatten(g, x, dim, sizes):
        out = symbolic_opset13.unflatten(g, x, dim, sizes)
        shape = symbolic_helper._get_tensor_sizes(x)
        axis = symbolic_helper._maybe_get_const(dim, "i")
        if shape is None or not isinstance(axis, int) or out.type().dim() is not None:
            return out
        parts = symbolic_helper._maybe_get_const(sizes, "is")
        if symbolic_helper._is_packed_list(sizes):  # some computed in the graph (a traced size)
            parts = [symbolic_helper._maybe_get_const(v, "i") for v in symbolic_helper._unpack_list(sizes)]
        elif not isinstance(parts, list):
            return out
        axis %= len(shape)
        parts = [p if isinstance(p, int) and p >= 0 else None for p in parts]  # -1: the rest
        return out.setType(x.type().with_sizes(shape[:axis] + parts + shape[axis + 1 :]))

    return unflatten


# Standard ops whose torch.onnx symbolic loses what later symbolics need: the same nodes, typed.
TYPED_SYMBOLICS: tuple[tuple[str, Callable[[], Callable]], ...] = (("aten::unflatten", _unflatten_symbolic),)


def _fused() -> tuple[tuple[str, Callable[[], Callable]], ...]:
    """Fused torch ops no exporter takes, made of a kept op and standard ones around it."""
    kept = {form.name for decl in ops.all_ops() for form in decl.aten}
    return tuple((f"aten::{name}", f) for name, f in TORCHSCRIPT_SYMBOLICS.items() if name not in kept)


_FUSED = _fused()


@contextmanager
def kept_ops_registered(opset: int) -> Iterator[None]:
    """Register the kept-op symbolics for one export at ``opset``, and remove them afterwards.

    Registration must name the export opset itself: a built-in symbolic registered at a closer
    opset (hardtanh has one for opset 11) would otherwise win over ours.
    """
    import torch.onnx

    registered = []
    try:
        kept = ((k.aten, k.symbolic_factory) for k in KEPT_OPS)
        for aten, factory in [*kept, *STABLE_SYMBOLICS, *TYPED_SYMBOLICS, *_FUSED]:
            torch.onnx.register_custom_op_symbolic(aten, factory(), opset)
            registered.append(aten)
        yield
    finally:
        for name in registered:
            torch.onnx.unregister_custom_op_symbolic(name, opset)
