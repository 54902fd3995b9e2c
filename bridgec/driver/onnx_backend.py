"""bridgec as an ``onnx.backend`` backend, so ONNX's own backend node tests run through it.

``prepare`` converts an ONNX model the way ``bridgec model.onnx`` does — frontend (opset upgrade,
shape inference, normalisation), the ``-O`` pipeline's passes, Core ML NeuralNetwork emission —
and ``run`` executes the emitted model with bridgec's numpy reference executor. What bridgec
deliberately does not support (an op no Core ML layer computes and no rule lowers, an attribute
an emitter's capability check refuses, a model input of a type no Core ML feature holds) raises ``unittest.SkipTest``
with the reason; a crash anywhere else is a failure.

    import onnx.backend.test
    from bridgec.driver.onnx_backend import BridgecBackend
    globals().update(onnx.backend.test.BackendTest(BridgecBackend, __name__).include(r"test_relu_").test_cases)
"""

from __future__ import annotations

import unittest
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from bridgec.core.errors import ConversionError, UsageError
from bridgec.core.words import plural

PIPELINE = "lower-custom"

# What a Core ML feature can carry: float32 and float16 as they are, int64, int32 and bool as Core ML's
# int32 (``backends.coreml.inputs.interface_dtypes`` says when that is safe and refuses when not).
_INTERFACE_TYPES = {
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.FLOAT16,
    onnx.TensorProto.INT32,
    onnx.TensorProto.INT64,
    onnx.TensorProto.BOOL,
}


class Unsupported(unittest.SkipTest):
    """bridgec deliberately does not convert this model; the message says why."""


class BridgecRep(BackendRep):
    """A converted model (``model``: a BuiltModel of either format) and the names of its inputs and
    outputs, in graph order."""

    def __init__(
        self,
        model: Any,
        inputs: list[str],
        outputs: list[str],
        report: Any,
        dtypes: dict[str, np.dtype] | None = None,
        scalars: set[str] | None = None,
    ) -> None:
        self.model = model
        self.spec = model.spec
        self.inputs = inputs
        self.outputs = outputs
        self.report = report
        self.dtypes = dtypes or {}  # each output's ONNX dtype, which Core ML's int32 is widened back to
        self.scalars = scalars or set()  # the outputs of rank 0

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        if isinstance(inputs, dict):
            feeds = dict(inputs)
        else:
            values = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
            if len(values) != len(self.inputs):
                raise ValueError(
                    f"expected {plural(self.inputs, 'input')} ({', '.join(self.inputs)}), got {len(values)}"
                )
            feeds = dict(zip(self.inputs, values, strict=True))
        got = self.model.run_reference({k: _as_feature(k, np.asarray(v)) for k, v in feeds.items()})
        return tuple(
            _as_onnx(got[name], self.dtypes.get(name), name in self.scalars) for name in self.outputs
        )


def _as_feature(name: str, value: np.ndarray) -> np.ndarray:
    """An ONNX test's input as a Core ML feature takes it: int64 and bool as int32, which an app feeds.
    Narrowing int64 is exact only where every value fits; a test whose values do not is skipped (a
    Core ML model cannot be given them at all)."""
    if value.dtype == np.bool_:
        return value.astype(np.int32)
    if value.dtype == np.int64:
        limits = np.iinfo(np.int32)
        if value.size and (value.min() < limits.min or value.max() > limits.max):
            raise Unsupported(
                f"input {name!r} holds int64 values outside int32, which no Core ML feature holds"
            )
        return value.astype(np.int32)
    return value


def _as_onnx(value: np.ndarray, dtype: np.dtype | None, scalar: bool = False) -> np.ndarray:
    """A Core ML output as the ONNX model gives it: int32 widened to int64, 0/1 to bool (exact); a
    NeuralNetwork's one-element blob for a rank-0 output (its blobs have rank >= 1) as that scalar."""
    if scalar and value.shape == (1,):
        value = value.reshape(())
    if dtype is None or value.dtype == dtype or not np.issubdtype(value.dtype, np.integer):
        return value
    return value.astype(dtype)


def convert_model(
    model: onnx.ModelProto,
    target: str | None = None,
    pipeline: str = PIPELINE,
    format: str = "neuralnetwork",
    precision: str = "fp32",
):
    """``model`` -> (BuiltModel, graph input names, graph output names, report). Raises ``Unsupported``."""
    from bridgec.backends.coreml import capabilities_for
    from bridgec.backends.coreml.inputs import interface_dtypes
    from bridgec.backends.coreml.model import build
    from bridgec.driver.analysis import analyze_graph
    from bridgec.driver.pipeline import RunOptions
    from bridgec.driver.request import ConversionRequest
    from bridgec.frontends.onnx_file import graph_from_model

    name = model.graph.name or "model"
    initializers = {i.name for i in model.graph.initializer}
    for kind, values in (("input", model.graph.input), ("output", model.graph.output)):
        for value in values:
            if not value.type.HasField("tensor_type"):
                raise Unsupported(
                    f"{kind} {value.name!r} is a {value.type.WhichOneof('value')}, not a tensor"
                )
            elem = value.type.tensor_type.elem_type
            if elem and elem not in _INTERFACE_TYPES and value.name not in initializers:
                kind_name = onnx.TensorProto.DataType.Name(elem)
                raise Unsupported(
                    f"{kind} {value.name!r} is {kind_name}: Core ML features are float or int32"
                )
    try:
        graph = graph_from_model(onnx.ModelProto.FromString(model.SerializeToString()), Path(f"{name}.onnx"))
    except UsageError as exc:
        raise Unsupported(f"frontend: {exc}") from None
    inputs = [t.name for t in graph.inputs]
    outputs = [t.name for t in graph.outputs]
    caps = capabilities_for(target, (), format)
    reasons = {node.name: caps.unsupported_reason(node) for node in graph.nodes}
    request = ConversionRequest.of(
        None, pipeline=pipeline, target=target, format=format, passes=RunOptions(check_each=False)
    )
    report = analyze_graph(graph, request)
    blocked = [r for r in report.rows if r.status == "unsupported" or r.kernel == "none"]
    if blocked:
        row = blocked[0]
        why = reasons.get(row.nodes[0]) or row.how
        if row.status == "custom":
            why += ", and no lowering rule or bundled kernel"
        raise Unsupported(f"{row.op}: {why}")
    try:
        interface_dtypes(report.graph, format, caps.target.ios)
    except (
        ConversionError
    ) as exc:  # a dtype Core ML has no feature for in this format (float16 in a NeuralNetwork)
        raise Unsupported(f"Core ML interface: {exc}") from None
    try:
        built = build(report.graph, caps.target, precision=precision)
    except ConversionError as exc:
        if str(exc).startswith("emitting node"):
            raise  # a capability check let the node through and the emitter broke: a bug, not a skip
        raise Unsupported(f"Core ML emission: {exc}") from None
    return built, inputs, outputs, report


class BridgecBackend(Backend):
    """ONNX backend API over bridgec: convert to Core ML, run with the reference executor (CPU)."""

    target: str | None = None  # the deployment target; None means bridgec's default
    format: str = "neuralnetwork"  # or "mlprogram" (subclass and set it, or pass format=... to prepare)

    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
        return device == "CPU"

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device == "CPU"

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> BridgecRep:
        super().prepare(model, device, **kwargs)
        built, inputs, outputs, report = convert_model(
            model, kwargs.get("target", cls.target), format=kwargs.get("format", cls.format)
        )
        dtypes = {
            value.name: np.dtype(onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type))
            for value in model.graph.output
            if value.type.tensor_type.elem_type
        }
        scalars = {
            value.name
            for value in model.graph.output
            if value.type.tensor_type.HasField("shape") and not value.type.tensor_type.shape.dim
        }
        return BridgecRep(built, inputs, outputs, report, dtypes, scalars)

    @classmethod
    def run_model(
        cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any
    ) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(
        cls, node: onnx.NodeProto, inputs: Sequence[np.ndarray], device: str = "CPU", **kwargs: Any
    ) -> tuple[np.ndarray, ...]:
        """One node on its inputs: wrapped in a model (outputs' shapes from ONNX inference)."""
        from onnx import helper

        values = [np.asarray(v) for v in inputs]
        graph_inputs = [
            helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
            for name, v in zip(node.input, values, strict=False)
        ]
        graph_outputs = [helper.make_empty_tensor_value_info(name) for name in node.output]
        model = helper.make_model(helper.make_graph([node], "node", graph_inputs, graph_outputs))
        model = onnx.shape_inference.infer_shapes(model)
        return cls.run_model(model, values, device, **kwargs)


prepare = BridgecBackend.prepare
run_model = BridgecBackend.run_model
run_node = BridgecBackend.run_node
supports_device = BridgecBackend.supports_device
