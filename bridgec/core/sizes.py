"""Tensor sizes a graph would compute, bounded before anything computes them.

onnx's shape inference sizes most tensors, and ``frontends.onnx_file`` refuses any it sizes past the
limit (``MAX_ELEMENTS``, 2^30 elements: ``too_big``, which the frontends and the input files use too).
What it cannot size is the danger: a ``ConstantOfShape``, ``Expand``, ``Tile``, ``Range`` or ``Pad``
whose size input is computed from constants by an op shape inference does not evaluate (``Abs`` of a
shape, a ``Max``...). onnxruntime, run on the source model by the numbers check, and
onnx-graphsurgeon's constant folding would both allocate such a tensor whole, whatever it claims.

``Walk`` sizes those tensors itself, in graph order: it computes the small constant tensors that feed
them (shape vectors, repeats, pads: at most ``VALUE_LIMIT`` elements, with onnx's reference evaluator)
and asks shape inference about the one node with those values in place. A size past the limit is
refused naming the node; a constant node whose size stays unknown is not folded.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.core.errors import UsageError

# The most elements one tensor may have: 2^30 float32 are 4 GiB, beyond anything a Core ML model on a
# phone runs, and a bigger claim (a 2^40-element --input, a damaged dimension) fails here before
# anything is allocated for it.
MAX_ELEMENTS = 1 << 30
# Elements of a constant tensor worth computing to size others: shape vectors, scales, pads, repeats.
VALUE_LIMIT = 1 << 16
# A constant becomes a weight of the model: past what a .mlmodel holds, it can never be converted.
MAX_FOLD_BYTES = 2 << 30
# Ops whose value is not a function of their inputs: never evaluated here.
_RANDOM = {
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Bernoulli",
    "Multinomial",
}


def elements(shape) -> int:
    """The element count of ``shape`` as a Python int (no overflow, whatever the dims claim)."""
    count = 1
    for d in shape:
        count *= int(d)
    return count


def too_big(shape) -> str | None:
    """Why a tensor of ``shape`` is refused, or None."""
    count = elements(shape)
    if count > MAX_ELEMENTS:
        return f"{count:,} elements, more than bridgec's limit of {MAX_ELEMENTS:,} (2^30) per tensor"
    return None


def _static(shape) -> bool:
    return shape is not None and all(isinstance(d, (int, np.integer)) and d >= 0 for d in shape)


def _has_subgraph(node: gs.Node) -> bool:
    return any(
        isinstance(v, gs.Graph) or (isinstance(v, list) and any(isinstance(g, gs.Graph) for g in v))
        for v in node.attrs.values()
    )


def _in_order(graph: gs.Graph) -> list[gs.Node]:
    """The nodes with every producer before its consumers (passes append the nodes they make)."""
    nodes = list(graph.nodes)
    index = {id(n): i for i, n in enumerate(nodes)}
    waiting = [0] * len(nodes)
    consumers: list[list[int]] = [[] for _ in nodes]
    for i, node in enumerate(nodes):
        producers = {index[id(p)] for t in node.inputs for p in t.inputs if id(p) in index}
        waiting[i] = len(producers)
        for p in producers:
            consumers[p].append(i)
    ready = deque(i for i, w in enumerate(waiting) if w == 0)
    order = []
    while ready:
        i = ready.popleft()
        order.append(nodes[i])
        for c in consumers[i]:
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
    return order + [n for i, n in enumerate(nodes) if waiting[i] > 0]  # a cycle: left as it is


def _onnx_type(dtype) -> int | None:
    try:
        return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    except Exception:  # noqa: BLE001 - an unknown or missing dtype
        return None


class Walk:
    """One pass over a graph in order; ``check`` raises for a tensor past the limit and returns the
    names of constant nodes whose size stays unknown (not to be folded)."""

    def __init__(self, graph: gs.Graph, where: str = "", constant_only: bool = False) -> None:
        self.graph = graph
        self.where = where  # message prefix, e.g. "model.onnx: "
        self.constant_only = constant_only  # only the part constant folding would compute
        self.opset = ir.default_opset(graph)
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.constant: set[str] = set()  # tensors computed from constants alone
        self.values: dict[str, np.ndarray | None] = {}  # small constant tensors, computed on demand
        self.found: set[str] = set()  # shapes this walk found that shape inference had not

    def check(self) -> set[str]:
        unbounded: set[str] = set()
        for name, tensor in self.graph.tensors().items():
            if _static(tensor.shape):
                self.shapes[name] = tuple(int(d) for d in tensor.shape)
            if isinstance(tensor, gs.Constant):
                self.constant.add(name)
        for node in _in_order(self.graph):
            inputs = [t for t in node.inputs if not ir.is_empty(t)]
            outputs = [t for t in node.outputs if not ir.is_empty(t)]
            nested = _has_subgraph(node)
            constant = not nested and all(t.name in self.constant for t in inputs)
            if node.op in ("Shape", "Size") and inputs and inputs[0].name in self.shapes:
                constant = True  # graphsurgeon folds the shape of a tensor of known shape
            if constant:
                self.constant.update(t.name for t in outputs)
            missing = [t for t in outputs if t.name not in self.shapes]
            if (
                missing
                and not nested
                and (constant or not self.constant_only)
                and self._worth_inferring(inputs)
            ):
                for tensor, shape in zip(outputs, self._infer(node, inputs, outputs), strict=True):
                    if shape is not None and tensor.name not in self.shapes:
                        self.shapes[tensor.name] = shape
                        self.found.add(tensor.name)
            for tensor in outputs:
                shape = self.shapes.get(tensor.name)
                why = too_big(shape) if shape is not None else None
                if why:
                    raise UsageError(
                        f"{self.where}node {node.name!r} ({node.op}) makes {tensor.name!r} of shape "
                        f"{list(shape)}: {why}"
                    )
            if constant and self.constant_only:
                self._check_constant_bytes(node, outputs)
            if constant and (nested or any(t.name not in self.shapes for t in outputs)):
                unbounded.add(node.name)
        return unbounded

    def _check_constant_bytes(self, node: gs.Node, outputs: list[gs.Tensor]) -> None:
        """A tensor computed from constants alone becomes a weight of the model, folded here or by
        coremltools: past what a Core ML model holds, it is refused before either computes it."""
        for tensor in outputs:
            shape = self.shapes.get(tensor.name)
            if shape is None:
                continue
            itemsize = np.dtype(tensor.dtype).itemsize if tensor.dtype is not None else 1
            size = elements(shape) * itemsize
            if size > MAX_FOLD_BYTES:
                raise UsageError(
                    f"{self.where}node {node.name!r} ({node.op}) computes {tensor.name!r} of shape {list(shape)} "
                    f"({size:,} bytes) from constants alone, more than the 2 GiB of weights a Core ML model "
                    "holds"
                )

    def _worth_inferring(self, inputs: list[gs.Tensor]) -> bool:
        """Only where this walk knows more than whole-graph inference did: a constant's value, or a
        shape it found itself."""
        return any(t.name in self.found or self.value(t) is not None for t in inputs)

    # --- values of small constant tensors --------------------------------------------------------

    def value(self, tensor: gs.Tensor) -> np.ndarray | None:
        """The value of a constant tensor of at most VALUE_LIMIT elements, or None."""
        if tensor.name in self.values:
            return self.values[tensor.name]
        stack = [tensor]
        while stack:  # producers first, without recursion (shape arithmetic chains can be long)
            top = stack[-1]
            if top.name in self.values:
                stack.pop()
                continue
            pending = self._pending(top)
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            self._compute(top)
        return self.values[tensor.name]

    def _small_constant(self, tensor: gs.Tensor) -> bool:
        shape = self.shapes.get(tensor.name)
        return tensor.name in self.constant and shape is not None and elements(shape) <= VALUE_LIMIT

    def _pending(self, tensor: gs.Tensor) -> list[gs.Tensor]:
        """Inputs of ``tensor``'s producer whose values are still to be computed."""
        if isinstance(tensor, gs.Constant) or not self._small_constant(tensor) or len(tensor.inputs) != 1:
            return []
        producer = tensor.inputs[0]
        if producer.op in ("Constant", "Shape", "Size") or producer.op in _RANDOM:
            return []
        return [t for t in producer.inputs if not ir.is_empty(t) and t.name not in self.values]

    def _compute(self, tensor: gs.Tensor) -> None:
        self.values[tensor.name] = None
        if not self._small_constant(tensor) and not isinstance(tensor, gs.Constant):
            return
        if isinstance(tensor, gs.Constant):
            if elements(tensor.shape) <= VALUE_LIMIT:
                self.values[tensor.name] = np.asarray(tensor.values)
            return
        if len(tensor.inputs) != 1:
            return
        producer = tensor.inputs[0]
        if producer.op == "Constant":
            self.values[tensor.name] = ir.constant_value(tensor)
            return
        if producer.op in ("Shape", "Size"):
            shape = self.shapes.get(producer.inputs[0].name)
            if shape is not None:
                if producer.op == "Size":
                    self.values[tensor.name] = np.asarray(elements(shape), dtype=np.int64)
                else:
                    start, end = producer.attrs.get("start", 0), producer.attrs.get("end", len(shape))
                    self.values[tensor.name] = np.asarray(shape[start:end], dtype=np.int64)
            return
        inputs = [t for t in producer.inputs if not ir.is_empty(t)]
        if producer.op in _RANDOM or any(self.values.get(t.name) is None for t in inputs):
            return
        if (producer.domain or "") not in ("", "ai.onnx"):
            return
        results = self._evaluate(producer, inputs)
        for out, result in zip(producer.outputs, results or [], strict=False):
            if result is not None and self._small_constant(out):
                self.values[out.name] = np.asarray(result)

    # --- one node through onnx --------------------------------------------------------------------

    def _model(self, node: gs.Node, inputs: list[gs.Tensor], outputs: list[gs.Tensor]):
        """``node`` alone as a model: the inputs with known values as initializers, the others as
        graph inputs of their known type and shape; None when an input's type is unknown."""
        from onnx_graphsurgeon.exporters.onnx_exporter import OnnxExporter

        initializers, graph_inputs = [], []
        for tensor in {t.name: t for t in inputs}.values():
            value = self.value(tensor)
            if value is not None:
                initializers.append(onnx.numpy_helper.from_array(np.asarray(value), tensor.name))
                continue
            elem = _onnx_type(tensor.dtype)
            if elem is None:
                return None
            shape = self.shapes.get(tensor.name)
            graph_inputs.append(
                onnx.helper.make_tensor_value_info(tensor.name, elem, list(shape) if shape else None)
            )
        graph = onnx.helper.make_graph(
            [OnnxExporter.export_node(node)],
            "size",
            graph_inputs,
            [onnx.helper.make_empty_tensor_value_info(t.name) for t in outputs],
            initializers,
        )
        return onnx.helper.make_model(
            graph, opset_imports=[onnx.helper.make_opsetid("", self.opset)], ir_version=onnx.IR_VERSION
        )

    def _infer(self, node: gs.Node, inputs: list[gs.Tensor], outputs: list[gs.Tensor]) -> list:
        """The static output shapes of ``node`` with the constant inputs' values in place (None where
        shape inference cannot tell)."""
        unknown = [None] * len(outputs)
        if (node.domain or "") not in ("", "ai.onnx"):
            return unknown
        try:
            model = self._model(node, inputs, outputs)
            if model is None:
                return unknown
            inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
        except Exception:  # noqa: BLE001 - whatever onnx cannot infer stays unknown
            return unknown
        found = {}
        for value in inferred.graph.output:
            kind = value.type.tensor_type
            if kind.HasField("shape"):
                dims = [d.dim_value if d.HasField("dim_value") else None for d in kind.shape.dim]
                if all(d is not None and d >= 0 for d in dims):
                    found[value.name] = tuple(dims)
        return [found.get(t.name) for t in outputs]

    def _evaluate(self, node: gs.Node, inputs: list[gs.Tensor]) -> list | None:
        """``node``'s outputs on the inputs' values, with onnx's reference evaluator (numpy; the
        outputs are small: their shapes were checked first)."""
        from onnx.reference import ReferenceEvaluator

        outputs = [t for t in node.outputs if not ir.is_empty(t)]
        try:
            model = self._model(node, inputs, outputs)
            if model is None:
                return None
            return list(ReferenceEvaluator(model).run(None, {}))
        except Exception:  # noqa: BLE001 - an op the evaluator lacks: its value stays unknown
            return None


def check_model_sizes(graph: gs.Graph, where: str) -> None:
    """Refuse (UsageError) a tensor past the limit that only constant evaluation can size. Nothing
    to do when shape inference sized every tensor (``onnx_file`` has checked those)."""
    if all(_static(t.shape) for t in graph.tensors().values() if not ir.is_empty(t)):
        return
    Walk(graph, where).check()


def fold_exclusions(graph: gs.Graph):
    """For graphsurgeon's ``fold_constants(should_exclude_node=...)``: a node whose outputs cannot
    be sized, or which holds a subgraph (a Loop runs as many times as its constant trip count says),
    is not folded, nor what it feeds. A constant past the element limit or 2 GiB is refused."""
    unbounded = Walk(graph, constant_only=True).check()
    return lambda node: node.name in unbounded or _has_subgraph(node)
