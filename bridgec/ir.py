"""bridgec's IR: an onnx-graphsurgeon graph plus the few conventions every part agrees on.

Conventions:
  * ``BRIDGEC_DOMAIN`` holds ops the frontend keeps distinct for the passes to decide on
    (``HardTanh(min_value, max_value)``); ``CUSTOM_DOMAIN`` holds nodes a pass has decided to
    emit as Core ML custom layers (op_type = the layer's className, attributes = its parameters).
  * Every node has a unique, non-empty name: reports and error messages refer to nodes by name.
  * Both bridgec domains are defined as ONNX functions, so any exported graph still runs in
    onnxruntime: the reference every rewrite is checked against.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import onnx
import onnx_graphsurgeon as gs
from onnx_graphsurgeon.logger import G_LOGGER

BRIDGEC_DOMAIN = "ai.bridgec"
CUSTOM_DOMAIN = "ai.bridgec.coreml_custom"
BRIDGEC_OPSET = 1

G_LOGGER.severity = G_LOGGER.ERROR  # graphsurgeon's warnings are not for bridgec's users

OpKey = tuple[str, str]

# The ops of BRIDGEC_DOMAIN and their attributes, with torch's semantics. The frontend produces
# them (kept torch ops, normalised ONNX nodes and ATen fallbacks); a custom layer made from one has
# className = the op name and these attributes as its parameters (runtime_kernels/catalog.py).
BRIDGEC_OPS: dict[str, dict[str, str]] = {
    "HardTanh": {"min_value": "float", "max_value": "float"},  # min(max(x, min_value), max_value)
    "HardSwish": {},  # x * relu6(x + 3) / 6
    "HardSigmoid": {"alpha": "float", "beta": "float"},  # max(0, min(1, alpha * x + beta)); torch: 1/6, 0.5
    "Gelu": {"approximate": "string"},  # "none": x * Phi(x); "tanh": the tanh approximation
    "Silu": {},  # x * sigmoid(x)
    "Mish": {},  # x * tanh(softplus(x))
    "Elu": {"alpha": "float"},  # x if x > 0 else alpha * (exp(x) - 1)
    "Selu": {"alpha": "float", "gamma": "float"},  # gamma * (x if x > 0 else alpha * (exp(x) - 1))
    "Celu": {"alpha": "float"},  # max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
    "Softplus": {
        "beta": "float",
        "threshold": "float",
    },  # x if beta*x > threshold else log1p(exp(beta*x))/beta
    "LeakyRelu": {"alpha": "float"},  # x if x >= 0 else alpha * x
    "Erf": {},  # the error function
}


def op_key(node: gs.Node) -> OpKey:
    """(domain, op_type) with the default domain spelt ""."""
    domain = node.domain or ""
    return ("" if domain == "ai.onnx" else domain, node.op)


def op_label(node: gs.Node) -> str:
    domain, op = op_key(node)
    return op if not domain else f"{domain}::{op}"


def default_opset(graph: gs.Graph) -> int:
    return int(graph.opset)


def constant_value(tensor: gs.Tensor) -> np.ndarray | None:
    """The value of a tensor known at conversion time (initializer or Constant node), else None."""
    if isinstance(tensor, gs.Constant):
        return np.asarray(tensor.values)
    if len(tensor.inputs) == 1 and tensor.inputs[0].op == "Constant":
        attrs = tensor.inputs[0].attrs
        if "value" in attrs:
            return np.asarray(attrs["value"].values)
        for key, dtype in (("value_float", np.float32), ("value_int", np.int64)):
            if key in attrs:
                return np.asarray(attrs[key], dtype=dtype)
        for key, dtype in (("value_floats", np.float32), ("value_ints", np.int64)):
            if key in attrs:
                return np.asarray(list(attrs[key]), dtype=dtype)
    return None


def is_empty(tensor: gs.Tensor | None) -> bool:
    """ONNX marks an omitted optional input with an empty name."""
    return tensor is None or (isinstance(tensor, gs.Variable) and tensor.name == "")


def import_model(model: onnx.ModelProto) -> gs.Graph:
    graph = gs.import_onnx(model)
    name_nodes(graph)
    return graph


def name_nodes(graph: gs.Graph) -> None:
    """Give every node a unique name, keeping the names it had where they are already unique."""
    seen: set[str] = set()
    for index, node in enumerate(graph.nodes):
        name = node.name or f"{node.op}_{index}"
        base, n = name, 1
        while name in seen:
            name = f"{base}_{n}"
            n += 1
        node.name = name
        seen.add(name)


def used_domains(graph: gs.Graph) -> set[str]:
    return {op_key(node)[0] for node in graph.nodes}


def export_model(graph: gs.Graph, *, infer_shapes: bool = True) -> onnx.ModelProto:
    """The graph as an ONNX model that onnxruntime can run, bridgec ops included (as functions)."""
    graph = graph.copy()
    opset = default_opset(graph)
    domains = used_domains(graph) & {BRIDGEC_DOMAIN, CUSTOM_DOMAIN}
    custom_ops = {node.op for node in graph.nodes if op_key(node)[0] == CUSTOM_DOMAIN}
    # Constant(value_float) only exists from opset 12; 11 -> 12 only widened types, so the bump is safe.
    if domains and opset == 11:
        opset = 12
    graph.opset = opset
    model = gs.export_onnx(graph, do_type_check=False)
    imports = {imp.domain: imp.version for imp in model.opset_import}
    imports[""] = opset
    for domain in domains:
        imports[domain] = BRIDGEC_OPSET
    del model.opset_import[:]
    for domain, version in sorted(imports.items()):
        model.opset_import.append(onnx.helper.make_opsetid(domain, version))
    for domain in sorted(domains):
        ops = {node.op for node in graph.nodes if op_key(node)[0] == domain}
        if domain == CUSTOM_DOMAIN:
            ops = custom_ops
        model.functions.extend(function_definitions(domain, ops, opset))
    if model.ir_version < 8:
        model.ir_version = 8  # model-local functions need IR version 8
    return infer_shapes_best_effort(model) if infer_shapes else model


def infer_shapes_best_effort(model: onnx.ModelProto) -> onnx.ModelProto:
    """ONNX shape inference, or the model unchanged where it fails: shapes help, they are not required."""
    try:
        return onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - onnx raises several kinds; the backend re-checks what it needs
        return model


# Reference definitions of bridgec ops as ONNX function bodies, per opset family. A custom-layer
# node keeps the attributes of the op it came from, so both domains share one definition.
_HARDTANH_BODIES = {
    "attr": "y = Clip <min: float = @min_value, max: float = @max_value> (x)",
    "input": """
        lo = Constant <value_float: float = @min_value> ()
        hi = Constant <value_float: float = @max_value> ()
        y = Clip (x, lo, hi)""",
    "castlike": """
        lo_f = Constant <value_float: float = @min_value> ()
        hi_f = Constant <value_float: float = @max_value> ()
        lo = CastLike (lo_f, x)
        hi = CastLike (hi_f, x)
        y = Clip (x, lo, hi)""",
}


def _hardtanh_function(domain: str, opset: int) -> onnx.FunctionProto:
    form = "attr" if opset < 11 else ("input" if opset < 15 else "castlike")
    text = f"""
    <domain: "{domain}", opset_import: ["" : {opset}]>
    HardTanh <min_value, max_value> (x) => (y) {{ {_HARDTANH_BODIES[form]} }}
    """
    return onnx.parser.parse_function(text)


REFERENCE_FUNCTIONS = {"HardTanh": _hardtanh_function}


def function_definitions(domain: str, ops: Iterable[str], opset: int) -> list[onnx.FunctionProto]:
    return [REFERENCE_FUNCTIONS[op](domain, opset) for op in sorted(ops) if op in REFERENCE_FUNCTIONS]
