"""``.onnx`` files: checked, brought to the IR's minimum opset, and given static input shapes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.core.errors import UsageError, onnx_message
from bridgec.core.sizes import check_model_sizes
from bridgec.core.tensor_spec import dtype_name
from bridgec.frontends.normalize import normalize, split_shape_ranges
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
            f"{path}: cannot upgrade this opset-{opset} model to opset {MIN_OPSET}: {onnx_message(exc)}"
        ) from None


def _infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Shape inference with data propagation: sizes computed from Shape (x.shape[-2:] handed to
    an interpolation) become known, so later tensors get static shapes; plain inference if that fails.

    It runs on a copy without the large weights (onnx serialises the model it infers: twice 100 MB
    for resnet50; ``ir.shapes_only`` copies no weight) and the shapes it found are put on ``model``."""
    light = ir.shapes_only(model)
    try:
        inferred = onnx.shape_inference.infer_shapes(light, data_prop=True)
    except Exception:  # noqa: BLE001 - onnx raises several kinds; fall back to the plain form
        inferred = ir.infer_shapes_best_effort(light)
    del model.graph.value_info[:]
    model.graph.value_info.extend(inferred.graph.value_info)
    for ours, found in zip(model.graph.output, inferred.graph.output, strict=True):
        ours.CopyFrom(found)
    return model


def graph_from_model(
    model: onnx.ModelProto,
    path: Path,
    shapes: InputShapes | None = None,
    weights: dict[str, np.ndarray] | None = None,
) -> gs.Graph:
    """The IR graph of an in-memory ONNX model (also used for models the torch frontend exported).
    ``weights``: the values of graph inputs that are the model's weights, kept apart
    (``pt2_direct.write``): they are its constants, as if they had been initializers."""
    return _import(_prepare(model, path, shapes), path, weights)


def _prepare(
    model: onnx.ModelProto, path: Path, shapes: InputShapes | None, dtypes: dict | None = None
) -> onnx.ModelProto:
    """The model at opset >= 13, without weights listed as inputs, its inputs at the given shapes:
    still the source model, runnable as it is by onnxruntime. Its input dtypes are the file's: a
    ``dtypes`` entry (``--input x:DIMS:DTYPE``) that says otherwise is refused."""
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
        _check_dtype(value, (dtypes or {}).get(value.name), path)
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
    return model


def _check_dtype(value: onnx.ValueInfoProto, given: np.dtype | None, path: Path) -> None:
    """An ``.onnx`` file's inputs keep the types it declares; a ``--input`` dtype must agree."""
    elem_type = value.type.tensor_type.elem_type
    if given is None or not elem_type:
        return
    declared = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    if declared != given:
        raise UsageError(
            f"--input {value.name}:...:{dtype_name(given)}: {path.name} declares input {value.name} as "
            f"{dtype_name(declared)}; drop the dtype (an .onnx file's input types are kept)"
        )


def _import(model: onnx.ModelProto, path: Path, weights: dict[str, np.ndarray] | None = None) -> gs.Graph:
    try:
        graph = ir.import_model(_infer_shapes(model))
    except (KeyError, ValueError, TypeError) as exc:  # graphsurgeon on e.g. an unknown element type
        raise UsageError(
            f"{path.name}: invalid ONNX model ({type(exc).__name__}: {exc}); the file may be "
            "damaged or from a newer onnx release"
        ) from None
    ir.restore_weights(graph, weights or {})  # bridgec's own export: no file's damage to report
    _check_inferred_sizes(graph, path)
    check_model_sizes(graph, f"{path}: ")  # what only constant evaluation sizes, before the check runs it
    _check_outputs_computed(graph, path)
    normalize(graph)  # standard ONNX and ATen spellings of the kept ops -> the bridgec form
    split_shape_ranges(graph)
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


# A NeuralNetwork .mlmodel is one protobuf message, which cannot pass 2 GiB: weights beyond that can
# never be converted, so a bigger claim is refused before anything is read.
MAX_WEIGHT_BYTES = 2 << 30


def _external_info(tensor: onnx.TensorProto, path: Path) -> tuple[str, int, int | None]:
    """(location, offset, length or None) of an external tensor; one-line errors for garbage."""
    entries = {entry.key: entry.value for entry in tensor.external_data}
    location = entries.get("location", "")
    if not location:
        raise UsageError(f"{path}: initializer {tensor.name!r} is external data without a location")
    numbers = []
    for key in ("offset", "length"):
        value = entries.get(key)
        if value is None:
            numbers.append(None)
            continue
        if not value.isdigit() or len(value) > 18:
            raise UsageError(
                f"{path}: initializer {tensor.name!r} has a bad external data {key} {value[:30]!r}"
            )
        numbers.append(int(value))
    return location, numbers[0] or 0, numbers[1]


_PACKED = {onnx.TensorProto.INT4, onnx.TensorProto.UINT4, getattr(onnx.TensorProto, "FLOAT4E2M1", -1)}


def _data_bytes(tensor: onnx.TensorProto) -> int | None:
    """The bytes a tensor's raw data must have for its type and shape; None for types without a
    fixed size (strings, unknown numbers)."""
    if tensor.data_type in (onnx.TensorProto.UNDEFINED, onnx.TensorProto.STRING):
        return None
    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except Exception:  # noqa: BLE001 - an unknown data type: the checker names it
        return None
    count = 1
    for d in tensor.dims:
        count *= d
    return (count + 1) // 2 if tensor.data_type in _PACKED else count * itemsize


def check_claims(model: onnx.ModelProto, path: Path) -> None:
    """Refuse absurd sizes before reading or allocating anything: a weight or input whose dims
    multiply past ``sizes.MAX_ELEMENTS``, weights past 2 GiB in all, external data that points out of
    the model's folder or claims more bytes than its file holds."""
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    from bridgec.core.sizes import too_big

    folder = path.resolve().parent
    total = 0
    for tensor in _get_all_tensors(model):
        if any(d < 0 for d in tensor.dims):
            raise UsageError(
                f"{path}: initializer {tensor.name!r} has a negative dimension {list(tensor.dims)}"
            )
        why = too_big(tensor.dims)
        if why:
            raise UsageError(f"{path}: initializer {tensor.name!r} of shape {list(tensor.dims)} has {why}")
        needed = _data_bytes(tensor)
        claimed = needed if needed is not None else 0
        inline = tensor.HasField("raw_data") and not uses_external_data(tensor)
        if needed is not None and inline and len(tensor.raw_data) != needed:
            raise UsageError(
                f"{path}: initializer {tensor.name!r} holds {len(tensor.raw_data):,} bytes but its type "
                f"and shape {list(tensor.dims)} need {needed:,}; the model file is damaged"
            )
        if uses_external_data(tensor):
            location, offset, length = _external_info(tensor, path)
            target = (folder / location).resolve()
            if folder not in target.parents:
                raise UsageError(
                    f"{path}: external data {location!r} of {tensor.name!r} points outside the model's "
                    "folder; bridgec reads weights only from beside the model"
                )
            _check_data_file(target, location, path, folder)
            available = max(0, target.stat().st_size - offset)
            wanted = length if length is not None else claimed
            if wanted > available or (needed is not None and needed > wanted):
                raise UsageError(
                    f"{path}: initializer {tensor.name!r} needs {max(wanted, claimed):,} bytes of external "
                    f"data but {location!r} holds {available:,} from offset {offset}; the data file is "
                    "damaged or from another model"
                )
            claimed = wanted
        total += claimed
        if total > MAX_WEIGHT_BYTES:
            raise UsageError(
                f"{path}: the weights claim more than 2 GiB (at {tensor.name!r}), more than a .mlmodel "
                "can hold"
            )
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        sizes = [d.dim_value for d in dims if d.HasField("dim_value")]
        if any(d < 0 for d in sizes):
            raise UsageError(f"{path}: {value.name!r} has a negative dimension {sizes}")
        why = too_big(sizes)
        if why:
            raise UsageError(f"{path}: {value.name!r} of shape {sizes} has {why}")


def _check_text(graph: onnx.GraphProto, path: Path) -> None:
    """Names and op types must be UTF-8 text: protobuf hands a damaged one over as bytes, which
    fails deep inside onnx and graphsurgeon otherwise."""

    def names(g: onnx.GraphProto):
        yield g.name
        for value in (*g.input, *g.output, *g.value_info, *g.initializer):
            yield value.name
        for node in g.node:
            yield from (node.name, node.op_type, node.domain, *node.input, *node.output)
            for attr in node.attribute:
                yield attr.name
                for sub in (*([attr.g] if attr.HasField("g") else []), *attr.graphs):
                    yield from names(sub)

    for name in names(graph):
        if isinstance(name, bytes):
            raise UsageError(
                f"{path}: invalid ONNX model: the name {name[:40]!r} is not UTF-8 text (a damaged file?)"
            )


def _check_outputs_computed(graph: gs.Graph, path: Path) -> None:
    """Every output must be computed from an input: a Core ML network has no layer that makes an
    output out of constants alone (the passes would fold it away)."""
    inputs = {id(t) for t in graph.inputs}
    for output in graph.outputs:
        seen, stack, found = set(), [output], False
        while stack and not found:
            tensor = stack.pop()
            if id(tensor) in seen:
                continue
            seen.add(id(tensor))
            found = id(tensor) in inputs
            for node in tensor.inputs:
                stack.extend(_reads(node))
        if not found:
            raise UsageError(
                f"{path}: output {output.name!r} does not depend on any input of the model (it is a "
                "constant); Core ML computes outputs from inputs, so drop it or feed it from an input"
            )


def _reads(node: gs.Node) -> list[gs.Tensor]:
    """The tensors ``node`` reads: its inputs, and what the nodes of its subgraphs (an If's branches,
    a Loop's body) read, which includes the outer graph's tensors they use by name."""
    found = list(node.inputs)
    for value in node.attrs.values():
        for sub in value if isinstance(value, list) else [value]:
            if isinstance(sub, gs.Graph):
                for inner in sub.nodes:
                    found.extend(_reads(inner))
    return found


def _check_inferred_sizes(graph: gs.Graph, path: Path) -> None:
    """A node whose output shape inference puts past the element limit (ConstantOfShape of a huge
    shape, an Expand or Tile blown up by a damaged constant) is refused before anything folds it."""
    from bridgec.core.sizes import too_big

    for tensor in graph.tensors().values():
        shape = tensor.shape
        if not shape or not all(isinstance(d, int) and d >= 0 for d in shape):
            continue
        why = too_big(shape)
        if why:
            producer = tensor.inputs[0] if tensor.inputs else None
            where = f"node {producer.name!r} ({producer.op}) makes" if producer else "tensor"
            raise UsageError(f"{path}: {where} {tensor.name!r} of shape {list(shape)}: {why}")


def _check_data_file(target: Path, location: str, path: Path, folder: Path) -> None:
    """The external data file must be there, and a regular file: onnx opens and reads it whole."""
    from bridgec.core.input_files import regular_file

    if not target.exists():
        raise UsageError(
            f"{path}: its weights are in the external data file {location!r}, which is missing; "
            f"copy it into {folder}"
        )
    regular_file(target, f"{path}: its external data file {location!r}")


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
        _check_data_file(target, location, path, folder)
    try:
        onnx.load_external_data_for_model(model, str(folder))
    except Exception as exc:  # noqa: BLE001 - a short or damaged data file
        raise UsageError(f"{path}: cannot read its external data: {onnx_message(exc)}") from None


# --- the file itself ---------------------------------------------------------------------------------

# protobuf refuses a message past 2 GiB; models that big keep their weights in external data files
MAX_FILE_BYTES = 2 << 30

# ModelProto's fields and their wire types (0 varint, 2 length-delimited), onnx.proto3
_MODEL_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2}
_GRAPH_FIELD = 7
# a field number a newer onnx may add: still within a small message's first numbers
_FUTURE_FIELDS = 64
# enough for any real model's top level (opset imports, metadata, functions); past it, parsing decides
_MAX_WALKED_FIELDS = 100_000


def _varint(data: bytes, pos: int) -> tuple[int, int] | None:
    value = shift = 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None


def header_problem(handle: BinaryIO) -> str | None:
    """Why the open file is no ONNX ModelProto, found by walking its top-level fields (tags and
    lengths, skipping each field's body with a seek), or None. A multi-gigabyte file of something
    else fails within its first bytes, and a truncated model at its last field, before anything is
    read whole."""
    size = os.fstat(handle.fileno()).st_size
    if size > MAX_FILE_BYTES:
        return (
            f"{size:,} bytes, more than the 2 GiB one ONNX file can hold (protobuf's limit; larger models "
            "keep their weights in external data files)"
        )
    if size == 0:
        return "the file is empty"
    pos, seen_graph = 0, False
    for _ in range(_MAX_WALKED_FIELDS):
        if pos == size:
            break
        handle.seek(pos)
        chunk = handle.read(22)  # a tag and a length: two varints of at most 11 bytes each
        tag = _varint(chunk, 0)
        if tag is None:
            return f"a damaged field tag at byte {pos}"
        number, wire = tag[0] >> 3, tag[0] & 7
        expected = _MODEL_FIELDS.get(number)
        if number == 0 or (expected is not None and wire != expected):
            return f"field {number} of wire type {wire} at byte {pos} is not part of an ONNX model"
        if expected is None and (number >= _FUTURE_FIELDS or wire not in (0, 1, 2, 5)):
            return f"unknown field {number} at byte {pos}"
        if wire == 0:
            end = _varint(chunk, tag[1])
            if end is None:
                return f"a damaged number at byte {pos}"
            pos += end[1]
        elif wire == 2:
            length = _varint(chunk, tag[1])
            if length is None:
                return f"a damaged length at byte {pos}"
            body = pos + length[1]
            if length[0] > size - body:
                return f"field {number} at byte {pos} claims {length[0]:,} bytes but the file ends at byte {size:,} (truncated?)"
            pos = body + length[0]
        else:
            pos += tag[1] + (8 if wire == 1 else 4)
        seen_graph = seen_graph or number == _GRAPH_FIELD
    else:
        return None  # a top level this long is no attack on memory: let protobuf decide
    if pos != size:
        return f"the last field runs past the end of the file ({size:,} bytes)"
    if not seen_graph:
        return "it holds no graph"
    return None


def check_header(handle: BinaryIO, path: Path) -> None:
    """A one-line UsageError when the open file is not an ONNX model (see ``header_problem``)."""
    from bridgec.core.input_files import shown

    problem = header_problem(handle)
    if problem:
        raise UsageError(f"{shown(path)}: not a readable ONNX model ({problem}); copy the model file again")


def load_proto(path: Path) -> onnx.ModelProto:
    """The ModelProto in ``path``, without external data: a regular file whose header is an ONNX
    model's, read through the descriptor that was checked."""
    from bridgec.core.input_files import open_regular, shown

    with open_regular(path) as handle:
        check_header(handle, path)
        handle.seek(0)
        try:
            return onnx.load_model_from_string(handle.read())
        except Exception as exc:  # noqa: BLE001 - a truncated or foreign file fails in many ways
            raise UsageError(f"{shown(path)}: not a readable ONNX model ({type(exc).__name__})") from None


def check_opsets(model: onnx.ModelProto, path: Path) -> None:
    """An opset newer than the installed onnx defines has ops (or op versions) nothing here knows:
    onnx would check and infer it as if it were the newest it has, and silently mean something else."""
    newest = onnx.defs.onnx_opset_version()
    opset = default_domain_opset(model)
    if opset > newest:
        raise UsageError(
            f"{path}: the model uses ONNX opset {opset}, newer than the installed onnx {onnx.__version__} "
            f"supports (opsets 7 to {newest}); export it with opset {newest} or older "
            f"(torch.onnx.export(..., opset_version={newest}))"
        )


def load(path: Path, shapes: InputShapes | None = None, dtypes: dict | None = None) -> gs.Graph:
    return read(path, shapes, dtypes)[1]


def read(
    path: Path, shapes: InputShapes | None = None, dtypes: dict | None = None
) -> tuple[onnx.ModelProto, gs.Graph]:
    """The ``.onnx`` file as a validated model onnxruntime can run (the reference a conversion is
    checked against) and as the IR graph the passes rewrite; ``dtypes``: the ones ``--input`` names,
    each checked against the file's."""
    return read_model(load_proto(path), path, shapes, dtypes)


def read_model(
    model: onnx.ModelProto,
    path: Path,
    shapes: InputShapes | None = None,
    dtypes: dict | None = None,
    *,
    in_memory: bool = False,
) -> tuple[onnx.ModelProto, gs.Graph]:
    """``read`` from the ModelProto on: a file's, or one ``bridgec.convert`` was handed
    (``in_memory``: ``path`` only names it, and its weights must all be in it). ``model`` is changed:
    pass a copy of what the caller keeps."""
    if not model.graph.node or model.ir_version <= 0:
        raise UsageError(f"{path}: not an ONNX model (no graph nodes)")
    _check_text(model.graph, path)
    check_opsets(model, path)
    if in_memory:
        from onnx.external_data_helper import _get_all_tensors, uses_external_data

        if any(uses_external_data(t) for t in _get_all_tensors(model)):
            raise UsageError(
                f"{path}: its weights are in external data files the ModelProto does not hold; load it "
                "with onnx.load(path) (which reads them) or pass the .onnx path"
            )
    check_claims(model, path)
    if not in_memory:
        load_external_data(model, path)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise UsageError(f"{path}: invalid ONNX model: {onnx_message(exc)}") from None
    except UnicodeDecodeError:  # a name or string attribute that is not UTF-8: a damaged file
        raise UsageError(f"{path}: invalid ONNX model: a name or string in it is not UTF-8 text") from None
    model = _prepare(model, path, shapes, dtypes)
    return model, _import(model, path)
