"""MatMul, Gemm and Einsum (the two contraction forms MIL's einsum takes)."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.mlprogram_ops import (
    MilEmitter,
    attr_str,
    operands,
    static_rank,
    static_shape,
)
from bridgec.core import ir, ops
from bridgec.core.errors import ConversionError


def _matmul_check(node: gs.Node, target) -> str | None:
    """Restrictions: no 1-D operand (MIL's matmul types a 1-D x against a batched y wrongly:
    lower::matmul lifts it; two 1-D ones make a scalar, which Core ML cannot hold)."""
    ranks = static_rank(node, 0), static_rank(node, 1)
    if ranks == (1, 1):
        return "MatMul of two 1-D tensors is a rank-0 scalar, which Core ML tensors cannot be; reshape one to 2-D"
    if 1 in ranks:
        return "MatMul with a 1-D operand: MIL's matmul types it wrongly against a batch (lower::matmul)"
    return None


def _product(ctx, node: gs.Node, x, y, transpose_x: bool, transpose_y: bool, name: str):
    """MIL's matmul of ``x`` and ``y``, with a constant matrix kept on the right.

    coremltools' fuse_matmul_weight_bias turns ``matmul(const W, v) + b`` into ``linear(v^T, W)^T``
    with ``b`` added before that last transpose, i.e. along the wrong axis: a wrong model whenever
    ``b``'s length fits there (square products; found by the property soak). ``W v = (v^T W^T)^T``
    puts the constant on the right, where its fusion is right, and a transpose between the product
    and any add keeps the fusion off the flipped form."""

    def constant(v) -> bool:  # operands() hands constants over as numpy arrays
        return isinstance(v, np.ndarray) or getattr(v, "val", None) is not None

    if constant(x) and not constant(y) and len(np.shape(x) if isinstance(x, np.ndarray) else x.shape) == 2:
        flipped = ctx.mb.matmul(
            x=y, y=x, transpose_x=not transpose_y, transpose_y=not transpose_x, name=ctx.tmp(node, "flipped")
        )
        perm = list(range(len(flipped.shape)))
        perm[-2], perm[-1] = perm[-1], perm[-2]
        return ctx.mb.transpose(x=flipped, perm=perm, name=name)
    if _transposed_view(y):
        # a weight the direct exporter folded as a view of its transpose (pt2_direct._linear): MIL
        # reads it as it lies, transpose_y, and coremltools' linear fusion takes it with no copy
        y, transpose_y = y.T, not transpose_y
    return ctx.mb.matmul(x=x, y=y, transpose_x=transpose_x, transpose_y=transpose_y, name=name)


def _transposed_view(value) -> bool:
    """A constant matrix laid out as its transpose (a view of a C-ordered one)."""
    return (
        isinstance(value, np.ndarray)
        and value.ndim == 2
        and not value.flags.c_contiguous
        and value.T.flags.c_contiguous
    )


def _matmul(ctx, node: gs.Node) -> None:
    x, y = operands(ctx, node.inputs)
    out = node.outputs[0]
    if 1 in (len(np.shape(x)), len(np.shape(y))):  # the IR did not know it when the check ran
        raise ConversionError(
            f"node {node.name!r} (MatMul): a 1-D operand of unknown rank in the IR; give the model's "
            "input shapes so lower::matmul can lift it"
        )
    ctx.set(out, _product(ctx, node, x, y, False, False, ctx.name(out)))


def _gemm_linear_weights(node: gs.Node) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(weight [N, K], bias [N]) when the Gemm is one MIL linear: A not transposed, B and C constant,
    C one value per output column."""
    if int(ops.attr(node, "transA")):
        return None
    b = ir.constant_value(node.inputs[1])
    if b is None or b.ndim != 2:
        return None
    alpha, beta = float(ops.attr(node, "alpha")), float(ops.attr(node, "beta"))
    weight = (b if int(ops.attr(node, "transB")) else b.T) * alpha
    n = weight.shape[0]
    if len(node.inputs) < 3 or ir.is_empty(node.inputs[2]):
        return weight.astype(np.float32), None
    c = ir.constant_value(node.inputs[2])
    if c is None or c.size not in (1, n) or (c.ndim == 2 and c.shape[0] != 1):
        return None
    return weight.astype(np.float32), (np.broadcast_to(c.reshape(-1), (n,)) * beta).astype(np.float32)


def _gemm(ctx, node: gs.Node) -> None:
    out = node.outputs[0]
    folded = _gemm_linear_weights(node)
    if folded is not None:
        weight, bias = folded
        x = ctx.value(node.inputs[0])
        ctx.set(out, ctx.mb.linear(x=x, weight=weight, bias=bias, name=ctx.name(out)))
        return
    a, b = operands(ctx, node.inputs[:2])
    alpha, beta = float(ops.attr(node, "alpha")), float(ops.attr(node, "beta"))
    has_c = len(node.inputs) > 2 and not ir.is_empty(node.inputs[2])
    last = alpha == 1.0 and not has_c
    y = _product(
        ctx,
        node,
        a,
        b,
        bool(ops.attr(node, "transA")),
        bool(ops.attr(node, "transB")),
        ctx.name(out) if last else ctx.tmp(node, "matmul"),
    )
    if alpha != 1.0:
        y = ctx.mb.mul(x=y, y=np.float32(alpha), name=ctx.name(out) if not has_c else ctx.tmp(node, "alpha"))
    if has_c:
        c = ctx.value(node.inputs[2])
        if beta != 1.0:
            c = ctx.mb.mul(x=c, y=np.float32(beta), name=ctx.tmp(node, "beta"))
        y = ctx.mb.add(x=y, y=c, name=ctx.name(out))
    ctx.set(out, y)


def _einsum_form(equation: str) -> str | None:
    """Why MIL's einsum cannot take ``equation``, or None. MIL multiplies matrices laid out on axes
    -1 and -3, all others batch: "nchw,nwhu->nchu" and "chw,whr->chr", letters renamed."""
    equation = equation.replace(" ", "")
    if "->" not in equation or "..." in equation:
        return "MIL's einsum needs an explicit '->' and no ellipsis"
    lhs, out = equation.split("->")
    terms = lhs.split(",")
    if len(terms) != 2:
        return f"MIL's einsum takes two operands, not {len(terms)}"
    a, b = terms
    if len(a) == 4 and len(b) == 4 and len(set(a + b)) == 5:
        n, c, h, w = a
        want_b, want_out = n + w + h + b[3], n + c + h + b[3]
    elif len(a) == 3 and len(b) == 3 and len(set(a + b)) == 4:
        c, h, w = a
        want_b, want_out = w + h + b[2], c + h + b[2]
    else:
        return "MIL's einsum takes rank-3 or rank-4 operands with distinct letters"
    if b != want_b or out != want_out:
        return f"{equation!r} is not of MIL's forms 'nchw,nwhu->nchu' or 'chw,whr->chr'"
    return None


def _einsum_check(node: gs.Node, target) -> str | None:
    """Restrictions: two operands of the forms 'nchw,nwhu->nchu' or 'chw,whr->chr' (letters renamed),
    the contracted axes of one size."""
    reason = _einsum_form(attr_str(node, "equation", ""))
    if reason:
        return reason
    a, b = (static_shape(t) for t in node.inputs)
    if a is not None and b is not None and a[-1] != b[-3]:
        # onnxruntime broadcasts a contracted axis of size 1; MIL's einsum only its batch axes
        return f"MIL's einsum contracts axes of one size, not {a[-1]} and {b[-3]}"
    return None


def _einsum(ctx, node: gs.Node) -> None:
    equation = attr_str(node, "equation", "").replace(" ", "")
    values = operands(ctx, node.inputs)
    ctx.set(
        node.outputs[0],
        ctx.mb.einsum(values=tuple(values), equation=equation, name=ctx.name(node.outputs[0])),
    )


emitters = [
    MilEmitter("MatMul", _matmul, _matmul_check, mil_ops=("matmul",)),
    MilEmitter("Gemm", _gemm, mil_ops=("linear", "matmul")),
    MilEmitter("Einsum", _einsum, _einsum_check, mil_ops=("einsum",)),
]
