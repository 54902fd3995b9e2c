"""Bring the other spellings of the kept ops to the one declared form (``bridgec.core.ops``) the passes match.

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

from bridgec.core import ir, ops

ATEN_DOMAIN = "org.pytorch.aten"


@dataclass(frozen=True)
class Spelling:
    """How one foreign node maps to a bridgec op: ``attrs`` are (source name, bridgec name, default)."""

    op: str
    attrs: tuple[tuple[str, str, object], ...] = ()
    fixed: dict[str, object] = field(default_factory=dict)  # bridgec attributes the source cannot express


def _onnx(op: str, *names: str, fixed: dict[str, object] | None = None) -> Spelling:
    """A standard ONNX op whose attributes ``names`` carry over, absent ones at ONNX's defaults
    (which differ from torch's: HardSigmoid's alpha is 0.2, Selu's constants are float32)."""
    return Spelling(op, tuple((name, name, ops.default(op, name)) for name in names), fixed or {})


ONNX_SPELLINGS: dict[str, Spelling] = {
    "HardSwish": _onnx("HardSwish"),
    "HardSigmoid": _onnx("HardSigmoid", "alpha", "beta"),
    "Gelu": _onnx("Gelu", "approximate"),
    "Mish": _onnx("Mish"),
    "Elu": _onnx("Elu", "alpha"),
    "Selu": _onnx("Selu", "alpha", "gamma"),
    "Celu": _onnx("Celu", "alpha"),
    # ONNX Softplus is log(1 + exp(x)) everywhere: torch's beta 1 with no linear region
    "Softplus": _onnx("Softplus", fixed={"beta": 1.0, "threshold": math.inf}),
    "LeakyRelu": _onnx("LeakyRelu", "alpha"),
    # Core ML's NeuralNetwork has no erf layer: as a bridgec op it gets the bundled kernel
    "Erf": _onnx("Erf"),
}

# aten::elu's scale and input_scale (torch-internal uses) are not attributes of Elu: read so that
# _aten_attrs can leave elu with other values to torch's own decomposition
_ATEN_EXTRA_ARGS = {"elu": (("scale", "scale", 1.0), ("input_scale", "input_scale", 1.0))}


def _aten_spellings() -> dict[str, Spelling]:
    """ATen fallback operators, from the op declarations' aten forms: the arguments after ``self``
    in the aten schema's order with torch's defaults, and the attributes torch fixes."""
    spellings = {}
    for decl in ops.all_ops():
        if not decl.elementwise:  # an ATen fallback node of it has its tensors as inputs: none seen
            continue
        for form in decl.aten:
            named = {attr for _, attr in form.args}
            args = tuple((arg, attr, decl.attribute(attr).default) for arg, attr in form.args)
            fixed = {k: v for k, v in decl.aten_attrs(form, {}).items() if k not in named}
            spellings[form.name] = Spelling(decl.name, args + _ATEN_EXTRA_ARGS.get(form.name, ()), fixed)
    return spellings


ATEN_SPELLINGS: dict[str, Spelling] = _aten_spellings()


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
