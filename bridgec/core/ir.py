"""bridgec's IR: an onnx-graphsurgeon graph plus the few conventions every part agrees on.

Conventions:
  * ``BRIDGEC_DOMAIN`` holds ops the frontend keeps distinct for the passes to decide on
    (``HardTanh(min_value, max_value)``, each declared once in ``bridgec.core.ops``);
    ``CUSTOM_DOMAIN`` holds nodes a pass has decided to emit as Core ML custom layers (op_type =
    the layer's className, attributes = its parameters).
  * Every node has a unique, non-empty name: reports and error messages refer to nodes by name.
  * Both bridgec domains are defined as ONNX functions, so any exported graph still runs in
    onnxruntime: the reference every rewrite is checked against.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import numpy as np
import onnx
import onnx_graphsurgeon as gs
from onnx_graphsurgeon.logger import G_LOGGER

from bridgec.core import ops

# defined with the op declarations; ir.BRIDGEC_DOMAIN etc. remain the names the layers above use
BRIDGEC_DOMAIN, CUSTOM_DOMAIN, BRIDGEC_OPSET = ops.BRIDGEC_DOMAIN, ops.CUSTOM_DOMAIN, ops.BRIDGEC_OPSET

G_LOGGER.severity = G_LOGGER.ERROR  # graphsurgeon's warnings are not for bridgec's users

OpKey = tuple[str, str]


class _DeclaredOps(Mapping[str, dict[str, str]]):
    """The declared bridgec ops as ``{op: {attribute: kind}}``, read from the registry on each use
    (an op declared later, by a plugin, is there too)."""

    def __getitem__(self, op: str) -> dict[str, str]:
        if not ops.is_declared(op):
            raise KeyError(op)
        return {a.name: a.kind for a in ops.get(op).attributes}

    def __iter__(self) -> Iterator[str]:
        return iter([d.name for d in ops.all_ops()])

    def __len__(self) -> int:
        return len(ops.all_ops())


BRIDGEC_OPS: Mapping[str, dict[str, str]] = _DeclaredOps()


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
    if model.ir_version < 9:
        model.ir_version = 9  # model-local functions need IR 8, their attribute defaults IR 9
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


def is_static(shape) -> bool:
    """Whether ``shape`` (a graphsurgeon tensor's) is known in every dimension."""
    return shape is not None and all(isinstance(d, int) and d >= 0 for d in shape)


def refresh_shapes(graph: gs.Graph) -> int:
    """Give the tensors of ``graph`` whose shape is unknown the static shape ONNX inference (with
    data propagation) now finds; returns how many it gave.

    Folding can make shapes computable that were not: a Pad whose amounts come from ``x.shape``
    (TF "SAME" padding) has an unknown output shape until those amounts are constants, and the next
    such Pad's amounts are computed from that shape. The weights are left out of the inferred copy
    (only their shapes matter to inference)."""
    model = without_large_weights(export_model(graph, infer_shapes=False))
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # noqa: BLE001 - onnx raises several kinds; shapes help, they are not required
        return 0
    found = {v.name: v.type.tensor_type for v in (*inferred.graph.value_info, *inferred.graph.output)}
    given = 0
    for name, tensor in graph.tensors().items():
        if isinstance(tensor, gs.Constant) or is_static(tensor.shape) or name not in found:
            continue
        typed = found[name]
        if not typed.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in typed.shape.dim]
        if not is_static(dims):
            continue
        tensor.shape = dims
        if tensor.dtype is None and typed.elem_type:
            tensor.dtype = onnx.helper.tensor_dtype_to_np_dtype(typed.elem_type)
        given += 1
    return given


# Above this many values a float initializer is a weight whose values shape inference never reads.
LARGE_WEIGHT = 4096


def without_large_weights(model: onnx.ModelProto, limit: int = LARGE_WEIGHT) -> onnx.ModelProto:
    """``model`` (changed in place) with its large float initializers turned into graph inputs of
    the same type and shape.

    Shape inference needs their shapes, never their values (shape arithmetic reads small integer
    tensors), but onnx serialises the whole model to run it: resnet50's 100 MB of weights went
    through protobuf twice just to learn the blob shapes.
    """
    initializers = model.graph.initializer
    large = [i for i, t in enumerate(initializers) if _large_float(t, limit)]
    inputs = {i.name for i in model.graph.input}
    for index in reversed(large):
        _as_input(model.graph, initializers[index], inputs)
        del initializers[index]
    return model


def shapes_only(model: onnx.ModelProto, limit: int = LARGE_WEIGHT) -> onnx.ModelProto:
    """A new model holding what shape inference reads of ``model``: ``without_large_weights`` of a
    copy, made without copying the weights it drops (a ``CopyFrom`` would: 100 MB for resnet50,
    330 MB for vit_b_16)."""
    light = onnx.ModelProto(ir_version=model.ir_version)
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    graph, source = light.graph, model.graph
    graph.name = source.name
    for field in ("node", "input", "output", "value_info", "sparse_initializer"):
        getattr(graph, field).extend(getattr(source, field))
    inputs = {i.name for i in source.input}
    for tensor in source.initializer:
        if _large_float(tensor, limit):
            _as_input(graph, tensor, inputs)
        else:
            graph.initializer.append(tensor)
    return light


def _large_float(tensor: onnx.TensorProto, limit: int) -> bool:
    """A float initializer of more than ``limit`` values: a weight, whose values inference never reads."""
    return tensor.data_type in _FLOAT_TYPES and int(np.prod(tensor.dims)) > limit


def is_large_weight(value: np.ndarray, limit: int = LARGE_WEIGHT) -> bool:
    """``_large_float`` of an array: what ``without_large_weights`` makes a graph input."""
    return value.dtype in _FLOAT_DTYPES and value.size > limit


def restore_weights(graph: gs.Graph, weights: dict[str, np.ndarray]) -> None:
    """The graph inputs named in ``weights`` (a model written in ``without_large_weights``'s form,
    its weights kept apart as arrays) made the constants they stand for, holding those arrays: the
    graph a model with them as initializers imports to, without their bytes having gone through
    protobuf. The arrays are handed over read-only: they may be views of a PyTorch model's own
    parameters, which the conversion check runs."""
    if not weights:
        return
    tensors = graph.tensors()
    for name, value in weights.items():
        kept = value.view()
        kept.flags.writeable = False
        tensors[name].to_constant(kept)
    graph.inputs = [t for t in graph.inputs if t.name not in weights]


def _as_input(graph: onnx.GraphProto, tensor: onnx.TensorProto, inputs: set[str]) -> None:
    """``tensor`` declared as a graph input of its type and shape (once: an initializer may be one)."""
    if tensor.name not in inputs:
        graph.input.append(
            onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims))
        )


_FLOAT_TYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE)
_FLOAT_DTYPES = tuple(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t)) for t in _FLOAT_TYPES)


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


def specialised_op(op: str, attrs: dict) -> str:
    """The function name that defines a node of ``op`` with ``attrs`` (``Gelu`` -> ``Gelu__tanh``)."""
    return ops.get(op).function_name(attrs) if ops.is_declared(op) else op


def function_definitions(domain: str, op_names: Iterable[str], opset: int) -> list[onnx.FunctionProto]:
    """The reference functions of the declared ops among ``op_names`` (function names, as
    ``specialised_op`` gives them), in ``domain``: a custom-layer node keeps the attributes of the
    op it came from, so both bridgec domains share one definition."""
    wanted = set(op_names)
    return sorted(
        (
            function
            for decl in ops.all_ops()
            if wanted & set(decl.function_names())
            for function in decl.functions(domain, opset)
            if function.name in wanted
        ),
        key=lambda function: function.name,
    )
