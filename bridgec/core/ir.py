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

import math
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


def export_model(
    graph: gs.Graph, *, infer_shapes: bool = True, provenance: dict[str, str] | None = None
) -> onnx.ModelProto:
    """The graph as an ONNX model that onnxruntime can run, bridgec ops included (as functions).

    ``provenance`` (node name -> pass that created it) goes into each node's doc_string.
    """
    graph = graph.copy()
    for node in graph.nodes:
        if op_key(node)[0] in (BRIDGEC_DOMAIN, CUSTOM_DOMAIN):
            node.op = specialised_op(node.op, node.attrs)
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
    _define_other_custom_layers(model, opset)
    if model.ir_version < 8:
        model.ir_version = 8  # model-local functions need IR version 8
    for node in model.graph.node if provenance else ():
        if node.name in provenance:
            node.doc_string = f"created by {provenance[node.name]}"
    return infer_shapes_best_effort(model) if infer_shapes else model


def _define_other_custom_layers(model: onnx.ModelProto, opset: int) -> None:
    """Custom layers made from ops that are not bridgec's still run in onnxruntime: a user op keeps
    its model-local function (copied into the custom domain), a standard op runs as itself."""
    defined = {(f.domain, f.name) for f in model.functions}
    by_name = {f.name: f for f in model.functions if f.domain != CUSTOM_DOMAIN}
    for node in model.graph.node:
        if node.domain != CUSTOM_DOMAIN or (CUSTOM_DOMAIN, node.op_type) in defined:
            continue
        if node.op_type in by_name:
            function = onnx.FunctionProto()
            function.CopyFrom(by_name[node.op_type])
            function.domain = CUSTOM_DOMAIN
        elif onnx.defs.has(node.op_type):
            inputs = [f"i{k}" for k in range(len(node.input))]
            outputs = [f"o{k}" for k in range(len(node.output))]
            body = onnx.helper.make_node(node.op_type, inputs, outputs)
            for attr in node.attribute:
                body.attribute.append(
                    onnx.AttributeProto(name=attr.name, ref_attr_name=attr.name, type=attr.type)
                )
            function = onnx.helper.make_function(
                CUSTOM_DOMAIN,
                node.op_type,
                inputs,
                outputs,
                [body],
                [onnx.helper.make_opsetid("", opset)],
                [a.name for a in node.attribute],
            )
        else:
            continue
        model.functions.append(function)
        defined.add((CUSTOM_DOMAIN, node.op_type))


def infer_shapes_best_effort(model: onnx.ModelProto) -> onnx.ModelProto:
    """ONNX shape inference, or the model unchanged where it fails: shapes help, they are not required."""
    try:
        return onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - onnx raises several kinds; the backend re-checks what it needs
        return model


def without_large_weights(model: onnx.ModelProto, limit: int = 4096) -> onnx.ModelProto:
    """``model`` (changed in place) with its large float initializers turned into graph inputs of
    the same type and shape.

    Shape inference needs their shapes, never their values (shape arithmetic reads small integer
    tensors), but onnx serialises the whole model to run it: resnet50's 100 MB of weights went
    through protobuf twice just to learn the blob shapes.
    """
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE)
    initializers = model.graph.initializer
    large = [
        (i, t.name, t.data_type, list(t.dims))
        for i, t in enumerate(initializers)
        if t.data_type in floats and int(np.prod(t.dims)) > limit
    ]
    inputs = {i.name for i in model.graph.input}
    for index, name, data_type, dims in reversed(large):
        del initializers[index]
        if name not in inputs:
            model.graph.input.append(onnx.helper.make_tensor_value_info(name, data_type, dims))
    return model


def to_networkx(graph: gs.Graph):
    """The graph as a networkx DiGraph: nodes by name (with op and domain), edges labelled by tensor.

    For analyses that want graph algorithms (reachability, dominators) and for GraphML export;
    deliberately not used inside the rewrite loop, where it would cost a full copy per pass.
    """
    import networkx as nx

    dag = nx.DiGraph()
    for node in graph.nodes:
        dag.add_node(node.name, op=node.op, domain=op_key(node)[0])
    for node in graph.nodes:
        for tensor in node.outputs:
            for consumer in tensor.outputs:
                dag.add_edge(node.name, consumer.name, tensor=tensor.name)
    return dag


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

# torch.nn.SELU's constants (the ONNX Selu defaults are these rounded to float32).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_GAMMA = 1.0507009873554804934193349852946


def _scalar(name: str, value: str, opset: int) -> str:
    """Body lines defining ``name`` as a scalar like ``x``: a literal or an ``@attribute``.

    CastLike (opset 15) keeps the function valid for float16 inputs too; before it, float32 only.
    """
    literal = value if value.startswith("@") else repr(float(value))
    if opset < 15:
        return f"{name} = Constant <value_float: float = {literal}> ()\n"
    return f"{name}_f = Constant <value_float: float = {literal}> ()\n{name} = CastLike ({name}_f, x)\n"


def _function(domain: str, opset: int, name: str, attrs: str, body: str) -> onnx.FunctionProto:
    signature = f"{name} <{attrs}>" if attrs else name
    text = f"""
    <domain: "{domain}", opset_import: ["" : {opset}]>
    {signature} (x) => (y) {{ {body} }}
    """
    return onnx.parser.parse_function(text)


def _hardtanh_function(domain: str, opset: int) -> onnx.FunctionProto:
    form = "attr" if opset < 11 else ("input" if opset < 15 else "castlike")
    return _function(domain, opset, "HardTanh", "min_value, max_value", _HARDTANH_BODIES[form])


def _hardswish_function(domain: str, opset: int) -> onnx.FunctionProto:
    # x * relu6(x + 3) / 6 == x * hardsigmoid(x, 1/6, 1/2); HardSwish itself exists from opset 14
    body = (
        "y = HardSwish (x)"
        if opset >= 14
        else "s = HardSigmoid <alpha: float = 0.16666667, beta: float = 0.5> (x)\ny = Mul (x, s)"
    )
    return _function(domain, opset, "HardSwish", "", body)


def _hardsigmoid_function(domain: str, opset: int) -> onnx.FunctionProto:
    body = "y = HardSigmoid <alpha: float = @alpha, beta: float = @beta> (x)"
    return _function(domain, opset, "HardSigmoid", "alpha, beta", body)


def _gelu_function(approximate: str) -> object:
    """Gelu's body depends on a string attribute, which no ONNX op before opset 20 can branch on,
    so export_model names each node ``Gelu__<approximate>`` and gets a body per value."""

    def build(domain: str, opset: int) -> onnx.FunctionProto:
        if approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            body = (
                _scalar("k", str(math.sqrt(2 / math.pi)), opset)
                + _scalar("c", "0.044715", opset)
                + _scalar("half", "0.5", opset)
                + _scalar("one", "1.0", opset)
                + """x2 = Mul (x, x)
                x3 = Mul (x2, x)
                cx3 = Mul (c, x3)
                inner = Add (x, cx3)
                arg = Mul (k, inner)
                t = Tanh (arg)
                onet = Add (one, t)
                hx = Mul (half, x)
                y = Mul (hx, onet)"""
            )
        else:  # 0.5 x (1 + erf(x / sqrt(2)))
            body = (
                _scalar("r", str(1 / math.sqrt(2)), opset)
                + _scalar("half", "0.5", opset)
                + _scalar("one", "1.0", opset)
                + """xr = Mul (x, r)
                e = Erf (xr)
                onee = Add (one, e)
                hx = Mul (half, x)
                y = Mul (hx, onee)"""
            )
        return _function(domain, opset, f"Gelu__{approximate}", "", body)

    return build


def _silu_function(domain: str, opset: int) -> onnx.FunctionProto:
    return _function(domain, opset, "Silu", "", "s = Sigmoid (x)\ny = Mul (x, s)")


def _mish_function(domain: str, opset: int) -> onnx.FunctionProto:
    body = "sp = Softplus (x)\nt = Tanh (sp)\ny = Mul (x, t)"
    return _function(domain, opset, "Mish", "", body)


def _elu_function(domain: str, opset: int) -> onnx.FunctionProto:
    return _function(domain, opset, "Elu", "alpha", "y = Elu <alpha: float = @alpha> (x)")


def _selu_function(domain: str, opset: int) -> onnx.FunctionProto:
    body = "y = Selu <alpha: float = @alpha, gamma: float = @gamma> (x)"
    return _function(domain, opset, "Selu", "alpha, gamma", body)


def _celu_function(domain: str, opset: int) -> onnx.FunctionProto:
    if opset >= 12:
        return _function(domain, opset, "Celu", "alpha", "y = Celu <alpha: float = @alpha> (x)")
    # max(0, x) + min(0, alpha (exp(x / alpha) - 1))
    body = (
        _scalar("a", "@alpha", opset)
        + _scalar("zero", "0.0", opset)
        + _scalar("one", "1.0", opset)
        + """xa = Div (x, a)
        ex = Exp (xa)
        em1 = Sub (ex, one)
        neg = Mul (a, em1)
        lo = Min (zero, neg)
        hi = Max (zero, x)
        y = Add (hi, lo)"""
    )
    return _function(domain, opset, "Celu", "alpha", body)


def _softplus_function(domain: str, opset: int) -> onnx.FunctionProto:
    # torch: x where beta * x > threshold, else log(1 + exp(beta * x)) / beta
    body = (
        _scalar("beta", "@beta", opset)
        + _scalar("threshold", "@threshold", opset)
        + """bx = Mul (x, beta)
        sp = Softplus (bx)
        soft = Div (sp, beta)
        linear = Greater (bx, threshold)
        y = Where (linear, x, soft)"""
    )
    return _function(domain, opset, "Softplus", "beta, threshold", body)


def _leaky_relu_function(domain: str, opset: int) -> onnx.FunctionProto:
    return _function(domain, opset, "LeakyRelu", "alpha", "y = LeakyRelu <alpha: float = @alpha> (x)")


def _erf_function(domain: str, opset: int) -> onnx.FunctionProto:
    return _function(domain, opset, "Erf", "", "y = Erf (x)")


REFERENCE_FUNCTIONS = {
    "HardTanh": _hardtanh_function,
    "HardSwish": _hardswish_function,
    "HardSigmoid": _hardsigmoid_function,
    "Gelu__none": _gelu_function("none"),
    "Gelu__tanh": _gelu_function("tanh"),
    "Silu": _silu_function,
    "Mish": _mish_function,
    "Elu": _elu_function,
    "Selu": _selu_function,
    "Celu": _celu_function,
    "Softplus": _softplus_function,
    "LeakyRelu": _leaky_relu_function,
    "Erf": _erf_function,
}

# Ops whose function body depends on a string attribute: exported as ``<op>__<value>``.
SPECIALISED_BY = {"Gelu": "approximate"}


def specialised_op(op: str, attrs: dict) -> str:
    """The function name that defines a node of ``op`` with ``attrs`` (``Gelu`` -> ``Gelu__tanh``)."""
    if op not in SPECIALISED_BY:
        return op
    value = attrs.get(SPECIALISED_BY[op], "none")
    return f"{op}__{value.decode() if isinstance(value, bytes) else value}"


def function_definitions(domain: str, ops: Iterable[str], opset: int) -> list[onnx.FunctionProto]:
    return [REFERENCE_FUNCTIONS[op](domain, opset) for op in sorted(ops) if op in REFERENCE_FUNCTIONS]
