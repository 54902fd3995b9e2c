"""Attention reaches the passes as one ``ScaledDotProductAttention`` node, from either exporter.

torch's exporters write ``F.scaled_dot_product_attention`` as MatMul/Softmax/... and take no
``aten::_native_multi_head_attention`` at all (what ``nn.MultiheadAttention`` runs under
``torch.no_grad()``: torchvision's ViT traced so). Here both become the declared op
(``bridgec.core.ops.attention``), the fused one with its projections around it:

    y = _native_multi_head_attention(x, x, x, E, H, W_qkv, b_qkv, W_o, b_o)
 -> q, k, v = heads(x W_q^T + b_q), ...;  y = merge(ScaledDotProductAttention(q, k, v)) W_o^T + b_o

What the op cannot hold is refused in one line (dropout, a fused mask) or left to torch's own
decomposition (a rank other than 4).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from bridgec.core import ops
from bridgec.core.errors import ConversionError

OP = ops.get("ScaledDotProductAttention")
RANK = len(ops.attention.KEY_PERM)
HEADS_PERM = (0, 2, 1, 3)  # [N, L, H, D] <-> [N, H, L, D]
# Reshape targets keep the batch (0) and infer the length (-1): torch's TorchScript exporter asserts
# on a target with a 0 and no -1


def dropout_refused(dropout_p: float) -> ConversionError:
    return ConversionError(
        f"aten::scaled_dot_product_attention with dropout_p={dropout_p} is random; a converted model "
        "computes inference: call it with dropout_p=0.0 when not training"
    )


def _mask_refused() -> ConversionError:
    return ConversionError(
        "aten::_native_multi_head_attention with a mask: bridgec takes nn.MultiheadAttention's fused "
        "path without masks only; trace the model with autograd enabled (not under torch.no_grad())"
    )


def mask_kind(is_causal: bool, mask_is_bool: bool | None) -> str:
    """The op's ``mask`` attribute: ``mask_is_bool`` None when there is no mask input."""
    if is_causal:
        if mask_is_bool is not None:
            raise ConversionError(
                "scaled_dot_product_attention: is_causal and attn_mask cannot both be given"
            )
        return "causal"
    return "none" if mask_is_bool is None else ("boolean" if mask_is_bool else "additive")


# --- TorchScript exporter ----------------------------------------------------------------------------


def _repeat_heads(g, t, heads: int):
    """``t`` [N, h, S, E] with each head repeated to ``heads`` (torch's enable_gqa: repeat_interleave)."""
    import torch
    from torch.onnx import symbolic_helper

    n, h, s, e = symbolic_helper._get_tensor_sizes(t)
    if heads == h:
        return t
    if None in (n, s, e) or heads % h:
        raise ConversionError(
            f"scaled_dot_product_attention with enable_gqa: {heads} query heads over {h} key heads of "
            "unknown or indivisible sizes"
        )
    wide = g.op("Unsqueeze", t, g.op("Constant", value_t=torch.tensor([2])))
    wide = g.op("Expand", wide, g.op("Constant", value_t=torch.tensor([n, h, heads // h, s, e])))
    return g.op("Reshape", wide, g.op("Constant", value_t=torch.tensor([n, heads, s, e])))


def _sdpa_node(g, query, key, value, attn_mask, is_causal: bool, scale: float | None):
    from torch.onnx import symbolic_helper

    size = symbolic_helper._get_tensor_sizes(query)[-1]
    if scale is None:
        if size is None:
            return None
        scale = 1.0 / math.sqrt(size)
    has_mask = not symbolic_helper._is_none(attn_mask)
    is_bool = has_mask and attn_mask.type().scalarType() == "Bool"
    kind = mask_kind(is_causal, is_bool if has_mask else None)
    inputs = [query, key, value, *([attn_mask] if has_mask else [])]
    out = g.op(f"{OP.domain}::{OP.name}", *inputs, scale_f=float(scale), mask_s=kind)
    sizes = symbolic_helper._get_tensor_sizes(query)[:-1] + symbolic_helper._get_tensor_sizes(value)[-1:]
    return _typed(out, sizes, query)


def _typed(out, sizes: list, like):
    """``out`` with the dtype of ``like`` and ``sizes`` (None where unknown): the exporter's shape
    inference cannot see through a bridgec op, and every shape after it would be lost."""
    return out.setType(like.type().with_sizes(list(sizes)))


def sdpa_symbolic_factory() -> Callable:
    """aten::scaled_dot_product_attention -> ScaledDotProductAttention (rank 4), else torch's own."""
    from torch.onnx import symbolic_helper, symbolic_opset14

    @symbolic_helper.parse_args("v", "v", "v", "v", "f", "b", "v", "b")
    def scaled_dot_product_attention(
        g, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False
    ):
        if dropout_p:
            raise dropout_refused(dropout_p)
        fixed = None if symbolic_helper._is_none(scale) else symbolic_helper._get_const(scale, "f", "scale")
        ranks = {symbolic_helper._get_tensor_rank(t) for t in (query, key, value)}
        heads = symbolic_helper._get_tensor_sizes(query)[1] if ranks == {RANK} else None
        if ranks == {RANK} and (heads is not None or not enable_gqa):
            if enable_gqa:
                key, value = _repeat_heads(g, key, heads), _repeat_heads(g, value, heads)
            out = _sdpa_node(g, query, key, value, attn_mask, is_causal, fixed)
            if out is not None:
                return out
        return symbolic_opset14.scaled_dot_product_attention(
            g, query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa
        )

    return scaled_dot_product_attention


def _linear(g, x, weight, bias):
    return g.op("Add", g.op("MatMul", x, g.op("Transpose", weight, perm_i=[1, 0])), bias)


def _third(g, t, index: int, embed: int):
    import torch

    def const(v):
        return g.op("Constant", value_t=torch.tensor([v]))

    return g.op("Slice", t, const(index * embed), const((index + 1) * embed), const(0))


def mha_symbolic_factory() -> Callable:
    """aten::_native_multi_head_attention (batch-first [N, L, E]) -> its projections around one
    ScaledDotProductAttention; the averaged attention weights, when asked for, beside it (unused,
    the dead-node pass drops them)."""
    import torch
    from torch.onnx import symbolic_helper

    @symbolic_helper.parse_args("v", "v", "v", "i", "i", "v", "v", "v", "v", "v", "b", "b", "v")
    def native_multi_head_attention(
        g, query, key, value, embed, heads, w_qkv, b_qkv, w_out, b_out, mask, need_weights, average, mask_type
    ):
        if not symbolic_helper._is_none(mask):
            raise _mask_refused()
        depth = embed // heads

        def split(x, index):
            projected = _linear(g, x, _third(g, w_qkv, index, embed), _third(g, b_qkv, index, embed))
            shape = g.op("Constant", value_t=torch.tensor([0, -1, heads, depth]))
            return g.op("Transpose", g.op("Reshape", projected, shape), perm_i=list(HEADS_PERM))

        q, k, v = split(query, 0), split(key, 1), split(value, 2)
        scale = 1.0 / math.sqrt(depth)
        attended = g.op(f"{OP.domain}::{OP.name}", q, k, v, scale_f=scale, mask_s="none")
        n, length = symbolic_helper._get_tensor_sizes(query)[:2]
        _typed(attended, [n, heads, length, depth], query)
        merged = g.op(
            "Reshape",
            g.op("Transpose", attended, perm_i=list(HEADS_PERM)),
            g.op("Constant", value_t=torch.tensor([0, -1, embed])),
        )
        out = _linear(g, merged, w_out, b_out)
        if not need_weights:
            return out, g.op("Constant", value_t=torch.empty(0))
        scores = g.op(
            "MatMul",
            g.op("Mul", q, g.op("Constant", value_t=torch.tensor(scale))),
            g.op("Transpose", k, perm_i=list(ops.attention.KEY_PERM)),
        )
        weights = g.op("Softmax", scores, axis_i=-1)
        if average:
            weights = g.op("ReduceMean", weights, axes_i=[1], keepdims_i=0)
        return out, weights

    return native_multi_head_attention


# aten op -> symbolic factory, registered with the kept ops (frontends.kept_ops)
TORCHSCRIPT_SYMBOLICS: dict[str, Callable[[], Callable]] = {
    "scaled_dot_product_attention": sdpa_symbolic_factory,
    "_native_multi_head_attention": mha_symbolic_factory,
}


# --- dynamo exporter ---------------------------------------------------------------------------------


def dynamo_translations(bc: Any) -> dict[Callable, Callable]:
    """aten op -> onnxscript function making the same nodes (``bc``: the bridgec-domain opset)."""
    import torch
    from onnxscript import ir
    from onnxscript.function_libs.torch_lib.ops import nn as torchlib_nn
    from onnxscript.onnx_opset import opset18 as op

    aten = torch.ops.aten

    def sdpa(
        query,
        key,
        value,
        attn_mask=None,
        dropout_p: float = 0.0,
        is_causal: bool = False,
        scale=None,
        enable_gqa=False,
    ):
        if dropout_p:
            raise dropout_refused(dropout_p)
        shapes = [t.shape for t in (query, key, value)]
        size = shapes[0][-1] if all(s is not None and len(s) == RANK for s in shapes) else None
        grouped = enable_gqa and isinstance(size, int) and query.shape[1] != key.shape[1]
        if not isinstance(size, int) or (
            grouped and not all(isinstance(t.shape[1], int) for t in (query, key))
        ):
            # another rank, or head counts only known at run time: torch's own decomposition
            return torchlib_nn.aten_scaled_dot_product_attention(
                query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa
            )
        if grouped:  # repeat_interleave of the key and value heads, as torch's enable_gqa
            key, value = torchlib_nn._attention_repeat_kv_for_group_query(query, key, value)
        kind = mask_kind(is_causal, None if attn_mask is None else attn_mask.dtype == ir.DataType.BOOL)
        scale = 1.0 / math.sqrt(size) if scale is None else float(scale)
        inputs = (query, key, value, *(() if attn_mask is None else (attn_mask,)))
        return bc.ScaledDotProductAttention(*inputs, scale=scale, mask=kind)

    def native_mha(
        query,
        key,
        value,
        embed_dim: int,
        num_head: int,
        qkv_weight,
        qkv_bias,
        proj_weight,
        proj_bias,
        mask=None,
        need_weights: bool = True,
        average_attn_weights: bool = True,
        mask_type=None,
    ):
        if mask is not None:
            raise _mask_refused()
        embed, heads = int(embed_dim), int(num_head)
        depth = embed // heads

        def third(t, index):
            bounds = [op.Constant(value_ints=[v]) for v in (index * embed, (index + 1) * embed, 0)]
            return op.Slice(t, *bounds)

        def split(x, index):
            projected = op.Add(
                op.MatMul(x, op.Transpose(third(qkv_weight, index), perm=[1, 0])), third(qkv_bias, index)
            )
            heads_shape = op.Constant(value_ints=[0, -1, heads, depth])
            return op.Transpose(op.Reshape(projected, heads_shape), perm=list(HEADS_PERM))

        q, k, v = split(query, 0), split(key, 1), split(value, 2)
        scale = 1.0 / math.sqrt(depth)
        attended = bc.ScaledDotProductAttention(q, k, v, scale=scale, mask="none")
        merged = op.Reshape(
            op.Transpose(attended, perm=list(HEADS_PERM)), op.Constant(value_ints=[0, -1, embed])
        )
        out = op.Add(op.MatMul(merged, op.Transpose(proj_weight, perm=[1, 0])), proj_bias)
        if not need_weights:
            return out, op.ConstantOfShape(op.Constant(value_ints=[0]))
        scores = op.MatMul(
            op.Mul(q, op.CastLike(op.Constant(value_float=scale), q)),
            op.Transpose(k, perm=list(ops.attention.KEY_PERM)),
        )
        weights = op.Softmax(scores, axis=-1)
        if average_attn_weights:
            weights = op.ReduceMean(weights, op.Constant(value_ints=[1]), keepdims=0)
        return out, weights

    return {
        aten.scaled_dot_product_attention.default: sdpa,
        aten._native_multi_head_attention.default: native_mha,
    }


__all__ = [
    "OP",
    "TORCHSCRIPT_SYMBOLICS",
    "dropout_refused",
    "dynamo_translations",
    "mask_kind",
    "mha_symbolic_factory",
    "sdpa_symbolic_factory",
]
