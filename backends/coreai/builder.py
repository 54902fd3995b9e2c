"""The graph builder: a legal ONNX graph -> a Core AI ``Module`` (``coreai.authoring``), in memory.

The signature is known only at run time, so the ``@graph`` function gets a synthesised
``__signature__`` and ``__annotations__`` (the facade reads them with ``inspect``). Each ONNX node
is emitted under a ``DebugInfo`` naming it, so a verifier error (raised when the module's ``with``
block exits) says ``at loc("model.onnx#/Conv_3(Conv)")``. Constants are always typed numpy arrays.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreai import ops as coreai_ops
from bridgec.backends.coreai.inputs import coreai_dtype, narrow_constant
from bridgec.backends.coreai.targets import Target
from bridgec.core import ir
from bridgec.core.errors import ConversionError


class CoreAIContext:
    """What an emitter sees: the value of each tensor (a Core AI ``Value`` or a numpy constant)."""

    def __init__(self, target: Target) -> None:
        import coreai.authoring as ca

        self.ca = ca
        self.target = target
        self.values: dict[str, Any] = {}

    def call(self, coreai_op: str, *args, **kwargs):
        return getattr(self.ca, coreai_op)(*args, **kwargs)

    def value(self, tensor: gs.Tensor):
        """The tensor's Core AI value, or its numpy array (int64 as int32, ``inputs``) when it is a constant."""
        constant = ir.constant_value(tensor)
        if constant is not None:
            # np.array, not np.ascontiguousarray: that one makes a 0-D constant 1-D
            return np.array(narrow_constant(constant, f"tensor {tensor.name!r}"), order="C")
        if tensor.name not in self.values:
            raise ConversionError(
                f"Core AI: tensor {tensor.name!r} has no value yet (the graph is not sorted?)"
            )
        return self.values[tensor.name]

    def const(self, tensor: gs.Tensor) -> np.ndarray | None:
        """The tensor's constant value as the graph holds it (int64 stays int64), or None."""
        value = ir.constant_value(tensor)
        return None if value is None else np.asarray(value)

    def dtype(self, tensor: gs.Tensor) -> np.dtype:
        """The element type Core AI holds the tensor in (int64 as int32: ``inputs``)."""
        return coreai_dtype(tensor.dtype, f"tensor {tensor.name!r}")

    def set(self, tensor: gs.Tensor, value) -> None:
        self.values[tensor.name] = value

    def tensor_type(self, tensor: gs.Tensor):
        return self.ca.TensorType(tuple(tensor.shape), self.dtype(tensor))


@dataclass
class BuiltProgram:
    """A Core AI module in memory, and its interface."""

    module: Any
    inputs: list[tuple[str, tuple[int, ...], np.dtype]]
    outputs: list[tuple[str, tuple[int, ...], np.dtype]]

    def save(self, path: Path) -> None:
        from coreai.authoring import AIProgram, OSVersion

        AIProgram(self.module).save_asset(Path(path), minimum_os=OSVersion.v27)


def _signature(tensors: list[gs.Tensor], role: str) -> list[tuple[str, tuple[int, ...], np.dtype]]:
    out = []
    for tensor in tensors:
        shape = coreai_ops.static_shape(tensor)
        if shape is None:
            raise ConversionError(
                f"Core AI: {role} {tensor.name!r} has shape {tensor.shape}; this backend needs static shapes"
            )
        if role == "input" and shape == ():
            # coreai-core 1.0.0b3's runtime dies (SIGILL) loading a model with a rank-0 input, even Relu(x)
            raise ConversionError(
                f"Core AI: input {tensor.name!r} is a scalar (rank 0), which Apple's runtime cannot take; "
                "give the model a 1-element tensor input instead"
            )
        out.append((tensor.name, shape, coreai_dtype(tensor.dtype, f"{role} {tensor.name!r}")))
    return out


def _parameter(name: str) -> inspect.Parameter:
    """A parameter named after an ONNX input. The facade names a graph's inputs after its function's
    parameters; ONNX names need not be Python identifiers ("input.1"), which ``inspect.Parameter``
    refuses, so such a name is set on the slot it validated (the facade only reads it back)."""
    if name.isidentifier():
        return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    parameter = inspect.Parameter("_", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    object.__setattr__(parameter, "_name", name)  # noqa: B010 - see the docstring
    return parameter


def build_program(graph: gs.Graph, target: Target, source_name: str = "model") -> BuiltProgram:
    """The Core AI module of a legal graph (every node has an emitter whose check passes)."""
    from coreai.authoring import DebugInfo, Module, TensorSpec, Value
    from coreai.authoring import graph as graph_decorator

    table = coreai_ops.table()
    inputs, outputs = _signature(graph.inputs, "input"), _signature(graph.outputs, "output")
    ctx = CoreAIContext(target)
    graph.toposort()

    def body(*args):
        for tensor, value in zip(graph.inputs, args, strict=True):
            ctx.set(tensor, value)
        for index, node in enumerate(graph.nodes):
            emitter = table.get(ir.op_key(node))
            if emitter is None:
                raise ConversionError(f"Core AI: no emitter for node {node.name!r} ({ir.op_label(node)})")
            where = f"{source_name}#{node.name or index}({node.op})"
            with DebugInfo.file(where, 0).activate():
                emitter.emit(ctx, node)
        results = []
        for tensor in graph.outputs:
            value = ctx.value(tensor)
            if isinstance(value, np.ndarray):  # an output that folded to a constant
                raise ConversionError(f"Core AI: output {tensor.name!r} is a constant; not supported yet")
            results.append(value)
        return results[0] if len(results) == 1 else tuple(results)

    def fn(*args):
        return body(*args)

    ann = {name: Annotated[Value, TensorSpec(shape, dtype)] for name, shape, dtype in inputs}
    outs = [Annotated[Value, TensorSpec(shape, dtype, name=name)] for name, shape, dtype in outputs]
    ann["return"] = outs[0] if len(outs) == 1 else tuple[tuple(outs)]
    fn.__signature__ = inspect.Signature([_parameter(name) for name, _, _ in inputs])
    fn.__annotations__ = ann
    fn.__name__ = "main"
    module = Module.create()
    try:
        with module:  # on exit: Apple's pre-compilation rewrite and verifier
            graph_decorator(fn)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise ConversionError(f"Core AI rejected the program: {first}") from None
    return BuiltProgram(module, inputs, outputs)
