"""onnxruntime: how bridgec runs an ONNX graph (the source model, the graph after each pass) to
check what it computes.

Each takes ``feeds`` (input name -> float32 array) and returns output name -> array. The Core ML
runtimes belong to the backend (``BuiltModel.run_reference``, ``backends.coreml.native``), PyTorch
to the frontends (``frontends.run_pytorch``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.core.errors import ConversionError, out_of_memory


def run_onnxruntime(
    graph: gs.Graph, feeds: dict[str, np.ndarray], *, intermediates: bool = False
) -> dict[str, np.ndarray]:
    """Run an IR graph in onnxruntime (bridgec ops through their ONNX function definitions).

    With ``intermediates`` every typed tensor a node produces is an output too, as Polygraphy
    marks them, so a divergence can be traced to the first node that causes it.
    """
    model = ir.export_model(graph)
    return run_model(with_intermediates(model) if intermediates else model, feeds)


def with_intermediates(model: Any) -> Any:
    """``model`` (shape-inferred) with every typed tensor a node produces made a graph output too."""
    present = {o.name for o in model.graph.output}
    typed = {v.name: v for v in model.graph.value_info if v.type.tensor_type.elem_type}
    for node in model.graph.node:
        for name in node.output:
            if name and name not in present and name in typed:
                model.graph.output.append(typed[name])
                present.add(name)
    return model


# onnxruntime (1.32) builds a session in time that grows with the square of the graph, with every
# graph optimisation off too: 2k nodes 0.16 ms/node, 4k 0.24, 8k 0.36, 16k 0.53, so 100k nodes take
# minutes. Pieces of 1k nodes cost 0.15-0.2 ms/node whatever the graph's size (500 or 2k: more).
SPLIT_ABOVE = 3000
PIECE_NODES = 1000


def run_model(
    model: Any,
    feeds: dict[str, np.ndarray],
    *,
    split_above: int = SPLIT_ABOVE,
    piece_nodes: int = PIECE_NODES,
) -> dict[str, np.ndarray]:
    """Run an ONNX ``ModelProto`` in onnxruntime (CPU), every graph output by name.

    A graph of more than ``split_above`` nodes runs as consecutive pieces of about ``piece_nodes``
    nodes, each its own session fed the tensors it reads: the same kernels on the same values.
    """
    if len(model.graph.node) > split_above:
        plan = _plan_pieces(model, feeds, piece_nodes)
        if plan is not None:
            return _guarded(lambda: _run_pieces(model, feeds, plan))
    return _guarded(lambda: _run_session(model.SerializeToString(), feeds, None))


def _run_session(
    serialized: bytes, feeds: dict[str, np.ndarray], names: list[str] | None
) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    # FATAL only: onnxruntime prints a failing kernel's error to stderr itself, in colour, before
    # raising it; bridgec reports it in its own one line.
    options = ort.SessionOptions()
    options.log_severity_level = 4
    run_options = ort.RunOptions()
    run_options.log_severity_level = 4
    session = ort.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])
    if names is None:
        names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds, run_options), strict=True))


def _guarded(run: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    try:
        return run()
    except Exception as exc:  # noqa: BLE001 - onnxruntime's errors are long C++ messages
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        # onnxruntime names a nameless node Name:'', which reads like a sentence cut short
        first = first.replace(" node. Name:'' ", " node (unnamed). ")
        if out_of_memory(exc):
            raise MemoryError(first) from None  # this machine's limit, not the model's fault
        raise ConversionError(f"onnxruntime could not run the graph: {first}") from None


# Ops whose every run differs: a piece must not run them again for its own copy.
_RANDOM = {
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
}


# Ops that read a tensor as it is, in either layout, with nothing fused into it from before.
_FRESH = {"Conv", "ConvTranspose"}


@dataclass
class _Plan:
    """Which nodes each piece runs, and what each node reads (outer-scope names included).

    A node computed from initializers alone is no piece's own: every piece that reads it computes it
    again, so onnxruntime folds it into a constant there as in the whole session (a Conv weight
    behind an Identity, a Clip bound), where a fed value would take other kernels and rounding.
    """

    order: list[int]  # the other nodes, in graph order
    cuts: list[int]  # piece k runs order[cuts[k]:cuts[k + 1]]
    reads: list[list[str]]  # per node of the graph
    last_use: dict[str, int]  # a tensor's last reader in ``order`` (len(order): a graph output)
    constant: dict[str, int]  # a tensor made from initializers alone -> the node making it
    fed: set[str]  # graph inputs given in feeds (a fed input shadows its initializer)


def _plan_pieces(model: Any, feeds: dict[str, np.ndarray], piece_nodes: int) -> _Plan | None:
    """The pieces, or None where the whole session should run (it reports a broken graph or feed
    in its own words): nodes out of topological order, a tensor nothing defines, unknown or
    missing feeds, sparse initializers; or where nothing reads the feeds."""
    graph = model.graph
    inputs = {i.name for i in graph.input}
    initializers = {t.name for t in graph.initializer}
    if graph.sparse_initializer or not set(feeds) <= inputs or not inputs - initializers <= set(feeds):
        return None
    fed = set(feeds)
    defined = inputs | initializers
    static = initializers - fed
    order: list[int] = []
    reads: list[list[str]] = []
    constant: dict[str, int] = {}
    for index, node in enumerate(graph.node):
        names = [n for n in node.input if n]
        nested = False
        for attribute in node.attribute:
            for subgraph in _subgraphs(attribute):
                names.extend(sorted(_outer_reads(subgraph) & defined))
                nested = True
        if not set(names) <= defined:
            return None
        reads.append(names)
        made = [n for n in node.output if n]
        defined.update(made)
        if not nested and node.op_type not in _RANDOM and all(n in static or n in constant for n in names):
            constant.update(dict.fromkeys(made, index))
        else:
            order.append(index)
    outputs = {o.name for o in graph.output}
    if not outputs <= defined or not order:
        return None
    last_use: dict[str, int] = {}
    readers: dict[str, list[str]] = {}
    for position, index in enumerate(order):
        for name in set(reads[index]):
            if name not in constant:
                last_use[name] = position
                readers.setdefault(name, []).append(graph.node[index].op_type)
    for name in outputs:
        last_use[name] = len(order)
    risk = {
        name: (any(op not in _FRESH for op in ops), len(ops) == 1 and name not in outputs)
        for name, ops in readers.items()
    }
    cuts = _cuts(model, order, last_use, risk, piece_nodes)
    return _Plan(order, cuts, reads, last_use, constant, fed)


def _cuts(
    model: Any,
    order: list[int],
    last_use: dict[str, int],
    risk: dict[str, tuple[bool, bool]],
    piece_nodes: int,
) -> list[int]:
    """Cut points about ``piece_nodes`` apart, each where the tensors crossing it least change what
    onnxruntime makes of the graph: read by other ops than a Conv (the whole session keeps a tensor
    in its blocked NCHWc layout between a Conv and an Add or a pooling, and adds a residual inside
    the Conv, each with other rounding), then with one reader (fused with it: Conv+BatchNorm,
    MatMul+Add), then fewest."""
    slack = max(1, piece_nodes // 4)
    live = [0, 0, 0]
    score: list[tuple[int, ...]] = [(0, 0, 0)] * (len(order) + 1)
    ending: dict[int, list[str]] = {}
    for position, index in enumerate(order):
        for name in ending.pop(position - 1, []):  # read last by the node before: not across this cut
            live = [live[0] - risk[name][0], live[1] - risk[name][1], live[2] - 1]
        score[position] = tuple(live)
        for name in model.graph.node[index].output:
            if name and last_use.get(name, -1) > position:
                fresh, single = risk.get(name, (False, False))
                live = [live[0] + fresh, live[1] + single, live[2] + 1]
                ending.setdefault(last_use[name], []).append(name)
    cuts, start = [0], 0
    while len(order) - start > piece_nodes + slack:
        target = start + piece_nodes
        window = range(max(start + 1, target - slack), target + slack + 1)
        cut = min(window, key=lambda k: (score[k], abs(k - target)))
        cuts.append(cut)
        start = cut
    cuts.append(len(order))
    return cuts


def _subgraphs(attribute: Any) -> Iterator[Any]:
    yield from ([attribute.g] if attribute.HasField("g") else [])
    yield from attribute.graphs


def _outer_reads(graph: Any) -> set[str]:
    """The names a subgraph (If, Loop, Scan body) reads from the scopes around it."""
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    defined |= {t.values.name for t in graph.sparse_initializer}
    read: set[str] = set()
    for node in graph.node:
        read.update(n for n in node.input if n)
        for attribute in node.attribute:
            for subgraph in _subgraphs(attribute):
                read |= _outer_reads(subgraph)
        defined.update(node.output)
    return read - defined


def _run_pieces(model: Any, feeds: dict[str, np.ndarray], plan: _Plan) -> dict[str, np.ndarray]:
    """Each piece in order, a value dropped after the last piece reading it; the graph's outputs."""
    graph = model.graph
    known = {v.name: v for v in graph.value_info}
    known.update({v.name: v for v in graph.output})
    known.update({v.name: v for v in graph.input})
    initializers = {t.name: t for t in graph.initializer if t.name not in plan.fed}
    values = dict(feeds)
    for start, end in zip(plan.cuts, plan.cuts[1:], strict=False):
        piece, inputs, outputs = _piece(model, plan, (start, end), known, initializers, values)
        ran = _run_session(piece.SerializeToString(), {n: values[n] for n in inputs}, outputs)
        values.update(ran)
        for name in inputs + outputs:
            if plan.last_use.get(name, -1) < end:
                values.pop(name, None)
    from onnx import numpy_helper

    result: dict[str, np.ndarray] = {}
    for output in graph.output:
        if output.name in values:
            value = values[output.name]
            # onnxruntime hands back a graph input as a copy of its feed
            result[output.name] = np.array(value) if output.name in feeds else value
        else:
            result[output.name] = numpy_helper.to_array(initializers[output.name])
    return result


def _piece(
    model: Any,
    plan: _Plan,
    span: tuple[int, int],
    known: dict[str, Any],
    initializers: dict[str, Any],
    values: dict[str, Any],
) -> tuple[Any, list[str], list[str]]:
    """The nodes of ``span`` as a model of their own: its inputs (the graph's inputs and earlier
    pieces' tensors it reads), the constant nodes, initializers and functions they use, and as
    outputs what later pieces or the graph's outputs read (the last piece: constant ones too)."""
    import onnx

    start, end = span
    own = plan.order[start:end]
    last = end == len(plan.order)
    wanted = [n for index in own for n in plan.reads[index] if n in plan.constant]
    if last:
        wanted += [o.name for o in model.graph.output if o.name in plan.constant]
    folded: set[int] = set()
    while wanted:
        index = plan.constant[wanted.pop()]
        if index not in folded:
            folded.add(index)
            wanted.extend(n for n in plan.reads[index] if n in plan.constant)
    indices = sorted(folded.union(own))
    nodes = [model.graph.node[i] for i in indices]
    made = {n for node in nodes for n in node.output if n}
    read = dict.fromkeys(n for i in indices for n in plan.reads[i] if n not in made)
    inputs = [n for n in read if n not in initializers]
    outputs = [
        n
        for node in nodes
        for n in node.output
        if n and (plan.last_use.get(n, -1) >= end if n not in plan.constant else last and n in plan.last_use)
    ]
    if not outputs:  # nothing reads it, yet the whole session runs it (and fails where it fails)
        outputs = [n for n in nodes[-1].output if n]
    piece = onnx.ModelProto()
    piece.ir_version = model.ir_version
    piece.opset_import.extend(model.opset_import)
    piece.functions.extend(_functions_used(model, nodes))
    graph = piece.graph
    graph.name = model.graph.name
    graph.node.extend(nodes)
    graph.initializer.extend(initializers[n] for n in read if n in initializers)
    graph.input.extend(_value_info(known, n, values[n]) for n in inputs)
    graph.output.extend(_value_info(known, n, None) for n in outputs)
    graph.value_info.extend(known[n] for n in made if n in known and n not in outputs)
    return piece, inputs, outputs


def _value_info(known: dict[str, Any], name: str, value: Any) -> Any:
    """The graph's declared type of ``name``; else an input's from its value, an output's none
    (onnxruntime infers it, as in the whole session)."""
    import onnx

    info = known.get(name)
    if info is not None and info.type.WhichOneof("value") and info.type.tensor_type.elem_type != 0:
        return info
    if info is not None and info.type.WhichOneof("value") not in (None, "tensor_type"):
        return info  # a sequence, map or optional
    if isinstance(value, np.ndarray):
        dtype = onnx.helper.np_dtype_to_tensor_dtype(value.dtype)
        return onnx.helper.make_tensor_value_info(name, dtype, value.shape)
    info = onnx.ValueInfoProto()
    info.name = name
    return info


def _functions_used(model: Any, nodes: Any) -> list[Any]:
    """The model-local functions ``nodes`` call, and the ones those call."""
    functions = {(f.domain, f.name, f.overload): f for f in model.functions}
    if not functions:
        return []
    used: dict[tuple[str, str, str], Any] = {}
    pending = list(nodes)
    while pending:
        node = pending.pop()
        key = (node.domain, node.op_type, node.overload)
        if key in functions and key not in used:
            used[key] = functions[key]
            pending.extend(functions[key].node)
        for attribute in node.attribute:
            for subgraph in _subgraphs(attribute):
                pending.extend(subgraph.node)
    return [f for key, f in functions.items() if key in used]


__all__ = ["run_model", "run_onnxruntime", "with_intermediates"]
