"""``.onnx`` files: checked, brought to the IR's minimum opset, and given static input shapes."""

from __future__ import annotations

from pathlib import Path

import onnx
import onnx_graphsurgeon as gs

from bridgec import ir
from bridgec.errors import UsageError
from bridgec.frontends.normalize import normalize
from bridgec.frontends.shapes import InputShapes

# Below this opset some ops mean something else (Softmax flattened trailing axes); the IR
# has one meaning per op, so older models are converted up with onnx's version converter.
MIN_OPSET = 13


def default_domain_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 1


def upgrade(model: onnx.ModelProto, path: Path) -> onnx.ModelProto:
    opset = default_domain_opset(model)
    if opset >= MIN_OPSET:
        return model
    from onnx import version_converter

    try:
        return version_converter.convert_version(model, MIN_OPSET)
    except Exception as exc:  # noqa: BLE001 - onnx raises several kinds here
        raise UsageError(
            f"{path}: cannot upgrade this opset-{opset} model to opset {MIN_OPSET}: "
            f"{str(exc).splitlines()[0]}"
        ) from None


def _infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Shape inference with data propagation: sizes computed from Shape (x.shape[-2:] handed to
    an interpolation) become known, so later tensors get static shapes; plain inference if that fails."""
    try:
        return onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # noqa: BLE001 - onnx raises several kinds; fall back to the plain form
        return ir.infer_shapes_best_effort(model)


def graph_from_model(model: onnx.ModelProto, path: Path, shapes: InputShapes | None = None) -> gs.Graph:
    """The IR graph of an in-memory ONNX model (also used for models the torch frontend exported)."""
    model = upgrade(model, path)
    initializer_names = {init.name for init in model.graph.initializer}
    real_inputs = [i for i in model.graph.input if i.name not in initializer_names]
    if len(real_inputs) != len(model.graph.input):  # old exporters list weights as inputs too
        del model.graph.input[:]
        model.graph.input.extend(real_inputs)
    shapes = shapes or {}
    names = [i.name for i in real_inputs]
    unknown = [n for n in shapes if n not in names]
    if unknown:
        raise UsageError(
            f"--input names {', '.join(unknown)} are not inputs of {path.name} "
            f"(its inputs: {', '.join(names)})"
        )
    for value in real_inputs:
        if value.name in shapes:
            dims = value.type.tensor_type.shape.dim
            given = shapes[value.name]
            if len(dims) and len(dims) != len(given):
                raise UsageError(
                    f"--input {value.name}: the model's input has rank {len(dims)}, not {len(given)}"
                )
            del dims[:]
            for d in given:
                dims.add().dim_value = d
    graph = ir.import_model(_infer_shapes(model))
    normalize(graph)  # standard ONNX and ATen spellings of the kept ops -> the bridgec form
    for tensor in graph.inputs:
        if tensor.shape is None or not all(isinstance(d, int) and d > 0 for d in tensor.shape):
            raise UsageError(
                f"input {tensor.name!r} of {path.name} has a dynamic shape {tensor.shape}; "
                f"pass --input {tensor.name}:"
                + "x".join(
                    str(d) if isinstance(d, int) and d > 0 else "N"
                    for d in (tensor.shape or [1, 3, 224, 224])
                )
            )
    return graph


def load_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Read the weights stored beside the model (``save_as_external_data``), naming a missing file."""
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    tensors = [t for t in onnx.external_data_helper._get_all_tensors(model) if uses_external_data(t)]
    if not tensors:
        return
    folder = path.resolve().parent
    for tensor in tensors:
        location = ExternalDataInfo(tensor).location
        target = (folder / location).resolve()
        if folder not in target.parents and target != folder:
            raise UsageError(f"{path}: external data {location!r} points outside the model's folder")
        if not target.is_file():
            raise UsageError(
                f"{path}: its weights are in the external data file {location!r}, which is missing; "
                f"copy it into {folder}"
            )
    try:
        onnx.load_external_data_for_model(model, str(folder))
    except Exception as exc:  # noqa: BLE001 - a short or damaged data file
        raise UsageError(f"{path}: cannot read its external data: {str(exc).splitlines()[0]}") from None


def load(path: Path, shapes: InputShapes | None = None) -> gs.Graph:
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file fails in many ways
        raise UsageError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    if not model.graph.node or model.ir_version <= 0:
        raise UsageError(f"{path}: not an ONNX model (no graph nodes)")
    load_external_data(model, path)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise UsageError(f"{path}: invalid ONNX model: {str(exc).splitlines()[0]}") from None
    return graph_from_model(model, path, shapes)
