"""BatchNormalization, InstanceNormalization, LayerNormalization (constant parameters)."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.mlprogram_ops import (
    MilEmitter,
    constant_inputs,
    static_rank,
    static_shape,
)
from bridgec.backends.coreml.neuralnetwork_layers.conv import layer_norm_param, layer_norm_params_fit
from bridgec.core import ir, ops
from bridgec.core.errors import ConversionError
from bridgec.passes.lower.normalization import batch_statistics


def _f32(ctx, node: gs.Node, index: int) -> np.ndarray:
    return np.asarray(ctx.require(node, index), dtype=np.float32)


def _unused_outputs(node: gs.Node, what: str) -> str | None:
    if any(t.outputs for t in node.outputs[1:]):
        return f"its {what} outputs are used"
    return None


def _batch_norm_check(node: gs.Node, target) -> str | None:
    """Restrictions: inference mode; constant scale, bias, mean and variance."""
    return batch_statistics(node) or constant_inputs(node, (1, 2, 3, 4), "scale/bias/mean/variance")


def _batch_norm(ctx, node: gs.Node) -> None:
    gamma, beta, mean, var = (_f32(ctx, node, i) for i in range(1, 5))
    eps = float(ops.attr(node, "epsilon"))
    x, out = ctx.value(node.inputs[0]), node.outputs[0]
    rank = len(x.shape)
    if 3 <= rank <= 5:
        y = ctx.mb.batch_norm(
            x=x, mean=mean, variance=var, gamma=gamma, beta=beta, epsilon=eps, name=ctx.name(out)
        )
    else:  # MIL batch_norm takes rank 3..5; (N, C) is x * scale + shift, the same arithmetic
        scale = gamma / np.sqrt(var + np.float32(eps))
        shape = (-1,) + (1,) * (rank - 2)
        scaled = ctx.mb.mul(x=x, y=scale.reshape(shape), name=ctx.tmp(node, "scale"))
        y = ctx.mb.add(x=scaled, y=(beta - mean * scale).reshape(shape), name=ctx.name(out))
    ctx.set(out, y)


def _instance_norm_check(node: gs.Node, target) -> str | None:
    """Restrictions: rank-3 or rank-4 input; constant scale and bias."""
    rank = static_rank(node)
    if rank is not None and rank not in (3, 4):
        return f"MIL's instance_norm takes rank 3 or 4, not {rank}"
    return constant_inputs(node, (1, 2), "scale/bias")


def _instance_norm(ctx, node: gs.Node) -> None:
    gamma, beta = _f32(ctx, node, 1), _f32(ctx, node, 2)
    if len(ctx.value(node.inputs[0]).shape) not in (3, 4):
        raise ConversionError(
            f"node {node.name!r} (InstanceNormalization): MIL's instance_norm takes rank 3 or 4"
        )
    y = ctx.mb.instance_norm(
        x=ctx.value(node.inputs[0]),
        gamma=gamma,
        beta=beta,
        epsilon=float(ops.attr(node, "epsilon")),
        name=ctx.name(node.outputs[0]),
    )
    ctx.set(node.outputs[0], y)


def _layer_norm_check(node: gs.Node, target) -> str | None:
    """Restrictions: a static input shape; constant scale and bias broadcasting to the normalised
    shape (MIL takes them in exactly that shape); Mean/InvStdDev outputs unused."""
    shape = static_shape(node.inputs[0])
    if shape is None:
        return (
            "LayerNormalization needs the input's static shape (gamma/beta are given in the normalised shape)"
        )
    return (
        layer_norm_params_fit(node, shape)
        or constant_inputs(node, (1, 2), "scale/bias")
        or _unused_outputs(node, "Mean/InvStdDev")
    )


def _layer_norm(ctx, node: gs.Node) -> None:
    x = ctx.value(node.inputs[0])
    rank = len(x.shape)
    axis = int(ops.attr(node, "axis")) % rank
    normalized = tuple(int(d) for d in x.shape[axis:])
    # MIL wants gamma/beta of exactly the normalised shape; ONNX lets them broadcast to it.
    gamma = layer_norm_param(_f32(ctx, node, 1), normalized)
    has_bias = len(node.inputs) > 2 and not ir.is_empty(node.inputs[2])
    beta = layer_norm_param(_f32(ctx, node, 2), normalized) if has_bias else None
    y = ctx.mb.layer_norm(
        x=x,
        axes=list(range(axis, rank)),
        gamma=gamma,
        beta=beta,
        epsilon=float(ops.attr(node, "epsilon")),
        name=ctx.name(node.outputs[0]),
    )
    ctx.set(node.outputs[0], y)


emitters = [
    MilEmitter("BatchNormalization", _batch_norm, _batch_norm_check, mil_ops=("batch_norm",)),
    MilEmitter("InstanceNormalization", _instance_norm, _instance_norm_check, mil_ops=("instance_norm",)),
    MilEmitter("LayerNormalization", _layer_norm, _layer_norm_check, mil_ops=("layer_norm",)),
]
