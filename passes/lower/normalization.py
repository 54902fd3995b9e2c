"""Legalise BatchNormalization and InstanceNormalization on ranks the target's layer does not take
(a NeuralNetwork's batchnorm normalises axis -3 of a rank-4 NCHW blob; MIL's instance_norm takes
rank 3 or 4): reshape to rank 4, normalise, reshape back. It runs in every pipeline, ``-O none``
included, so BatchNorm1d/3d, InstanceNorm1d/3d and GroupNorm (which torch exports as an
InstanceNormalization over an (N, G, -1) reshape) convert without a custom layer.

Both ops keep axes 0 (N) and 1 (C): BatchNormalization is an affine map per channel, whatever the
other axes; InstanceNormalization takes its statistics over all spatial axes together, so a trailing
axis of 1 adds nothing to them and merging spatial axes keeps the same set of values. Data movement
around the one op: exact.
"""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core import ir, ops
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet


def _rank(tensor) -> int | None:
    return None if tensor.shape is None else len(tensor.shape)


def view_axes(op, kind: str, x, axes: list[int]):
    """Unsqueeze or Squeeze (``kind``) x at ``axes``, in the form the graph's opset takes."""
    if op.opset >= 13:  # Squeeze/Unsqueeze take their axes as an input from opset 13
        return getattr(op, kind)(x, op.const(axes, np.int64))
    return getattr(op, kind)(x, axes=axes)


def _trailing(x) -> list[int]:
    """The axes that make a rank-2 or rank-3 tensor rank 4."""
    return list(range(len(x.shape), 4))


def _shaped(tensor, shape):
    # the layer checks read the rank of what they normalise: the new tensors carry their shapes
    tensor.shape = list(shape)
    return tensor


def _unsqueezed(op, norm, x):
    """``norm`` (the op on a tensor of a shape) on x of rank 2 or 3 viewed as rank 4."""
    shape = [*x.shape, *[1] * (4 - len(x.shape))]
    y = norm(_shaped(view_axes(op, "Unsqueeze", x, _trailing(x)), shape), shape)
    return view_axes(op, "Squeeze", y, _trailing(x))


def _merged(op, norm, x):
    """``norm`` on (N, C, D, H, W) viewed as (N, C, D, H*W); 0 copies N, C and D as they are."""
    h, w = x.shape[3:]
    shape = [*x.shape[:3], h * w]
    flat = _shaped(op.Reshape(x, op.const([0, 0, 0, -1], np.int64)), shape)
    return op.Reshape(norm(flat, shape), op.const([0, 0, 0, h, w], np.int64))


def batch_norm(op, x, scale, bias, mean, var, epsilon, momentum, training_mode):
    return op.BatchNormalization(
        x, scale, bias, mean, var, epsilon=epsilon, momentum=momentum, training_mode=training_mode
    )


def _bn(op, scale, bias, mean, var, epsilon, momentum):
    return lambda t, shape: _shaped(
        op.BatchNormalization(t, scale, bias, mean, var, epsilon=epsilon, momentum=momentum), shape
    )


def batch_norm_unsqueezed(op, x, scale, bias, mean, var, epsilon, momentum):
    return _unsqueezed(op, _bn(op, scale, bias, mean, var, epsilon, momentum), x)


def batch_norm_merged(op, x, scale, bias, mean, var, epsilon, momentum):
    return _merged(op, _bn(op, scale, bias, mean, var, epsilon, momentum), x)


def instance_norm(op, x, scale, bias, epsilon):
    return op.InstanceNormalization(x, scale, bias, epsilon=epsilon)


def _in(op, scale, bias, epsilon):
    return lambda t, shape: _shaped(op.InstanceNormalization(t, scale, bias, epsilon=epsilon), shape)


def instance_norm_unsqueezed(op, x, scale, bias, epsilon):
    return _unsqueezed(op, _in(op, scale, bias, epsilon), x)


def instance_norm_merged(op, x, scale, bias, epsilon):
    return _merged(op, _in(op, scale, bias, epsilon), x)


def _rank_is(x, ranks: tuple[int, ...]) -> str | None:
    rank = _rank(x)
    if rank is None:
        return "the input's rank is unknown"
    return None if rank in ranks else f"the input has rank {rank}, not {' or '.join(map(str, ranks))}"


def _static_tail(x) -> str | None:
    """The reshape back restores H and W from constants: they must be known."""
    reason = _rank_is(x, (5,))
    if reason is None and not all(isinstance(d, int) for d in x.shape[3:]):
        return f"the input's last two axes {list(x.shape[3:])} are not static"
    return reason


EVAL_MODE = "export the model in eval mode (model.eval() before tracing or exporting)"


def batch_statistics(node: gs.Node) -> str | None:
    """Why the BatchNormalization ``node`` normalises with the batch's own statistics (training
    mode, which no Core ML layer computes), or None where it uses its mean and var inputs.

    From opset 14 the training_mode attribute says so. Before it (the IR's opset 13: older models
    are converted up to it) the outputs do: (Y, mean, var, saved mean, saved var) is training mode
    whether or not anything reads the extra outputs (onnxruntime then normalises with the batch's
    statistics), Y alone is inference. A node that states training_mode 0 is opset 14 or newer,
    where extra outputs are invalid (onnx's shape inference refuses the node) and training is off:
    inference, when nothing reads them.
    """
    if int(ops.attr(node, "training_mode")):
        return f"BatchNormalization in training mode (training_mode=1: the batch's statistics); {EVAL_MODE}"
    extra = [t for t in node.outputs[1:] if not ir.is_empty(t)]
    if extra and ("training_mode" not in node.attrs or any(t.outputs for t in extra)):
        names = ", ".join(t.name for t in extra)
        return (
            f"BatchNormalization in training mode (running statistics outputs {names}: the batch's "
            f"statistics); {EVAL_MODE}"
        )
    return None


def inference(x, training_mode) -> str | None:
    """Why the BatchNormalization reading x is not one the rank-4 form computes, or None: training
    mode (``batch_statistics``), or extra outputs the one-output form does not make. A check sees
    the bound values, not the node: any BatchNormalization reading x counts."""
    if training_mode:
        return f"BatchNormalization in training mode (training_mode=1); {EVAL_MODE}"
    for node in x.outputs:
        if node.op == "BatchNormalization":
            reason = batch_statistics(node)
            if reason or len(node.outputs) > 1:
                return reason or f"{node.name} has (unused) statistics outputs the rank-4 form does not make"
    return None


def bn_low_rank(x, training_mode):
    return inference(x, training_mode) or _rank_is(x, (2, 3))


def bn_rank5(x, training_mode):
    return inference(x, training_mode) or _static_tail(x)


def in_rank3(x):
    return _rank_is(x, (3,))


@register
class LegalizeNormalization(RuleSet):
    """BatchNormalization/InstanceNormalization of a rank the target's layer does not take -> the
    same op on a rank-4 view of the input."""

    id = "lower::normalization"
    # fmt: off
    rules = (
        Rule("batchnorm_unsqueeze_to_rank4", batch_norm, batch_norm_unsqueezed, bn_low_rank, "bn(x) -> squeeze(bn(unsqueeze(x, [r..3])), [r..3])   (x of rank r = 2, 3)", legalize=True),
        Rule("batchnorm_merge_to_rank4", batch_norm, batch_norm_merged, bn_rank5, "bn(x[N,C,D,H,W]) -> reshape(bn(reshape(x, [N,C,D,H*W])), [N,C,D,H,W])", legalize=True),
        Rule("instancenorm_unsqueeze_to_rank4", instance_norm, instance_norm_unsqueezed, in_rank3, "in(x[N,C,L]) -> squeeze(in(unsqueeze(x, 3)), 3)", legalize=True),
        Rule("instancenorm_merge_to_rank4", instance_norm, instance_norm_merged, _static_tail, "in(x[N,C,D,H,W]) -> reshape(in(reshape(x, [N,C,D,H*W])), [N,C,D,H,W])", legalize=True),
    )
    # fmt: on
