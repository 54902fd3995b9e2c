"""Bring the other spellings of the kept ops to the one ``BRIDGEC_OPS`` form the passes match.

Three sources produce the same activation: the torch frontend's kept-op symbolics (already in
the bridgec domain), standard ONNX nodes (``HardSwish``, ``Gelu``, ``Selu`` ...) and the
ATen-fallback nodes of older exports (``ATen`` in ``org.pytorch.aten`` with ``operator="elu"``).
After ``normalize`` all three are one node kind with explicit attributes in torch's semantics,
so one set of lowering rules and one set of kernels serve them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core import ir

ATEN_DOMAIN = "org.pytorch.aten"


@dataclass(frozen=True)
class Spelling:
    """How one foreign node maps to a bridgec op: ``attrs`` are (source name, bridgec name, default)."""

    op: str
    attrs: tuple[tuple[str, str, object], ...] = ()
    fixed: dict[str, object] = field(default_factory=dict)  # bridgec attributes the source cannot express


# Standard ONNX ops: attribute defaults are ONNX's, which differ from torch's where noted.
ONNX_SPELLINGS: dict[str, Spelling] = {
    "HardSwish": Spelling("HardSwish"),
    # ONNX's default alpha is 0.2; torch's hardsigmoid is alpha 1/6
    "HardSigmoid": Spelling("HardSigmoid", (("alpha", "alpha", 0.2), ("beta", "beta", 0.5))),
    "Gelu": Spelling("Gelu", (("approximate", "approximate", "none"),)),
    "Mish": Spelling("Mish"),
    "Elu": Spelling("Elu", (("alpha", "alpha", 1.0),)),
    # ONNX's defaults are torch's constants rounded to float32
    "Selu": Spelling(
        "Selu", (("alpha", "alpha", 1.67326319217681884765625), ("gamma", "gamma", 1.05070102214813232421875))
    ),
    "Celu": Spelling("Celu", (("alpha", "alpha", 1.0),)),
    # ONNX Softplus is log(1 + exp(x)) everywhere: torch's beta 1 with no linear region
    "Softplus": Spelling("Softplus", fixed={"beta": 1.0, "threshold": math.inf}),
    "LeakyRelu": Spelling("LeakyRelu", (("alpha", "alpha", 0.01),)),
    # Core ML's NeuralNetwork has no erf layer: as a bridgec op it gets the bundled kernel
    "Erf": Spelling("Erf"),
}

# ATen fallback operators: the arguments after ``self``, in the aten schema's order and defaults.
ATEN_SPELLINGS: dict[str, Spelling] = {
    "hardtanh": Spelling("HardTanh", (("min_val", "min_value", -1.0), ("max_val", "max_value", 1.0))),
    "relu6": Spelling("HardTanh", fixed={"min_value": 0.0, "max_value": 6.0}),
    "hardswish": Spelling("HardSwish"),
    "hardsigmoid": Spelling("HardSigmoid", fixed={"alpha": 1 / 6, "beta": 0.5}),
    "gelu": Spelling("Gelu", (("approximate", "approximate", "none"),)),
    "silu": Spelling("Silu"),
    "mish": Spelling("Mish"),
    "elu": Spelling(
        "Elu", (("alpha", "alpha", 1.0), ("scale", "scale", 1.0), ("input_scale", "input_scale", 1.0))
    ),
    "selu": Spelling("Selu", fixed={"alpha": ir.SELU_ALPHA, "gamma": ir.SELU_GAMMA}),
    "celu": Spelling("Celu", (("alpha", "alpha", 1.0),)),
    "softplus": Spelling("Softplus", (("beta", "beta", 1.0), ("threshold", "threshold", 20.0))),
    "leaky_relu": Spelling("LeakyRelu", (("negative_slope", "alpha", 0.01),)),
}


def _text(value: object) -> object:
    return value.decode() if isinstance(value, bytes) else value


def _onnx_attrs(node: gs.Node, spelling: Spelling) -> dict[str, object]:
    attrs = {dst: _text(node.attrs.get(src, default)) for src, dst, default in spelling.attrs}
    return {**attrs, **spelling.fixed}


def _aten_attrs(node: gs.Node, spelling: Spelling) -> dict[str, object] | None:
    """Scalars come as attributes named after the aten argument (older exporters) or as constant
    inputs after ``self`` (newer ones); None when one is only known at run time."""
    attrs: dict[str, object] = {}
    for index, (src, dst, default) in enumerate(spelling.attrs, start=1):
        if src in node.attrs:
            value = _text(node.attrs[src])
        elif index < len(node.inputs) and not ir.is_empty(node.inputs[index]):
            array = ir.constant_value(node.inputs[index])
            if array is None or array.size != 1:
                return None
            item = array.reshape(()).item()
            value = _text(item) if isinstance(item, (str, bytes)) else float(item)
        else:
            value = default
        attrs[dst] = float(value) if isinstance(default, float) else value
    # aten::elu's scale/input_scale (torch-internal uses) are not part of the bridgec Elu
    if spelling.op == "Elu" and (attrs.pop("scale"), attrs.pop("input_scale")) != (1.0, 1.0):
        return None
    return {**attrs, **spelling.fixed}


def normalize(graph: gs.Graph) -> int:
    """Rewrite foreign spellings of the kept ops in place; returns how many nodes changed."""
    changed = 0
    for node in graph.nodes:
        domain, op = ir.op_key(node)
        if domain == "" and op in ONNX_SPELLINGS:
            spelling = ONNX_SPELLINGS[op]
            attrs = _onnx_attrs(node, spelling)
        elif domain == ATEN_DOMAIN and op == "ATen":
            operator = str(_text(node.attrs.get("operator", ""))).rstrip("_")  # in-place spellings too
            spelling = ATEN_SPELLINGS.get(operator)
            attrs = _aten_attrs(node, spelling) if spelling else None
            if attrs is None:
                continue
        else:
            continue
        if not node.inputs or len(node.outputs) != 1:
            continue
        node.op, node.domain = spelling.op, ir.BRIDGEC_DOMAIN
        node.attrs = {
            k: (float(v) if isinstance(v, (int, float, np.floating)) else v) for k, v in attrs.items()
        }
        while len(node.inputs) > 1:  # the ATen scalars are attributes now
            node.inputs.pop()
        changed += 1
    if changed:
        graph.cleanup(remove_unused_graph_inputs=False)
    return changed


def split_shape_ranges(graph: gs.Graph) -> int:
    """``Shape(x, start=a, end=b)`` -> ``Slice(Shape(x), [a], [b])``; returns how many changed.

    onnx-graphsurgeon's shape folding (cleanup::fold_constants) ignores ``start``/``end`` and folds
    the whole shape, which turns a reshape target into garbage; a Slice of the shape it folds right.
    """
    changed = 0
    for node in list(graph.nodes):
        if ir.op_key(node) != ("", "Shape") or not ({"start", "end"} & set(node.attrs)):
            continue
        start = int(node.attrs.pop("start", 0))
        end = node.attrs.pop("end", None)
        end = np.iinfo(np.int64).max if end is None else int(end)
        (out,) = node.outputs
        whole = gs.Variable(f"{out.name}__whole", dtype=np.int64)
        node.outputs = [whole]
        bounds = [
            gs.Constant(f"{out.name}__{what}", np.array([value], dtype=np.int64))
            for what, value in (("start", start), ("end", end))
        ]
        graph.nodes.append(gs.Node("Slice", f"{node.name}__range", inputs=[whole, *bounds], outputs=[out]))
        changed += 1
    if changed:
        graph.toposort()
    return changed


__all__ = ["ATEN_DOMAIN", "ATEN_SPELLINGS", "ONNX_SPELLINGS", "Spelling", "normalize", "split_shape_ranges"]
