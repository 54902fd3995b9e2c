"""ONNX's backend node tests for a Core AI target, the conversion half: each case converted the way
``bridgec model.onnx --format coreai`` converts it (frontend, the ``-O lower-custom`` passes driven by
the Core AI table, ``backends.coreai.builder``) and saved as an ``.aimodel``, with the feeds Apple's
runtime takes. ``node_tests`` then runs every saved model in ONE child process
(``backends.coreai.run.run_batch``: a model that aborts the runtime fails its case, and a new child
goes on) and compares with the case's expected outputs.

What bridgec deliberately does not convert for Core AI (an op with no Core AI emitter and no rule, an
emitter's check refusing the node, a dynamic shape) is ``skipped`` with the reason; Apple's verifier
rejecting what an emitter's check let through, a runtime error or a wrong number is ``failed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper

PIPELINE = "lower-custom"


@dataclass
class Prepared:
    """A converted case: its saved model and, per data set, the feeds Apple's runtime takes."""

    model: Path
    outputs: list[str]
    dtypes: dict[str, np.dtype]  # each output's ONNX dtype (an integer output narrowed is widened back)
    feeds: list[dict[str, np.ndarray]]


def convert_case(model: onnx.ModelProto, target: str | None, path: Path) -> tuple[list[str], list[str], dict]:
    """Convert ``model`` for Core AI and save it at ``path``: (input names, output names, the saved
    model's input dtypes). Raises ``onnx_backend.Unsupported`` for what bridgec deliberately refuses."""
    from bridgec.backends.coreai.builder import build_program
    from bridgec.backends.coreai.capabilities import capabilities_for
    from bridgec.backends.coreai.inputs import coreai_dtype
    from bridgec.core.errors import ConversionError, UsageError
    from bridgec.driver.analysis import analyze_graph
    from bridgec.driver.onnx_backend import Unsupported
    from bridgec.driver.pipeline import RunOptions
    from bridgec.driver.request import ConversionRequest
    from bridgec.frontends.onnx_file import graph_from_model

    name = model.graph.name or "model"
    initializers = {i.name for i in model.graph.initializer}
    for value in [*model.graph.input, *model.graph.output]:
        if not value.type.HasField("tensor_type"):
            raise Unsupported(f"{value.name!r} is a {value.type.WhichOneof('value')}, not a tensor")
        elem = value.type.tensor_type.elem_type
        if elem and value.name not in initializers:
            try:  # the dtypes a Core AI model's interface takes (backends.coreai.inputs)
                coreai_dtype(onnx.helper.tensor_dtype_to_np_dtype(elem), repr(value.name))
            except (ConversionError, TypeError, KeyError) as exc:
                raise Unsupported(f"Core AI interface: {exc}") from None
    try:
        graph = graph_from_model(onnx.ModelProto.FromString(model.SerializeToString()), Path(f"{name}.onnx"))
    except UsageError as exc:
        raise Unsupported(f"frontend: {exc}") from None
    inputs, outputs = [t.name for t in graph.inputs], [t.name for t in graph.outputs]
    caps = capabilities_for(target)
    reasons = {node.name: caps.unsupported_reason(node) for node in graph.nodes}
    request = ConversionRequest.of(
        None, pipeline=PIPELINE, target=target, format="coreai", passes=RunOptions(check_each=False)
    )
    report = analyze_graph(graph, request)
    blocked = [
        r for r in report.rows if r.status == "unsupported" or r.kernel == "none" or r.status == "custom"
    ]
    if blocked:
        row = blocked[0]
        if row.status == "custom":  # a Metal kernel: Apple's runtime cannot run one on Linux
            raise Unsupported(f"{row.op}: kept as a custom kernel, {row.how}")
        raise Unsupported(f"{row.op}: {reasons.get(row.nodes[0]) or row.how}")
    try:
        program = build_program(report.graph, caps.target, name)
    except ConversionError as exc:
        if str(exc).startswith("Core AI rejected the program"):
            raise  # an emitter's check let the node through and Apple's verifier refused it: a bug
        raise Unsupported(f"Core AI emission: {exc}") from None
    program.save(path)
    return inputs, outputs, {name: dtype for name, _, dtype in program.inputs}


def to_array(value) -> np.ndarray:
    """A test's input or expected output (onnx stores float16 and other special types as a TensorProto)."""
    return onnx.numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else np.asarray(value)


def _feed(name: str, value: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A test's input in the dtype the saved model takes; a value that dtype cannot hold is a skip."""
    from bridgec.driver.onnx_backend import Unsupported

    value = to_array(value)
    cast = value.astype(dtype)
    if cast.dtype != value.dtype and not np.array_equal(cast.astype(value.dtype), value, equal_nan=True):
        raise Unsupported(f"input {name!r} holds {value.dtype} values the model's {dtype} input cannot hold")
    return cast


def prepare(case, target: str | None, folder: Path) -> Prepared:
    """Convert one node test case into ``folder`` and take its data sets' inputs as the model takes them."""
    path = folder / f"{case.name}.aimodel"  # reasons name it: the same in every run
    inputs, outputs, declared = convert_case(case.model, target, path)
    feeds = []
    for given, _ in case.data_sets:
        values = list(given.values()) if isinstance(given, dict) else list(given)
        feeds.append({n: _feed(n, v, declared[n]) for n, v in zip(inputs, values, strict=True)})
    dtypes = {
        v.name: np.dtype(onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type))
        for v in case.model.graph.output
        if v.type.tensor_type.elem_type
    }
    return Prepared(path, outputs, dtypes, feeds)


def as_onnx(value: np.ndarray, dtype: np.dtype | None) -> np.ndarray:
    """An output as the ONNX model gives it: an integer or bool narrowed by a rule widened back (exact)."""
    if dtype is None or value.dtype == dtype:
        return value
    if np.issubdtype(value.dtype, np.integer) or value.dtype == np.bool_:
        return value.astype(dtype)
    return value


__all__ = ["Prepared", "as_onnx", "convert_case", "prepare", "to_array"]
