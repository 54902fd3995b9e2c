"""Read a written ``.aimodel`` back through coreai-core's own MLIR bindings (not bridgec's emitter).

An ``.aimodel`` is a folder whose ``main.mlirb`` is MLIR bytecode (weights inside as
``dense_resource`` blobs). ``coreai._compiler``'s ``load_module_from_bytecode`` parses it into a
module without lowering it for the runtime, and ``copy_constant_value_to_array`` copies any
``coreai.constant``'s value (dense or resource) out as bytes. Nothing here runs Apple's runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bridgec.backends.coreai.executor.registry import ExecutorError

BYTECODE = "main.mlirb"

# MLIR element type -> numpy dtype (coreai's signed/unsigned integer types are explicit)
_DTYPES = {
    "f16": np.float16,
    "f32": np.float32,
    "f64": np.float64,
    "i1": np.bool_,
    "si8": np.int8,
    "si16": np.int16,
    "si32": np.int32,
    "si64": np.int64,
    "ui8": np.uint8,
    "ui16": np.uint16,
    "ui32": np.uint32,
    "ui64": np.uint64,
    "i8": np.int8,
    "i16": np.int16,
    "i32": np.int32,
    "i64": np.int64,
}


@dataclass
class Step:
    """One top-level op of the graph: operand and result slots index ``Program.slots``."""

    name: str
    operands: list[int]
    results: list[int]
    attributes: dict[str, Any]
    result_types: list[tuple[tuple[int, ...], np.dtype]]
    location: str
    segments: tuple[int, ...]
    constant: np.ndarray | None = None  # a coreai.constant's value


@dataclass
class Program:
    """The ``main`` graph of an ``.aimodel``: its inputs and outputs (name, shape, dtype) and steps."""

    inputs: list[tuple[str, tuple[int, ...], np.dtype]]
    outputs: list[tuple[str, tuple[int, ...], np.dtype]]
    input_slots: list[int]
    output_slots: list[int]
    steps: list[Step]
    slots: int

    def op_names(self) -> set[str]:
        return {step.name for step in self.steps}


def _tensor_type(mlir_type) -> tuple[tuple[int, ...], np.dtype]:
    from coreai._compiler import ir

    text = str(mlir_type)
    if not ir.RankedTensorType.isinstance(mlir_type):
        raise ExecutorError(f"bridgec's Core AI executor: a value of type {text} (only ranked tensors)")
    ranked = ir.RankedTensorType(mlir_type)
    element = str(ranked.element_type)
    if element not in _DTYPES:
        raise ExecutorError(
            f"bridgec's Core AI executor: element type {element} of {text} has no numpy dtype"
        )
    shape = tuple(-1 if ranked.is_dynamic_dim(i) else ranked.get_dim_size(i) for i in range(ranked.rank))
    return shape, np.dtype(_DTYPES[element])


def _attribute(attr) -> Any:
    """A Python value for the attribute kinds that have an obvious one, else its MLIR text."""
    from coreai._compiler import ir

    for kind, read in (
        (ir.StringAttr, lambda a: a.value),
        (ir.BoolAttr, lambda a: a.value),
        (ir.IntegerAttr, lambda a: a.value),
        (ir.FloatAttr, lambda a: a.value),
        (ir.DenseI32ArrayAttr, list),
        (ir.DenseI64ArrayAttr, list),
    ):
        if kind.isinstance(attr):
            return read(kind(attr))
    if ir.ArrayAttr.isinstance(attr):
        return [_attribute(item) for item in ir.ArrayAttr(attr)]
    return str(attr)


def _constant(op, result_type: tuple[tuple[int, ...], np.dtype]) -> np.ndarray:
    from coreai._compiler._mlir_libs._coreaiIR._bindings.compiler import copy_constant_value_to_array

    shape, dtype = result_type
    count = int(np.prod(shape, dtype=np.int64))
    raw = np.zeros(count * dtype.itemsize, np.uint8)
    copy_constant_value_to_array(constant_op=op, destination=raw)
    if dtype == np.bool_:  # i1 is stored one byte per element
        return (raw != 0).reshape(shape)
    return raw.view(dtype).reshape(shape).copy()


def _names(attrs, count: int, default: str) -> list[str]:
    """``coreai.name`` from a graph's arg_attrs / res_attrs (the facade's input and output names)."""
    from coreai._compiler import ir

    names = [f"{default}{i}" for i in range(count)]
    if attrs is None:
        return names
    for i, entry in enumerate(ir.ArrayAttr(attrs)):
        dictionary = ir.DictAttr(entry)
        if "coreai.name" in dictionary:
            names[i] = ir.StringAttr(dictionary["coreai.name"]).value
    return names


def load(model: Path, function: str = "main", constants: bool = True) -> Program:
    """The program of ``model`` (an ``.aimodel`` folder), read through coreai-core's MLIR bindings;
    ``constants=False`` leaves the constants' values unread (to list the ops only)."""
    import coreai.authoring  # noqa: F401 - initialises the dialect's Python op classes in the order they need
    from coreai._compiler._mlir_libs._coreaiIR._bindings.compiler import load_module_from_bytecode
    from coreai._compiler.context import Context

    path = Path(model) / BYTECODE
    if not path.is_file():
        raise ExecutorError(f"bridgec's Core AI executor: {model} has no {BYTECODE} (not an .aimodel?)")
    context = Context()
    with context:
        module = load_module_from_bytecode(context=context._mlir_context, path=path)  # noqa: SLF001
        return _read(module, function, model, constants)


def _read(module, function: str, model: Path, constants: bool) -> Program:
    graphs = [op.operation for op in module.body.operations if op.operation.name == "coreai.graph"]
    graph = next((g for g in graphs if _attribute(g.attributes["sym_name"]) == function), None)
    if graph is None:
        raise ExecutorError(f"bridgec's Core AI executor: {model.name} has no coreai.graph @{function}")
    block = graph.regions[0].blocks[0]
    slot: dict[Any, int] = {}
    input_slots = []
    for argument in block.arguments:
        slot[argument] = len(slot)
        input_slots.append(slot[argument])
    graph_attributes = {a.name: a.attr for a in graph.attributes}
    arg_attrs, res_attrs = graph_attributes.get("arg_attrs"), graph_attributes.get("res_attrs")
    input_names = _names(arg_attrs, len(block.arguments), "input")
    inputs = [(n, *_tensor_type(a.type)) for n, a in zip(input_names, block.arguments, strict=True)]
    steps: list[Step] = []
    outputs: list[tuple[str, tuple[int, ...], np.dtype]] = []
    output_slots: list[int] = []
    for op in block.operations:
        op = op.operation
        if op.name == "coreai.output":
            output_slots = [slot[v] for v in op.operands]
            names = _names(res_attrs, len(output_slots), "output")
            outputs = [(n, *_tensor_type(v.type)) for n, v in zip(names, op.operands, strict=True)]
            break
        attributes = {a.name: _attribute(a.attr) for a in op.attributes}
        segments = tuple(attributes.pop("operandSegmentSizes", ()) or ())
        result_types = [_tensor_type(r.type) for r in op.results]
        step = Step(
            op.name,
            [slot[v] for v in op.operands],
            [],
            attributes,
            result_types,
            str(op.location),
            segments,
        )
        if op.name == "coreai.constant" and constants:
            step.constant = _constant(op, result_types[0])
        for result in op.results:
            slot[result] = len(slot)
            step.results.append(slot[result])
        steps.append(step)
    return Program(inputs, outputs, input_slots, output_slots, steps, len(slot))
