"""Cleanup passes: remove what computes nothing, fold what can be computed now."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.passes._infra import Pass, PassContext, PassResult, Sequential, register
from bridgec.passes._pattern import attribute_value


@register
class DeadNodes(Pass):
    """Remove nodes and tensors that no graph output depends on."""

    id = "cleanup::dead_nodes"

    def call(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        before = len(graph.nodes)
        graph.cleanup(remove_unused_graph_inputs=False)
        return PassResult(graph, len(graph.nodes) != before)

    def removes(self, graph: gs.Graph) -> set[int]:
        live: set[int] = set()
        pending = [t for t in graph.outputs]
        while pending:
            tensor = pending.pop()
            for producer in tensor.inputs:
                if id(producer) not in live:
                    live.add(id(producer))
                    pending.extend(producer.inputs)
        return {id(node) for node in graph.nodes if id(node) not in live}


@register
class RemoveIdentities(Pass):
    """Bypass Identity (and inference-mode Dropout) nodes: y = Identity(x) -> uses of y read x."""

    id = "cleanup::identities"

    def call(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        outputs = set(id(t) for t in graph.outputs)
        modified = False
        for node in list(graph.nodes):
            if not self._bypassable(node, graph, outputs):
                continue
            src, dst = node.inputs[0], node.outputs[0]
            if id(dst) in outputs:
                producer = src.inputs[0]
                for consumer in list(src.outputs):
                    if consumer is not node:
                        consumer.inputs[consumer.inputs.index(src)] = dst
                node.outputs.clear()
                producer.outputs[producer.outputs.index(src)] = dst
            else:
                for consumer in list(dst.outputs):
                    for i, t in enumerate(consumer.inputs):
                        if t is dst:
                            consumer.inputs[i] = src
                node.outputs.clear()
            node.inputs.clear()
            modified = True
        if modified:
            graph.cleanup(remove_unused_graph_inputs=False)
        return PassResult(graph, modified)

    def removes(self, graph: gs.Graph) -> set[int]:
        outputs = set(id(t) for t in graph.outputs)
        return {id(node) for node in graph.nodes if self._bypassable(node, graph, outputs)}

    @staticmethod
    def _bypassable(node: gs.Node, graph: gs.Graph, outputs: set[int]) -> bool:
        if node.op not in ("Identity", "Dropout") or (node.domain or "") not in ("", "ai.onnx"):
            return False
        if node.op == "Dropout" and len(node.outputs) > 1 and node.outputs[1].outputs:
            return False  # someone reads the mask
        src, dst = node.inputs[0], node.outputs[0]
        # A graph output keeps its name: the producer of x writes y instead, unless x is itself a
        # graph input or output (then the Identity is genuinely needed).
        return id(dst) not in outputs or not (
            id(src) in outputs or src in graph.inputs or isinstance(src, gs.Constant) or not src.inputs
        )


@register
class FoldConstants(Pass):
    """Evaluate subgraphs whose inputs are all constants (shape arithmetic, Constant nodes)."""

    id = "cleanup::fold_constants"

    def call(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        before = len(graph.nodes)
        constant_nodes_to_tensors(graph)
        # graphsurgeon evaluates the constant part with onnxruntime; ops it cannot run stay as they are.
        import onnxruntime

        onnxruntime.set_default_logger_severity(3)  # its refusals are warnings on stderr otherwise
        # It evaluates the whole constant part at once, allocating each tensor whatever its size:
        # what cannot be sized first (or is past the limit) is left for the model to compute.
        from bridgec.core.sizes import fold_exclusions

        # A fold can make a shape computable that the next fold needs (Pad amounts computed from
        # x.shape, one stride-2 block after another in TF "SAME" padding): infer again and fold
        # again while that happens. A graph without shape-dependent nodes infers nothing.
        inferred = False
        for _ in range(_MAX_FOLD_ROUNDS):
            count = len(graph.nodes)
            fold_shapes(graph)
            graph.fold_constants(
                error_ok=True,
                fold_shapes=True,
                flatten_subgraphs=False,
                should_exclude_node=fold_exclusions(graph),
            )
            graph.cleanup(remove_unused_graph_inputs=False)
            if len(graph.nodes) == count or not _unsized_shape_reads(graph):
                break
            if not ir.refresh_shapes(graph):
                break
            inferred = True
        if len(graph.nodes) != before and (inferred or _unsized_values(graph)):
            # the shapes the folds made known, for the passes after it: a Slice whose ends were
            # computed from x.shape (shufflenet's chunk) has an unknown output until they are folded
            ir.refresh_shapes(graph)
        return PassResult(graph, len(graph.nodes) != before)

    def removes(self, graph: gs.Graph) -> set[int]:
        # What folds: nodes of constants (or of static shapes: fold_shapes), transitively; a node
        # fold_exclusions keeps, or a custom layer onnxruntime cannot run, stays with what it feeds.
        from bridgec.core.sizes import fold_exclusions

        excluded = fold_exclusions(graph)
        known: set[int] = set()
        folded: set[int] = set()
        changed = True
        while changed:  # the nodes are in producer order as a rule: one sweep, and one to confirm
            changed = False
            for node in graph.nodes:
                if id(node) in folded or ir.op_key(node)[0] == ir.CUSTOM_DOMAIN or excluded(node):
                    continue
                inputs = [t for t in node.inputs if not ir.is_empty(t)]
                shape = inputs[0].shape if node.op in ("Shape", "Size") and inputs else None
                static = shape is not None and all(isinstance(d, int) for d in shape)
                if static or all(isinstance(t, gs.Constant) or id(t) in known for t in inputs):
                    folded.add(id(node))
                    known.update(id(t) for t in node.outputs)
                    changed = True
        return folded


_MAX_FOLD_ROUNDS = 64


def _unsized_values(graph: gs.Graph) -> bool:
    """Whether some node gives a tensor whose shape is not known."""
    return any(not ir.is_empty(t) and not ir.is_static(t.shape) for node in graph.nodes for t in node.outputs)


def _unsized_shape_reads(graph: gs.Graph) -> bool:
    """Whether some Shape or Size node reads a tensor whose shape is not known yet."""
    return any(
        node.op in ("Shape", "Size") and node.inputs and not ir.is_static(node.inputs[0].shape)
        for node in graph.nodes
    )


def fold_shapes(graph: gs.Graph) -> None:
    """Shape nodes of static tensors -> their values, ``start`` and ``end`` honoured.

    graphsurgeon's shape folding returns the whole shape whatever ``start`` and ``end`` say
    (``Shape(x, start=1, end=3)`` of a (2, 3, 4, 5) tensor folded to [2, 3, 4, 5], not [3, 4]), so
    these are folded here first; ONNX function bodies read sizes that way."""
    for node in graph.nodes:
        shape = node.inputs[0].shape if node.op == "Shape" and node.inputs else None
        if not ir.is_static(shape):
            continue
        rank, opset = len(shape), ir.default_opset(graph)
        start, end = attribute_value(node, "start", opset) or 0, attribute_value(node, "end", opset)
        start = max(0, min(rank, start + rank if start < 0 else start))
        end = rank if end is None else max(0, min(rank, end + rank if end < 0 else end))
        out = node.outputs[0]
        value = gs.Constant(out.name, np.asarray(shape[start:end], dtype=np.int64))
        for consumer in list(out.outputs):
            for i, t in enumerate(list(consumer.inputs)):
                if t is out:
                    consumer.inputs[i] = value
        graph.outputs = [value if t is out else t for t in graph.outputs]
        node.inputs.clear()
        node.outputs.clear()
    graph.cleanup(remove_unused_graph_inputs=False)


def constant_nodes_to_tensors(graph: gs.Graph) -> None:
    """Replace Constant nodes by constant tensors ourselves: graphsurgeon turns value_float into float64."""
    outputs = {id(t) for t in graph.outputs}
    for node in graph.nodes:
        if node.op != "Constant" or id(node.outputs[0]) in outputs:
            continue
        value = ir.constant_value(node.outputs[0])
        if value is None:
            continue
        out = node.outputs[0]
        tensor = gs.Constant(out.name, np.asarray(value))
        for consumer in list(out.outputs):
            for i, t in enumerate(consumer.inputs):
                if t is out:
                    consumer.inputs[i] = tensor
        node.outputs.clear()


def cleanup() -> Sequential:
    """The standard cleanup sequence, repeated until nothing changes."""
    return Sequential(
        [FoldConstants(), RemoveIdentities(), DeadNodes()], until_stable=True, max_steps=4, name="cleanup"
    )
