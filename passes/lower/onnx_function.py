"""Legalise a standard op the target refuses by its ONNX function body: the op's own definition.

ONNX defines many ops as a function of other ops in their schema (Shrink, ThresholdedRelu, the
window functions, MeanVarianceNormalization; built for the node's attributes and input types:
GroupNormalization, RMSNormalization, Attention, CastLike, ...). Where the target has no layer for
such a node, the body is an exact decomposition, so it goes in the node's place:

    y = Shrink(x, lambd=0.5)                      # refused: no Core ML layer
 -> y = Where(Less(x, -0.5), x + 0, Where(Less(0.5, x), x - 0, 0))

The body is inlined with the node's inputs and attributes (the schema's defaults for those it
omits), body ops the target refuses that have a body of their own are inlined in turn (CastLike in
Shrink's), and what the body computes from constants (its Constant nodes, CastLike of a literal,
Shape of a static tensor and the arithmetic on it) is folded now, since no cleanup runs after the
legalisations. It fires only when every node left is supported by the target, or is made so by a
legalisation that runs after it; otherwise the node stays (a custom layer, or unsupported) and the
near miss names the body op the target lacks. A node that a later legalisation handles by itself
(PRelu, Clip, LayerNormalization have bodies too) is left to that named rule.

A pass rather than a RuleSet: the replacement is whatever the schema's body is, of any length.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import onnx
import onnx.inliner
import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.core.capabilities import Capabilities
from bridgec.passes._infra import Pass, PassContext, PassResult, create, drop_nodes, register
from bridgec.passes._pattern import NearMiss

RULE = "function_body"
IDENTITY = "op(x, attrs) -> its ONNX schema's function body for x's types and attrs, inlined"
MAX_DEPTH = 4  # bodies inlined within a body (Shrink -> CastLike -> Cast), at most this deep
_DOMAIN = "bridgec.onnx_function"  # the model-local domain the inliner expands


def _schema(node: gs.Node, opset: int) -> onnx.defs.OpSchema | None:
    """The schema of a default-domain node at ``opset`` if it defines the op by a function body."""
    if ir.op_key(node)[0] != "":
        return None
    try:
        schema = onnx.defs.get_schema(node.op, opset, "")
    except onnx.defs.SchemaError:
        return None
    return schema if schema.has_function or schema.has_context_dependent_function else None


def function_body(
    schema: onnx.defs.OpSchema, node: onnx.NodeProto, input_types: list[onnx.TypeProto], opset: int
) -> onnx.FunctionProto | str:
    """The body of ``node`` (attributes complete) for ``input_types`` at the graph's ``opset``, its
    ops read at that opset; or why there is none that means the same there."""
    plain = schema.has_function
    versions = list(
        schema.function_opset_versions if plain else schema.context_dependent_function_opset_versions
    )
    if not versions:
        return f"onnx lists no opset of {node.op_type}'s function body"
    # the newest body written for this opset or before; else the oldest (checked below)
    version = max((v for v in versions if v <= opset), default=min(versions))
    try:
        if plain:
            data = schema.get_function_with_opset_version(version)
        else:
            types = [t.SerializeToString() for t in input_types]
            data = schema.get_context_dependent_function_with_opset_version(
                version, node.SerializeToString(), types
            )
    except Exception as exc:  # noqa: BLE001 - onnx's builders raise on inputs they cannot type
        return f"onnx cannot build its function body here: {exc}"
    if not data:
        return f"onnx builds no function body of {node.op_type} for these inputs and attributes"
    body = onnx.FunctionProto.FromString(data)
    written = next((imp.version for imp in body.opset_import if imp.domain in ("", "ai.onnx")), opset)
    if written != opset and any(
        _since(n.op_type, written) != _since(n.op_type, opset)
        for n in body.node
        if n.domain in ("", "ai.onnx")
    ):
        _bind_attributes(body, node)  # the converter's adapters rebuild attributes, references lost
        converted = _converted(body, input_types, written, opset)
        if isinstance(converted, str):
            return f"its function body is written for opset {written}: {converted}"
        del body.node[:]
        body.node.extend(converted)
    for imp in body.opset_import:
        if imp.domain in ("", "ai.onnx"):
            imp.version = opset  # its ops mean the same there now: the inliner wants one version
    return body


def _since(op: str, opset: int) -> int | None:
    try:
        return onnx.defs.get_schema(op, opset, "").since_version
    except onnx.defs.SchemaError:
        return None


def _bind_attributes(body: onnx.FunctionProto, node: onnx.NodeProto) -> None:
    """Replace the body's attribute references by ``node``'s values (a reference to an attribute the
    node lacks means the attribute is absent), as inlining does."""
    given = {a.name: a for a in node.attribute}
    for body_node in body.node:
        kept = []
        for attr in body_node.attribute:
            if attr.ref_attr_name:
                if attr.ref_attr_name not in given:
                    continue
                value = onnx.AttributeProto()
                value.CopyFrom(given[attr.ref_attr_name])
                value.name = attr.name
                attr = value
            kept.append(attr)
        del body_node.attribute[:]
        body_node.attribute.extend(kept)


def _converted(
    body: onnx.FunctionProto, input_types: list[onnx.TypeProto], written: int, opset: int
) -> list[onnx.NodeProto] | str:
    """The nodes of ``body`` (written for opset ``written``) as they read at ``opset``, by onnx's
    version converter, or why they cannot be (its adapters for Cast, ReduceMin, ... ; a new Cast
    version only adds types, a new ReduceMin takes its axes as an input)."""
    import onnx.version_converter

    typed = dict(zip(body.input, input_types, strict=False))
    inputs = [onnx.helper.make_value_info(name, typed.get(name, onnx.TypeProto())) for name in body.input]
    outputs = [onnx.helper.make_value_info(name, onnx.TypeProto()) for name in body.output]
    graph = onnx.helper.make_graph(list(body.node), "body", inputs, outputs)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", written)])
    try:
        return list(onnx.version_converter.convert_version(model, opset).graph.node)
    except Exception as exc:  # noqa: BLE001 - onnx raises several kinds; the reason is its message
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _with_defaults(node: onnx.NodeProto, schema: onnx.defs.OpSchema) -> None:
    """Give ``node`` the schema's default of each attribute it omits: a body reads them by reference,
    and the inliner drops a reference to an attribute the node does not have."""
    have = {a.name for a in node.attribute}
    for name, attr in sorted(schema.attributes.items()):
        if name not in have and attr.default_value.type != onnx.AttributeProto.UNDEFINED:
            default = onnx.AttributeProto()
            default.CopyFrom(attr.default_value)
            default.name = name
            node.attribute.append(default)


def _input_types(model: onnx.ModelProto, node: onnx.NodeProto) -> list[onnx.TypeProto]:
    known = {v.name: v.type for v in (*model.graph.input, *model.graph.value_info)}
    for init in model.graph.initializer:
        known[init.name] = onnx.helper.make_tensor_type_proto(init.data_type, list(init.dims))
    return [known.get(name, onnx.TypeProto()) for name in node.input]


def _scratch(node: gs.Node, graph: gs.Graph) -> gs.Graph:
    """A graph of a copy of ``node`` alone: its inputs as graph inputs, constants keeping their values
    (so the body's arithmetic on them folds), its used outputs as graph outputs."""
    inputs: list[gs.Tensor] = []
    for t in node.inputs:
        value = None if ir.is_empty(t) else ir.constant_value(t)
        if ir.is_empty(t):
            inputs.append(gs.Variable.empty())
        elif value is not None:
            inputs.append(gs.Constant(t.name, value))
        else:
            inputs.append(gs.Variable(t.name, dtype=t.dtype, shape=t.shape))
    outputs = [gs.Variable(t.name, dtype=t.dtype, shape=t.shape) for t in node.outputs]
    copy = gs.Node(node.op, node.name, dict(node.attrs), inputs, outputs, domain=node.domain)
    unique = {t.name: t for t in inputs if isinstance(t, gs.Variable) and t.name}
    return gs.Graph(
        nodes=[copy],
        inputs=list(unique.values()),
        outputs=[t for t in outputs if t.name],
        opset=graph.opset,
        import_domains=graph.import_domains,
    )


def expand(node: gs.Node, graph: gs.Graph, caps: Capabilities) -> gs.Graph | str:
    """``node`` as a graph of its function body (inlined again where the body has refused ops with
    bodies, its constant part folded), inputs and outputs named as the node's; or why not."""
    opset = ir.default_opset(graph)
    scratch = _scratch(node, graph)
    pending = {node.name}  # the nodes to inline in this round
    for _ in range(MAX_DEPTH):
        model = gs.export_onnx(scratch, do_type_check=False)
        model = ir.infer_shapes_best_effort(model)
        functions = []
        for index, proto in enumerate(model.graph.node):
            if proto.name not in pending:
                continue
            schema = onnx.defs.get_schema(proto.op_type, opset, "")
            _with_defaults(proto, schema)
            body = function_body(schema, proto, _input_types(model, proto), opset)
            if isinstance(body, str):
                return f"{proto.name} ({proto.op_type}): {body}"
            # one function per node: a context-dependent body is built for that node alone
            body.domain, body.name = _DOMAIN, f"{proto.op_type}__{index}"
            proto.domain, proto.op_type = _DOMAIN, body.name
            functions.append(body)
        model.functions.extend(functions)
        model.opset_import.append(onnx.helper.make_opsetid(_DOMAIN, 1))
        if model.ir_version < 8:
            model.ir_version = 8  # model-local functions
        # onnx's own inliner: it renames the body's values apart, binds inputs (an omitted optional
        # one stays omitted) and outputs, and substitutes attribute references, as ONNX defines a
        # function call; it is what onnxruntime runs a function op by
        inlined = onnx.inliner.inline_local_functions(model)
        inlined.opset_import.remove(next(i for i in inlined.opset_import if i.domain == _DOMAIN))
        scratch = ir.import_model(ir.infer_shapes_best_effort(inlined))
        _fold(scratch, PassContext(capabilities=caps))
        inputs = {id(t) for t in scratch.inputs}
        unmade = [
            t.name
            for n in scratch.nodes
            for t in n.inputs
            if isinstance(t, gs.Variable) and t.name and not t.inputs and id(t) not in inputs
        ]
        if unmade:  # a value of a branch that graphsurgeon's folding lost: never splice that in
            return f"folding its function body left {unmade[0]} without a value"
        pending = {n.name for n in scratch.nodes if caps.unsupported_reason(n) and _schema(n, opset)}
        if not pending:
            return scratch
    return f"its function body still has ops with function bodies the target refuses {MAX_DEPTH} levels down"


def _fold(graph: gs.Graph, context: PassContext) -> None:
    """What the body computes from constants and static shapes -> constants, no-op casts and
    identities dropped, shapes inferred again with the sizes now known.

    cleanup::fold_constants's own loop is not used: it asks graphsurgeon to fold Shape nodes, and
    graphsurgeon's fold of ``Shape(X, start=3, end=4)`` is the whole shape of X (RotaryEmbedding's
    body read a head size of [1, 3, 2, 8]); here Shape is folded by ``fold_shapes``."""
    from bridgec.core.sizes import fold_exclusions
    from bridgec.passes.cleanup import RemoveIdentities, constant_nodes_to_tensors, fold_shapes

    for _ in range(MAX_DEPTH):
        count = len(graph.nodes)
        constant_nodes_to_tensors(graph)
        fold_shapes(graph)
        outer = _sources(graph.nodes)  # before folding, which turns these very tensors into constants
        graph.fold_constants(
            error_ok=True,
            fold_shapes=False,
            flatten_subgraphs=False,
            should_exclude_node=fold_exclusions(graph),
        )
        graph.cleanup(remove_unused_graph_inputs=False)
        _read_outer([n for n in graph.nodes if n.op == "If"], outer)
        _flatten_ifs(graph, outer)
        ir.refresh_shapes(graph)  # inference ran before the sizes it reshapes to were folded
        if len(graph.nodes) == count:
            break
    _same_type_casts_to_identities(graph)
    RemoveIdentities().call(graph, context)
    ir.name_nodes(graph)  # a flattened If's branch brings its own names


def _flatten_ifs(graph: gs.Graph, outer: dict[str, gs.Tensor]) -> None:
    """An If on what the body computes from the node's ranks and sizes (AffineGrid: 2-D or 3-D)
    -> the branch taken (cleanup keeps a model's If nodes as they are); ``outer``: the graph's
    tensors by name before the condition was folded."""
    if not any(n.op == "If" and isinstance(n.inputs[0], gs.Constant) for n in graph.nodes):
        return
    graph.fold_constants(error_ok=True, fold_shapes=False, flatten_subgraphs=True)
    _read_outer(graph.nodes, outer)
    graph.cleanup(remove_unused_graph_inputs=False)


def _sources(nodes: list[gs.Node], found: dict[str, gs.Tensor] | None = None) -> dict[str, gs.Tensor]:
    """The tensors that ``nodes`` (and their branches, where a folded value may be made) make or
    read as constants, by name."""
    found = {} if found is None else found
    for node in nodes:
        for t in (*node.inputs, *node.outputs):
            if isinstance(t, gs.Constant) or t.inputs:
                found.setdefault(t.name, t)
        for value in node.attrs.values():
            if isinstance(value, gs.Graph):
                _sources(value.nodes, found)
    return found


def _read_outer(nodes: list[gs.Node], outer: dict[str, gs.Tensor]) -> None:
    """A branch names the outer values it reads, and graphsurgeon's branch holds its own copies of
    them: a copy of one that folded to a constant has no producer (nor is it exported). Read the
    outer one, by name as ONNX does, in the branches of branches too."""
    for node in nodes:
        for i, t in enumerate(list(node.inputs)):
            found = outer.get(t.name) if isinstance(t, gs.Variable) and not t.inputs else None
            if found is not None and found is not t and (isinstance(found, gs.Constant) or found.inputs):
                node.inputs[i] = found
        for value in node.attrs.values():
            if isinstance(value, gs.Graph):
                _read_outer(value.nodes, outer)


def _same_type_casts_to_identities(graph: gs.Graph) -> None:
    """Cast to the type its input has already -> Identity (bodies cast to their stash type, which is
    the input's as often as not), so that the identities pass drops it."""
    for node in graph.nodes:
        if node.op != "Cast" or not node.inputs or node.inputs[0].dtype is None:
            continue
        to = onnx.helper.tensor_dtype_to_np_dtype(int(node.attrs.get("to", 0)) or onnx.TensorProto.FLOAT)
        if np.dtype(node.inputs[0].dtype) == to and "to" in node.attrs:
            node.op, node.attrs = "Identity", {}


def illegal(graph: gs.Graph, caps: Capabilities, later: list[Pass]) -> str | None:
    """Why a node of ``graph`` stays refused after ``later``'s legalisations ("op: reason"), or None."""
    from bridgec.core.ops.status import LOWERED, NATIVE, REMOVED
    from bridgec.passes.legality import plan

    def refused(p) -> str | None:
        if p.status in (NATIVE, REMOVED):
            return None
        if p.status == LOWERED and p.parts:
            return next((why for part in p.parts if (why := refused(part))), None)
        return None if p.status == LOWERED else f"{p.op}: {p.reason or p.status}"

    return next((why for p in plan(graph, caps, later) if (why := refused(p))), None)


def _splice(node: gs.Node, body: gs.Graph, graph: gs.Graph) -> list[gs.Node]:
    """Put ``body``'s nodes in ``node``'s place: its inputs read the node's input tensors, its outputs
    are the node's output tensors (names kept), everything else renamed under the node's name."""
    prefix = f"{node.name}/{RULE}/"
    by_name = {t.name: t for t in node.inputs if not ir.is_empty(t)}
    outputs = {t.name: t for t in node.outputs if t.name}
    created: list[gs.Node] = []
    for out in body.outputs:
        if not out.inputs:  # a body that passes an input through, or computes a constant
            source = out
            out = gs.Variable(f"{prefix}{out.name}", dtype=source.dtype, shape=source.shape)
            if isinstance(source, gs.Constant):
                body.nodes.append(gs.Node("Constant", attrs={"value": source}, outputs=[out]))
            else:
                body.nodes.append(gs.Node("Identity", inputs=[source], outputs=[out]))
            outputs[out.name] = outputs.pop(source.name)
    for tensor in body.tensors().values():
        if tensor.name not in by_name and tensor.name not in outputs:
            tensor.name = f"{prefix}{tensor.name}"
    node.inputs.clear()
    node.outputs.clear()
    for index, new in enumerate(list(body.nodes)):
        new.name = f"{prefix}{new.op}_{index}"
        for i, t in enumerate(list(new.inputs)):
            if t.name in by_name or t.name in outputs:  # the body reads an output too (present_key)
                new.inputs[i] = by_name[t.name] if t.name in by_name else outputs[t.name]
        for i, t in enumerate(list(new.outputs)):
            if t.name in outputs:
                old = outputs[t.name]
                old.dtype = old.dtype or t.dtype
                new.outputs[i] = old
        created.append(new)
    graph.nodes.extend(created)
    return created


@register
class LegalizeOnnxFunction(Pass):
    """A standard op the target refuses -> its ONNX function body (the op's own definition)."""

    id = "lower::onnx_function"
    plan_by_trial = True
    # The legalisations every pipeline runs after this one, which may take what a body leaves;
    # bridgec.passes sets it from the one list of them (_LEGALIZE).
    later: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def explain(cls) -> list[str]:
        return [f"{RULE}: {IDENTITY}"]

    def may_rewrite(self, graph: gs.Graph, capabilities: Capabilities) -> bool:
        opset = ir.default_opset(graph)
        return any(_schema(n, opset) and capabilities.unsupported_reason(n) for n in graph.nodes)

    def call(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        opset = ir.default_opset(graph)
        caps = ctx.capabilities
        hits, miss = 0, None
        removed: set[int] = set()
        later: list[Pass] | None = None
        for node in list(graph.nodes):
            because = caps.unsupported_reason(node) if _schema(node, opset) else None
            if because is None:
                continue
            later = [create(p) for p in self.later] if later is None else later
            if illegal(_scratch(node, graph), caps, later) is None:
                continue  # a named legalisation after this one makes it legal as it is
            body = expand(node, graph, caps)
            lacking = body if isinstance(body, str) else illegal(body, caps, later)
            if lacking is not None:
                miss = NearMiss(node.name, 0, f"{node.name}: {because}; its ONNX function: {lacking}")
                continue
            created = _splice(node, body, graph)
            ctx.applied(self.id, RULE, [node], node, created, because)
            removed.add(id(node))
            hits += 1
        ctx.tally(f"{self.id}/{RULE}", hits, miss)
        if hits:
            drop_nodes(graph, removed)
        return PassResult(graph, bool(hits))
