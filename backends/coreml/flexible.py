"""Flexible input shapes, both formats: one Core ML model that takes every shape of a range or a list.

bridgec's IR is static: the frontend exports the model at one shape and the passes fold whatever is
computed from shapes (a flatten's target, a resize's size, a pooling's padding) into constants. A
model converted at the default shape is therefore only known to be right there. Building the ML
Program with symbolic input dims (``mb.TensorSpec`` with ``get_new_symbol()``) would let MIL's type
inference carry the symbols through every op, yet a constant folded at the default shape would be
kept and silently wrong at any other size — and many emitters read static shapes
(``MilContext.shape``/``const``). So the model is converted again at the other corner shapes
(``frontends.shapes.FlexibleShape.corners``) and must come out the same apart from the sizes of its
values: every NeuralNetwork layer identical; every ML Program op identical except the dims of its
value types, which are then written as unknown — what coremltools writes for ``ct.RangeDim`` and
``ct.EnumeratedShapes`` (checked against ``ct.convert`` of a traced CNN: input description with the
default shape and a ``shapeRange``/``enumeratedShapes``, outputs without a shape, the function's input
and every op output that follows the input with ``unknown`` dims). Anything that differs otherwise
(a constant, an attribute, a weight) depends on the shape: refused, naming it.

``shape`` arguments are ``frontends.shapes.FlexibleShape``-like (``enumerated``; ``ranges`` of
(lo, hi), hi None for no upper bound): a backend does not import a frontend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridgec.backends.coreml.neuralnetwork import network_of
from bridgec.core.errors import ConversionError
from bridgec.core.words import plural

_SEPARATELY = "so one Core ML model cannot take all these shapes; convert each shape separately"


def make_flexible(built: Any, flexible: dict[str, Any], alternatives: list[tuple[str, Any]]) -> None:
    """Give ``built``'s inputs flexible shapes (``FlexibleShape`` by input name), in place.

    ``built`` is a ``model.BuiltModel`` converted at the default shapes; ``alternatives`` the same
    model converted at the other corner shapes, as (description such as ``x:1x3x64x64``, BuiltModel)."""
    if built.format == "neuralnetwork":
        _same_layers(built.spec, [(described, other.spec) for described, other in alternatives])
    else:
        _same_program(built, alternatives)
        _unknown_dims(built.spec, [other.spec for _, other in alternatives])
    describe(built.spec, flexible)


def describe(spec: Any, flexible: dict[str, Any]) -> None:
    """The model description of flexible inputs, the same in both formats: the default shape stays,
    the range or the list is added; outputs follow the inputs, so they lose their fixed shape."""
    for feature in spec.description.input:
        shape = flexible.get(feature.name)
        if shape is None:
            continue
        if feature.type.WhichOneof("Type") != "multiArrayType":
            raise ConversionError(
                f"input {feature.name!r} is a Core ML {feature.type.WhichOneof('Type')}: flexible sizes are "
                "written for multiarray inputs only so far; give it one shape"
            )
        array = feature.type.multiArrayType
        if shape.enumerated:
            for dims in shape.enumerated:
                array.enumeratedShapes.shapes.add().shape.extend(dims)
        else:
            for lo, hi in shape.ranges:
                size = array.shapeRange.sizeRanges.add()
                size.lowerBound, size.upperBound = lo, -1 if hi is None else hi  # Core ML: -1 is unbounded
    for feature in spec.description.output:
        if feature.type.WhichOneof("Type") == "multiArrayType":
            del feature.type.multiArrayType.shape[:]


def _same_layers(spec: Any, alternatives: list[tuple[str, Any]]) -> None:
    """One NeuralNetwork serves every shape only if no layer bakes in a shape (a static reshape, a
    resize to fixed sizes, a constant derived from a shape): every layer must be identical."""
    mine = network_of(spec).layers
    for described, other in alternatives:
        theirs = network_of(other).layers
        for layer, their in zip(mine, theirs, strict=False):
            if layer.SerializeToString(deterministic=True) != their.SerializeToString(deterministic=True):
                raise ConversionError(
                    f"layer {layer.name!r} ({layer.WhichOneof('layer')}) depends on the input shape: it differs "
                    f"at {described}, {_SEPARATELY}"
                )
        if len(theirs) != len(mine):
            raise ConversionError(
                f"the network has {plural(theirs, 'layer')} at {described} but {len(mine)} at the default shape; "
                "convert each shape separately"
            )


def _operations(spec: Any) -> list[Any]:
    """Every operation of every function's blocks, nested blocks included, in program order."""
    found: list[Any] = []

    def walk(block: Any) -> None:
        for op in block.operations:
            found.append(op)
            for inner in op.blocks:
                walk(inner)

    for name in sorted(spec.mlProgram.functions):
        function = spec.mlProgram.functions[name]
        for opset in sorted(function.block_specializations):
            walk(function.block_specializations[opset])
    return found


def _value_types(spec: Any) -> list[Any]:
    """The ValueTypes whose dims may follow the input: function inputs, op outputs, block inputs."""
    found: list[Any] = []
    for name in sorted(spec.mlProgram.functions):
        found.extend(v.type for v in spec.mlProgram.functions[name].inputs)
    for op in _operations(spec):
        found.extend(v.type for v in op.outputs)
        for block in op.blocks:
            found.extend(v.type for v in block.inputs)
    return found


def _without_dims(message: Any, types: list[Any]) -> bytes:
    """``message`` serialised with the dims of ``types`` (value types inside it) left out."""
    saved = []
    for vt in types:
        if vt.WhichOneof("type") == "tensorType":
            saved.append((vt, list(vt.tensorType.dimensions)))
            del vt.tensorType.dimensions[:]
    try:
        return message.SerializeToString(deterministic=True)
    finally:
        for vt, dims in saved:
            vt.tensorType.dimensions.extend(dims)


def _op_types(op: Any) -> list[Any]:
    types = [v.type for v in op.outputs]
    for block in op.blocks:
        types.extend(v.type for v in block.inputs)
        for inner in block.operations:
            types.extend(_op_types(inner))
    return types


def _same_program(built: Any, alternatives: list[tuple[str, Any]]) -> None:
    """Every op the same at every corner but for the dims of its values; the weights too."""
    mine = _operations(built.spec)
    for described, other in alternatives:
        theirs = _operations(other.spec)
        for op, their in zip(mine, theirs, strict=False):
            if _without_dims(op, _op_types(op)) != _without_dims(their, _op_types(their)):
                raise _differs(op, described, mine)
        if len(theirs) != len(mine):
            raise ConversionError(
                f"the ML Program has {plural(theirs, 'operation')} at {described} but {len(mine)} at the default "
                "shape; convert each shape separately"
            )
        if _without_dims(built.spec.mlProgram, _value_types(built.spec)) != _without_dims(
            other.spec.mlProgram, _value_types(other.spec)
        ):
            raise ConversionError(f"the ML Program's functions differ at {described}, {_SEPARATELY}")
        _same_weights(built, other, mine, described)


def _differs(op: Any, described: str, ops: list[Any]) -> ConversionError:
    name = op.outputs[0].name if op.outputs else op.type
    what = f"operation {name!r} ({op.type})"
    if op.type == "const":  # a value folded from a shape: the op reading it is what the user knows
        reader = next((o for o in ops if _reads(o, name)), None)
        if reader is not None:
            what = f"constant {name!r} of {reader.type} {reader.outputs[0].name!r}"
    return ConversionError(f"{what} depends on the input shape: it differs at {described}, {_SEPARATELY}")


def _reads(op: Any, name: str) -> bool:
    return bool(op.outputs) and any(
        binding.WhichOneof("binding") == "name" and binding.name == name
        for argument in op.inputs.values()
        for binding in argument.arguments
    )


def _same_weights(built: Any, other: Any, ops: list[Any], described: str) -> None:
    """Big constants live in the weights file, the program holding only their offsets: equal
    offsets say nothing of equal values. The files must match; where not, the constant is named."""
    files = [Path(model.mlmodel.weights_dir) for model in (built, other)]
    names = sorted({p.name for folder in files if folder.is_dir() for p in folder.iterdir()})
    for name in names:
        mine, theirs = ((folder / name).read_bytes() if (folder / name).exists() else b"" for folder in files)
        if mine == theirs:
            continue
        stored = sorted(
            (int(value.blobFileValue.offset), op)
            for op in ops
            for value in op.attributes.values()
            if value.WhichOneof("value") == "blobFileValue" and value.blobFileValue.fileName.endswith(name)
        )
        for i, (start, op) in enumerate(stored):
            end = stored[i + 1][0] if i + 1 < len(stored) else None
            if mine[start:end] != theirs[start:end]:
                raise _differs(op, described, ops)
        raise ConversionError(f"the ML Program's weights ({name}) differ at {described}, {_SEPARATELY}")


def _unknown_dims(spec: Any, others: list[Any]) -> None:
    """Every dim of a value type that is not the same at every corner becomes unknown (the program's
    structure is the same everywhere, ``_same_program``, so the value types pair up in order)."""
    theirs = [_value_types(other) for other in others]
    for i, vt in enumerate(_value_types(spec)):
        if vt.WhichOneof("type") != "tensorType":
            continue
        for axis, dim in enumerate(vt.tensorType.dimensions):
            if dim.WhichOneof("dimension") != "constant":
                continue
            size = dim.constant.size
            sizes = [t[i].tensorType.dimensions[axis] for t in theirs]
            if any(d.WhichOneof("dimension") != "constant" or d.constant.size != size for d in sizes):
                dim.ClearField("constant")
                dim.unknown.SetInParent()  # variadic stays False: the rank is fixed


__all__ = ["describe", "make_flexible"]
