"""Cast and Expand.

``coreai.cast`` (``_coreai_ops_gen.py``, CastOp) converts float -> int by truncation toward zero
(ONNX's Cast too), to and from bool, and f32 -> f16 by rounding to nearest even. A Cast to int64 is
a cast to si32 (int64 is held as si32, ``backends.coreai.inputs``), and a cast whose source and
target Core AI types are equal passes the value on. Expand is ``coreai.broadcast_to`` of the
(static) output shape: numpy broadcasting, which is ONNX's Expand.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from bridgec.backends.coreai.inputs import coreai_dtype
from bridgec.backends.coreai.ops import CoreAIEmitter, needs_static, static_shape, u32
from bridgec.core.errors import ConversionError


def _to(node: gs.Node) -> np.dtype:
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(int(node.attrs["to"])))


def _cast_check(node: gs.Node, target) -> str | None:
    """Restrictions: to and from float32, float16, int8/16/32, int64 (as int32), uint8 or bool."""
    try:
        coreai_dtype(_to(node), "the target type")
        coreai_dtype(node.inputs[0].dtype, f"input {node.inputs[0].name!r}")
    except ConversionError as error:
        return str(error).split(";")[0]
    return None


def _cast(ctx, node: gs.Node) -> None:
    x = node.inputs[0]
    to = coreai_dtype(_to(node), "the target type")
    value = ctx.value(x)
    if isinstance(value, np.ndarray):  # a constant Cast the folding left: cast it here, exactly as numpy
        ctx.set(node.outputs[0], value.astype(_to(node)))
        return
    same = ctx.dtype(x) == to
    ctx.set(node.outputs[0], value if same else ctx.call("cast", value, to.type))


def _expand_check(node: gs.Node, target) -> str | None:
    """Restrictions: static shapes (broadcast_to is given the output's)."""
    return needs_static(node, "Expand")


def _expand(ctx, node: gs.Node) -> None:
    shape = u32(static_shape(node.outputs[0]))
    ctx.set(node.outputs[0], ctx.call("broadcast_to", ctx.value(node.inputs[0]), shape))


emitters = [
    CoreAIEmitter("Cast", _cast, _cast_check, coreai_ops=("cast",)),
    CoreAIEmitter("Expand", _expand, _expand_check, coreai_ops=("broadcast_to",)),
]
