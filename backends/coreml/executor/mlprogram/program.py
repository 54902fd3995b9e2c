"""Loading an ML Program model and walking its main function, op by op."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.errors import (
    ExecutorError,
    InputError,
    LayerError,
    UnsupportedLayerError,
)
from bridgec.backends.coreml.executor.mlprogram._op import Op, OpFn
from bridgec.backends.coreml.executor.mlprogram.blob import BlobCache
from bridgec.backends.coreml.executor.mlprogram.state import State
from bridgec.backends.coreml.executor.mlprogram.state import bind as bind_state
from bridgec.backends.coreml.executor.mlprogram.values import (
    decode_value,
    is_tensor,
    tensor_dtype,
    value_type,
)
from bridgec.backends.coreml.executor.model_io import image_tensor, load_spec, read_mlpackage, shape_ok
from bridgec.core.words import noun, plural

# Core ML model-description dtypes (FeatureTypes.proto ArrayDataType) -> numpy.
_ARRAY_DTYPES = {65568: np.float32, 65552: np.float16, 65600: np.float64, 131104: np.int32}
# A classifier's outputs (FeatureTypes.proto): the top class (a string or an int64) and the
# dictionary class -> probability, returned as the classify op made them.
_AS_PRODUCED = ("dictionaryType", "stringType", "int64Type")


def resolve_model(model: Any) -> tuple[Any, str | None]:
    """Accept a .mlpackage path, a coremltools ``MLModel``, a ``(spec, weights_dir)`` pair or a spec."""
    if isinstance(model, (str, os.PathLike)):
        if os.path.isdir(model):
            return read_mlpackage(model)
        weights = os.path.join(os.path.dirname(os.fspath(model)), "weights")
        return load_spec(model), weights if os.path.isdir(weights) else None
    if isinstance(model, tuple) and len(model) == 2:
        spec, weights_dir = model
        return spec, None if weights_dir is None else os.fspath(weights_dir)
    if hasattr(model, "get_spec"):
        return model.get_spec(), getattr(model, "weights_dir", None)
    if hasattr(model, "WhichOneof"):
        return model, None
    raise TypeError(
        f"model must be an .mlpackage path, an MLModel, a (spec, weights_dir) pair or a spec; "
        f"got {type(model).__name__}"
    )


def main_block(spec: Any) -> tuple[Any, Any]:
    """``(function, block)`` of the program's ``main`` function at its declared opset."""
    if spec.WhichOneof("Type") != "mlProgram":
        raise ExecutorError(f"model type {spec.WhichOneof('Type')!r} is not an ML Program")
    functions = spec.mlProgram.functions
    if "main" not in functions:
        raise ExecutorError(f"ML Program has no 'main' function (functions: {sorted(functions)})")
    fn = functions["main"]
    if fn.opset not in fn.block_specializations:
        raise ExecutorError(f"main function declares opset {fn.opset!r} but has no block for it")
    return fn, fn.block_specializations[fn.opset]


def _check_inputs(spec: Any, fn: Any, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    described = {f.name: f for f in spec.description.input}
    unknown = sorted(set(inputs) - set(described))
    if unknown:
        raise InputError(
            f"unknown {noun(unknown, 'input')} {unknown}; the model's inputs are {sorted(described)}"
        )
    program_dtypes = {v.name: tensor_dtype(value_type(v.type)[0]) for v in fn.inputs if is_tensor(v.type)}
    env: dict[str, np.ndarray] = {}
    for name, feature in described.items():
        kind = feature.type.WhichOneof("Type")
        if kind == "imageType":
            if name not in inputs:
                raise InputError(f"missing image input {name!r}")
            # the program's input is the pixel tensor; its scale and bias are ops of the program
            env[name] = image_tensor(name, feature, inputs[name]).astype(program_dtypes.get(name, np.float32))
            continue
        if kind != "multiArrayType":
            raise InputError(
                f"input {name!r} is of type {kind!r}; only multiarray and image inputs are supported"
            )
        expected = tuple(int(d) for d in feature.type.multiArrayType.shape)
        if name not in inputs:
            raise InputError(f"missing input {name!r} (expected shape {expected})")
        arr = np.asarray(inputs[name])
        ok, wanted = shape_ok(arr.shape, feature)
        if not ok:
            raise InputError(f"input {name!r} has shape {arr.shape}, expected shape {wanted}")
        interface = _ARRAY_DTYPES.get(feature.type.multiArrayType.dataType, np.float32)
        env[name] = arr.astype(interface).astype(program_dtypes.get(name, interface))
    return env


def _op_inputs(op: Any, env: dict[str, Any], blobs: BlobCache, name: str) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    # iOS16 constexpr ops carry their operands as attributes rather than inputs.
    for key, value in op.attributes.items():
        if key != "name":
            inputs[key] = decode_value(value, blobs)
    for key, arg in op.inputs.items():
        values = []
        for binding in arg.arguments:
            if binding.WhichOneof("binding") == "name":
                if binding.name not in env:
                    raise LayerError(
                        name, op.type, f"input {key!r} reads {binding.name!r}, which nothing produced"
                    )
                values.append(env[binding.name])
            else:
                values.append(decode_value(binding.value, blobs))
        inputs[key] = values[0] if len(values) == 1 else tuple(values)
    return inputs


def _last_uses(ops: Any, keep: set[str]) -> dict[int, list[str]]:
    last: dict[str, int] = {}
    for i, op in enumerate(ops):
        for arg in op.inputs.values():
            for binding in arg.arguments:
                if binding.WhichOneof("binding") == "name":
                    last[binding.name] = i
    frees: dict[int, list[str]] = {}
    for name, i in last.items():
        if name not in keep:
            frees.setdefault(i, []).append(name)
    return frees


def _run_op(
    op: Any, env: dict[str, Any], blobs: BlobCache, ops_table: Mapping[str, OpFn]
) -> list[np.ndarray]:
    """One operation's outputs, cast to their declared dtypes and checked against declared shapes."""
    name = op.outputs[0].name if op.outputs else op.type
    try:
        if op.type == "const":
            return [decode_value(op.attributes["val"], blobs)]
        impl = ops_table.get(op.type)
        if impl is None or len(op.blocks):
            raise UnsupportedLayerError(name, op.type, "no ML Program implementation for this op")
        # a dictionary output (classify's) has no dtype or shape to hold it to: None
        declared = [value_type(o.type) if is_tensor(o.type) else (None, None) for o in op.outputs]
        view = Op(
            type=op.type,
            name=name,
            inputs=_op_inputs(op, env, blobs, name),
            out_dtypes=[None if code is None else tensor_dtype(code) for code, _ in declared],
            out_shapes=[shape for _, shape in declared],
        )
        results = impl(view)
    except ExecutorError:
        raise
    except (ValueError, IndexError, TypeError, KeyError) as exc:  # BlobFormatError is a ValueError
        raise LayerError(name, op.type, str(exc)) from exc
    if isinstance(results, np.ndarray) or np.isscalar(results):
        results = (results,)
    if len(results) != len(op.outputs):
        raise LayerError(
            name, op.type, f"produced {plural(results, 'output')} for {len(op.outputs)} declared"
        )
    values = []
    for out, value, dtype, shape in zip(op.outputs, results, view.out_dtypes, view.out_shapes, strict=True):
        if dtype is None:
            values.append(value)
            continue
        value = np.asarray(value).astype(dtype, copy=False)
        if shape is not None and value.shape != shape:
            raise LayerError(
                name, op.type, f"output {out.name!r} has shape {value.shape}, the program declares {shape}"
            )
        values.append(value)
    return values


def execute(
    model: Any,
    inputs: Mapping[str, np.ndarray],
    ops_table: Mapping[str, OpFn],
    intermediates: bool,
    state: State | None = None,
) -> dict[str, np.ndarray]:
    spec, weights_dir = resolve_model(model)
    fn, block = main_block(spec)
    env: dict[str, Any] = _check_inputs(spec, fn, inputs)
    env.update(bind_state(spec, state))  # the program's state inputs: read and written in place
    blobs = BlobCache(weights_dir)
    outputs = list(block.outputs)
    produced: dict[str, np.ndarray] = {}
    frees = {} if intermediates else _last_uses(block.operations, set(outputs))
    for i, op in enumerate(block.operations):
        for out, value in zip(op.outputs, _run_op(op, env, blobs, ops_table), strict=True):
            env[out.name] = value
            # Constants are parameters, not computation: --per-node has nothing to compare there.
            if intermediates and op.type != "const":
                produced[out.name] = value
        for dead in frees.get(i, ()):
            env.pop(dead, None)
    missing = [n for n in outputs if n not in env]
    if missing:
        raise ExecutorError(
            f"program {noun(missing, 'output')} {missing} {noun(missing, 'was', 'were')} not produced by any op"
        )
    described = {f.name: f for f in spec.description.output}
    result: dict[str, np.ndarray] = {}
    for name in outputs:
        feature = described.get(name)
        kind = None if feature is None else feature.type.WhichOneof("Type")
        if kind in _AS_PRODUCED:
            result[name] = env[name]
            continue
        dtype = np.float32
        if kind == "multiArrayType":
            dtype = _ARRAY_DTYPES.get(feature.type.multiArrayType.dataType, np.float32)
        result[name] = np.asarray(env[name]).astype(dtype)
    if intermediates:
        produced.update(result)
    return produced if intermediates else result
