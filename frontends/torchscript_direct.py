"""A TorchScript module written as ONNX op by op: the ``direct`` exporter for ``.pt`` files.

A traced CNN's graph is a list of aten calls on the module's weights (``aten::_convolution``,
``batch_norm``, ``relu_``, ``linear``, ...). TorchScript's ONNX exporter gets from there to ONNX
through its own passes, its symbolics, a Conv/BatchNorm fusion and a serialised copy of every weight
(0.5-0.8 s of resnet50's conversion). Here the graph is lowered to take the weights as inputs
(``torch._C._jit_pass_lower_graph``), every call's result is sized by running the graph once, op by
op, on the example (a second forward pass: the lowered graph records no sizes; an in-place call that
would write into a weight, an input or a tensor read elsewhere is refused before it runs), and the
calls are handed to the same writer as a ``.pt2``'s
(``frontends/pt2_direct.py``) as nodes of the shape FX gives. A graph with anything that writer does
not take (an op outside its table, size arithmetic such as ``aten::size``, a dict output, an
in-place write another reader sees) is refused with the reason, and TorchScript's own exporter runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from bridgec.core.words import plural
from bridgec.frontends import pt2_direct
from bridgec.frontends.pt2_direct import Refused
from bridgec.frontends.pytorch_load import first_line


@dataclass(eq=False)
class _Node:
    """One TorchScript value's producer in the shape of an FX node (what the writer reads)."""

    name: str
    op: str  # "placeholder" or "call_function"
    target: Any = None  # the aten OpOverload
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)  # "val": a meta tensor of the value's shape and dtype
    users: list = field(default_factory=list)


def _overload(node: Any) -> Any:
    """The aten OpOverload a TorchScript node calls."""
    import torch

    kind = node.kind()
    if not kind.startswith("aten::"):
        raise Refused(f"it calls {kind}")
    try:
        schema = torch._C.parse_schema(node.schema())
    except RuntimeError:
        raise Refused(f"it calls {kind} without a schema") from None
    packet = getattr(torch.ops.aten, schema.name.removeprefix("aten::"), None)
    overload = getattr(packet, schema.overload_name or "default", None) if packet is not None else None
    if overload is None:
        raise Refused(f"it calls {kind}, which torch.ops does not have")
    return overload


_CALLS = ("prim::CallMethod", "prim::CallFunction")


def _inlined(module: Any) -> Any:
    """A copy of ``module``'s forward graph with every submodule's call inlined. One inline pass can
    leave calls: once a forward ran unoptimised (``torch.jit.optimized_execution(False)``, the
    reference run), a callee's cached graph still holds its own callees' calls, so inline again."""
    import torch

    graph = module.forward.graph.copy()
    for _ in range(64):  # one round per level of module nesting
        torch._C._jit_pass_inline(graph)
        if not any(node.kind() in _CALLS for node in graph.nodes()):
            return graph
    raise Refused("its submodules' calls did not inline")


def _values(value: Any, real: dict[int, Any]) -> Any:
    """``value`` with each node replaced by the tensor it computed in the sizing run."""
    if isinstance(value, _Node):
        return real[id(value)]
    if isinstance(value, (list, tuple)):
        return type(value)(_values(v, real) for v in value)
    return value


def _write_refused(ts: Any) -> str | None:
    """Why the in-place call ``ts`` must not run even once, or None: the sizing run would write into
    the module's weights, the caller's input or a tensor someone else reads (``pt2_direct``'s rule,
    checked before the call rather than after the walk)."""
    kind = ts.kind()
    if not kind.endswith("_") or kind == "aten::dropout_":
        return None
    source = next(iter(ts.inputs()), None)
    producer = source.node().kind() if source is not None else ""
    if (
        not producer.startswith("aten::")
        or producer.removeprefix("aten::") in pt2_direct.ALIASING
        or len(source.uses()) != 1
    ):
        return f"{kind} writes into a tensor read elsewhere"
    return None


def nodes(module: Any, args: tuple) -> tuple[list[_Node], dict[str, tuple[str, Any]], list[_Node], list]:
    """The writer's view of ``module`` called with ``args``: its nodes in order, its weights (node
    name -> (name, tensor)), the nodes of its inputs, and what it returns (nodes, or a refusal)."""
    import torch

    graph, params = torch._C._jit_pass_lower_graph(_inlined(module), module._c)
    inputs = list(graph.inputs())
    # the weights by their state_dict names (the lowered graph numbers them)
    known = {
        (t.data_ptr(), tuple(t.shape)): name
        for name, t in (*module.named_parameters(), *module.named_buffers())
    }
    if len(inputs) != len(args) + len(params):
        raise Refused(
            f"its graph takes {plural(inputs, 'input')} for {plural(args, 'argument')} and "
            f"{plural(params, 'weight')}"
        )
    by_value: dict[Any, Any] = {}  # TorchScript value (its unique id) -> _Node or a Python constant
    order: list[_Node] = []
    taken: set[str] = set()

    def named(value: Any, fallback: str) -> str:
        name = value.debugName().split(".")[0] if not value.debugName()[0].isdigit() else fallback
        wanted, n = name, 1
        while name in taken:
            name, n = f"{wanted}_{n}", n + 1
        taken.add(name)
        return name

    weights: dict[str, tuple[str, Any]] = {}
    placeholders: list[_Node] = []
    # Every call's result is sized by running it: the lowered graph carries no sizes, and meta
    # tensors cost more than the run (torch's Python meta kernels: 11 ms per batch_norm)
    real: dict[int, Any] = {}
    for i, (value, tensor) in enumerate(zip(inputs, (*args, *params), strict=True)):
        node = _Node(named(value, f"input_{i}"), "placeholder")
        node.meta["val"] = torch.empty(tensor.shape, dtype=tensor.dtype, device="meta")
        if i >= len(args):
            weights[node.name] = (known.get((tensor.data_ptr(), tuple(tensor.shape)), node.name), tensor)
        else:
            placeholders.append(node)
        by_value[value.unique()] = node
        real[id(node)] = tensor
        order.append(node)
    for ts in graph.nodes():
        kind = ts.kind()
        outputs = list(ts.outputs())
        if kind == "prim::Constant":
            by_value[outputs[0].unique()] = outputs[0].toIValue()
            continue
        if kind == "prim::ListConstruct":
            by_value[outputs[0].unique()] = [by_value[v.unique()] for v in ts.inputs()]
            continue
        if kind == "prim::TupleConstruct":
            by_value[outputs[0].unique()] = tuple(by_value[v.unique()] for v in ts.inputs())
            continue
        if len(outputs) != 1:
            raise Refused(f"it calls {kind}, which gives {plural(outputs, 'value')}")
        target = _overload(ts)
        if str(target) not in pt2_direct.translations():
            raise Refused(f"it calls {kind}")
        why = _write_refused(ts)
        if why:
            raise Refused(why)
        given = [by_value[v.unique()] for v in ts.inputs()]
        # TorchScript passes every argument by position; the op takes keyword-only ones by name
        schema = target._schema.arguments
        arguments = tuple(v for v, a in zip(given, schema, strict=False) if not a.kwarg_only)
        keywords = {a.name: v for v, a in zip(given, schema, strict=False) if a.kwarg_only}
        node = _Node(
            named(outputs[0], f"v{outputs[0].unique()}"), "call_function", target, arguments, keywords
        )
        try:
            with torch.no_grad():
                value = target(
                    *_values(arguments, real), **{k: _values(v, real) for k, v in keywords.items()}
                )
        except Exception as exc:  # noqa: BLE001 - arguments the op refuses
            raise Refused(f"{kind} failed in the sizing run: {first_line(exc)}") from None
        if not isinstance(value, torch.Tensor):
            raise Refused(f"it calls {kind}, which gives a {type(value).__name__}")
        real[id(node)] = value
        node.meta["val"] = torch.empty(value.shape, dtype=value.dtype, device="meta")
        # "__module.layer1/__module.layer1.0/__module.layer1.0.conv1": the innermost module's path;
        # a loaded module's graph has none: then the module whose weight the call reads
        scope = ts.scopeName().rsplit("/", 1)[-1].removeprefix("__module").removeprefix(".")
        if not scope:
            read = [a.name for a in given if isinstance(a, _Node) and a.name in weights]
            scope = weights[read[0]][0].rpartition(".")[0] if read else ""
        node.meta["scope"] = scope
        for arg in given:
            for item in arg if isinstance(arg, (list, tuple)) else (arg,):
                if isinstance(item, _Node) and node not in item.users:
                    item.users.append(node)
        by_value[outputs[0].unique()] = node
        order.append(node)
    returned = [by_value[v.unique()] for v in graph.return_node().inputs()]
    results = list(returned[0]) if len(returned) == 1 and isinstance(returned[0], tuple) else returned
    for node in results:
        if isinstance(node, _Node):
            node.users.append("output")  # a value the graph returns has a reader outside it
    return order, weights, placeholders, results


def export_direct(
    module: Any,
    args: tuple,
    inputs: list[str],
    outputs: list[str],
    flat: bool,
    result: Any,
    apart: dict[str, np.ndarray] | None = None,
) -> onnx.ModelProto:
    """``module`` (a ScriptModule) called with ``args`` as an ONNX model with inputs ``inputs`` and
    outputs ``outputs`` (``flat``: its result is one tensor or a tuple of them; ``result`` unused;
    ``apart``: see ``pt2_direct.write``). Raises ``Refused`` for what it does not take."""
    import torch

    if not isinstance(module, torch.jit.ScriptModule):
        raise Refused("the direct exporter takes a TorchScript module or a torch.export program")
    if not flat:
        raise Refused("it returns a dict or nested outputs")
    order, weights, placeholders, results = nodes(module, args)
    why = pt2_direct.nodes_refusal(order)
    if why is not None:
        raise Refused(why)
    if len(placeholders) != len(inputs):
        raise Refused(f"{plural(placeholders, 'graph input')} for {plural(inputs, 'name')}")
    named = {node.name: name for node, name in zip(placeholders, inputs, strict=True)}
    return pt2_direct.write(order, weights, named, results, outputs, apart)


__all__ = ["Refused", "export_direct", "nodes"]
