"""Emit a Core ML NeuralNetwork (``.mlmodel``) from legal bridgec IR.

Layout: rank-N (``EXACT_ARRAY_MAPPING``) float32 multiarrays, as ONNX has them, so emitters
translate ops one to one without the old rank-5 [Seq, Batch, C, H, W] bookkeeping.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml import _coremltools, neuralnetwork_layers
from bridgec.backends.coreml import image as image_plans
from bridgec.backends.coreml.capabilities import CoreMLCapabilities, capabilities_for
from bridgec.backends.coreml.classifier import PREDICTED_FEATURE, Classifier, classifier_for
from bridgec.backends.coreml.image import COLOR_LAYOUTS, ImageInput, ImageOutput
from bridgec.backends.coreml.inputs import interface_dtypes, static_inputs
from bridgec.backends.coreml.metadata import Metadata
from bridgec.backends.coreml.targets import Target
from bridgec.core import ir
from bridgec.core.errors import ConversionError
from bridgec.core.words import noun

NEURALNETWORK_MAX_SPEC = 5  # iOS14: the last release that added NeuralNetwork layers


@dataclass
class EmitContext:
    builder: Any  # coremltools NeuralNetworkBuilder
    graph: gs.Graph
    target: Target
    shapes: dict[str, tuple[int, ...]]
    _constant_blobs: dict[str, str] = field(default_factory=dict)

    def const(self, tensor: gs.Tensor) -> np.ndarray | None:
        return ir.constant_value(tensor)

    def shape(self, tensor: gs.Tensor) -> tuple[int, ...] | None:
        if tensor.shape is not None and all(isinstance(d, int) for d in tensor.shape):
            return tuple(tensor.shape)
        return self.shapes.get(tensor.name)

    def blob(self, tensor: gs.Tensor) -> str:
        """The Core ML blob holding ``tensor``; constants get a loadConstantND layer on first use."""
        value = self.const(tensor)
        if value is None:
            return tensor.name
        if tensor.name not in self._constant_blobs:
            array = np.asarray(value, dtype=np.float32)
            shape = array.shape or (1,)
            blob = f"{tensor.name}__const"
            self.builder.add_load_constant_nd(blob, blob, array.reshape(shape), shape)
            self._constant_blobs[tensor.name] = blob
        return self._constant_blobs[tensor.name]

    def input_blobs(self, node: gs.Node) -> list[str]:
        return [self.blob(t) for t in node.inputs if not ir.is_empty(t)]


@dataclass
class EmitResult:
    path: Path
    spec: Any
    layer_kinds: Counter
    custom_classes: dict[str, list[str]]  # className -> layer names


# --- weights ---------------------------------------------------------------------------------------
# coremltools' builder copies weights with ``floatValue.extend(array.flatten())``, which converts
# one numpy scalar at a time: ~0.17 s per million floats, 4+ s of resnet50's 25M. A packed repeated
# float field is just its tag, its byte length and the little-endian floats, so the builder below
# lets coremltools build each weighted layer around an empty array and then merges the real
# weights in as those bytes (a memcpy). The layers are byte-identical to the builder's own.


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fill_floats(weights: Any, values: np.ndarray) -> None:
    """Set ``weights.floatValue`` (a WeightParams or similar message, still empty) to ``values``."""
    if len(weights.floatValue):
        raise ConversionError(f"internal error: {weights.DESCRIPTOR.name} already holds weights")
    field = weights.DESCRIPTOR.fields_by_name["floatValue"]
    data = np.ascontiguousarray(values, dtype="<f4").tobytes()
    weights.MergeFromString(_varint(field.number << 3 | 2) + _varint(len(data)) + data)


def _float_array(value: Any, ndim: int) -> bool:
    """A float array the fast path handles (quantized weights arrive as bytes and keep the slow one)."""
    return isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.ndim == ndim


@functools.cache
def _builder_class(base: type) -> type:
    """``base`` (coremltools' NeuralNetworkBuilder) with the weighted layers' weights copied as bytes."""

    def arguments(method: Any, builder: Any, args: tuple, kwargs: dict) -> inspect.BoundArguments:
        bound = inspect.signature(method).bind(builder, *args, **kwargs)
        bound.apply_defaults()
        return bound

    class Builder(base):
        def add_convolution(self, *args: Any, **kwargs: Any) -> Any:
            bound = arguments(base.add_convolution, self, args, kwargs)
            weight = bound.arguments["W"]
            if not _float_array(weight, 4) or bound.arguments.get("kwargs"):
                return base.add_convolution(self, *args, **kwargs)
            bound.arguments["W"] = np.zeros((0, 0, 0, 0), np.float32)
            layer = base.add_convolution(*bound.args, **bound.kwargs)
            if layer is not None:  # None: the weights are a second input, not parameters
                # the same layout coremltools makes: (out, in / groups, H, W), or (in, out / groups,
                # H, W) for a deconvolution
                order = (2, 3, 0, 1) if bound.arguments["is_deconv"] else (3, 2, 0, 1)
                _fill_floats(layer.convolution.weights, weight.transpose(order))
            return layer

        def add_batched_mat_mul(self, *args: Any, **kwargs: Any) -> Any:
            bound = arguments(base.add_batched_mat_mul, self, args, kwargs)
            weight = bound.arguments["W"]
            plain = not bound.arguments["is_quantized_weight"] and len(bound.arguments["input_names"]) == 1
            if not plain or not _float_array(weight, 2):
                return base.add_batched_mat_mul(self, *args, **kwargs)
            bound.arguments["W"] = np.zeros((0, 0), np.float32)
            layer = base.add_batched_mat_mul(*bound.args, **bound.kwargs)
            _fill_floats(layer.batchedMatmul.weights, weight.T)  # stored (columns, rows)
            return layer

        def add_load_constant_nd(self, name: str, output_name: str, constant_value: Any, shape: Any) -> Any:
            if not _float_array(
                constant_value, constant_value.ndim if isinstance(constant_value, np.ndarray) else -1
            ) or constant_value.size != int(np.prod(shape)):
                return base.add_load_constant_nd(self, name, output_name, constant_value, shape)
            layer = base.add_load_constant_nd(self, name, output_name, np.zeros(1, np.float32), (1,))
            params = layer.loadConstantND
            del params.data.floatValue[:]
            del params.shape[:]
            _fill_floats(params.data, constant_value)
            params.shape.extend(shape)
            self.rank_dict[output_name] = len(shape)
            return layer

    Builder.__name__ = Builder.__qualname__ = f"Packed{base.__name__}"
    return Builder


def _shape_table(graph: gs.Graph) -> dict[str, tuple[int, ...]]:
    model = ir.without_large_weights(ir.export_model(graph, infer_shapes=False))
    model = ir.infer_shapes_best_effort(model)
    table: dict[str, tuple[int, ...]] = {}
    for info in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        dims = info.type.tensor_type.shape.dim
        if info.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
            table[info.name] = tuple(d.dim_value for d in dims)
    return table


def _check_legal(graph: gs.Graph, caps: CoreMLCapabilities) -> None:
    from bridgec.passes import CheckTargetLegal, PassContext

    CheckTargetLegal().call(graph, PassContext(capabilities=caps, pipeline="emit"))


def _image_input(builder: Any, graph: gs.Graph, image: ImageInput) -> None:
    plan = image_plans.plan_input(graph, image)
    red, green, blue = plan.rgb_bias
    builder.set_pre_processing_parameters(
        image_input_names=[plan.name],
        is_bgr=plan.layout == "BGR",
        red_bias=red,
        green_bias=green,
        blue_bias=blue,
        gray_bias=plan.bias[0],
        image_scale=plan.scale,
    )
    feature = next(f for f in builder.spec.description.input if f.name == plan.name)
    if plan.layout == "GRAY":
        feature.type.imageType.colorSpace = feature.type.imageType.GRAYSCALE


def _classifier(builder: Any, classifier: Classifier) -> None:
    description = builder.spec.description
    # set_class_labels makes the first output the probabilities: put the scores output there
    outputs = sorted(description.output, key=lambda feature: feature.name != classifier.scores)
    if outputs[0].name != description.output[0].name:
        copies = [type(feature)() for feature in outputs]
        for copy, feature in zip(copies, outputs, strict=True):
            copy.CopyFrom(feature)
        del description.output[:]
        description.output.extend(copies)
    builder.set_class_labels(
        list(classifier.labels), predicted_feature_name=PREDICTED_FEATURE, prediction_blob=classifier.scores
    )


def build_spec(
    graph: gs.Graph,
    target: Target | str | None = None,
    *,
    metadata: dict[str, str] | None = None,
    image: ImageInput | None = None,
    labels: list[str] | None = None,
    labels_output: str | None = None,
    image_outputs: tuple[ImageOutput, ...] = (),
):
    """The Core ML spec for ``graph``; raises ConversionError naming anything the target lacks.
    ``labels`` make it a classifier of output ``labels_output`` (default: the only one);
    ``image`` and ``image_outputs`` make an input and outputs images (``backends.coreml.image``)."""
    ct = _coremltools.load()
    datatypes, NeuralNetworkBuilder = ct.models.datatypes, ct.models.neural_network.NeuralNetworkBuilder  # noqa: N806

    caps = capabilities_for(target)
    _check_legal(graph, caps)
    classifier = classifier_for(graph, labels, labels_output) if labels else None
    shapes = _shape_table(graph)
    output_images = image_plans.plan_outputs(graph, image_outputs, shapes)
    inputs = [(name, datatypes.Array(*shape)) for name, shape in static_inputs(graph)]
    # Integer and bool features are int32 (the only integer multiarray); the layers see them as float32.
    as_int32 = {change.name for change in interface_dtypes(graph, "neuralnetwork", caps.target.ios)}
    as_int32 |= {
        t.name for t in (*graph.inputs, *graph.outputs) if t.dtype is not None and t.dtype == np.int32
    }
    outputs = [(tensor.name, None) for tensor in graph.outputs]
    mode = "classifier" if labels else None
    builder = _builder_class(NeuralNetworkBuilder)(
        inputs, outputs, mode=mode, disable_rank5_shape_mapping=True
    )
    ctx = EmitContext(builder, graph, caps.target, shapes)
    graph.toposort()
    for node in graph.nodes:
        emitter = neuralnetwork_layers.lookup(node)
        assert emitter is not None  # _check_legal guarantees it
        try:
            emitter.emit(ctx, node)
        except (ConversionError, MemoryError):  # out of memory is no emitter bug
            raise
        except Exception as exc:
            raise ConversionError(f"emitting node {node.name!r} ({ir.op_label(node)}) failed: {exc}") from exc
    spec = builder.spec
    for feature in spec.description.input:
        if feature.name in as_int32:
            feature.type.multiArrayType.dataType = feature.type.multiArrayType.INT32
    for output, tensor in zip(spec.description.output, graph.outputs, strict=True):
        array = output.type.multiArrayType
        array.dataType = array.INT32 if tensor.name in as_int32 else array.FLOAT32
        shape = ctx.shape(tensor)
        if shape:
            output.type.multiArrayType.shape.extend(shape)
    if spec.specificationVersion > caps.target.spec_version:
        raise ConversionError(
            f"the model needs Core ML specification {spec.specificationVersion}, newer than "
            f"{caps.target.name}; choose a newer --target"
        )
    if image is not None:
        _image_input(builder, graph, image)
    if classifier is not None:
        _classifier(builder, classifier)
    spec = builder.spec
    image_plans.set_image_outputs(spec, output_images)
    # No NeuralNetwork layer is newer than iOS14: a model for a newer OS says iOS14 and loads on all.
    spec.specificationVersion = min(caps.target.spec_version, NEURALNETWORK_MAX_SPEC)
    Metadata.from_dict(metadata or {}).apply(spec)
    _validate(spec)
    return spec


def network_of(spec: Any) -> Any:
    """The NeuralNetwork message of a plain model or a classifier (``--labels``)."""
    return getattr(spec, spec.WhichOneof("Type"))


def _validate(spec: Any) -> None:
    """Structural checks Core ML would make at load time: every blob defined before it is read."""
    defined = {feature.name for feature in spec.description.input}
    names: set[str] = set()
    for layer in network_of(spec).layers:
        if layer.name in names:
            raise ConversionError(f"internal error: two Core ML layers named {layer.name!r}")
        names.add(layer.name)
        missing = [blob for blob in layer.input if blob not in defined]
        if missing:
            raise ConversionError(
                f"internal error: layer {layer.name!r} reads undefined {noun(missing, 'blob')} {missing}"
            )
        defined.update(layer.output)
    for feature in spec.description.output:
        if feature.name == spec.description.predictedFeatureName:
            continue  # a classifier's label is made by Core ML from the probabilities, not by a layer
        if feature.name not in defined:
            raise ConversionError(f"internal error: output {feature.name!r} is produced by no layer")


def layer_kinds(spec: Any) -> Counter:
    return Counter(layer.WhichOneof("layer") for layer in network_of(spec).layers)


def custom_classes(spec: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for layer in network_of(spec).layers:
        if layer.WhichOneof("layer") == "custom":
            found.setdefault(layer.custom.className, []).append(layer.name)
    return found


def emit(
    graph: gs.Graph,
    path: str | os.PathLike,
    target: Target | str | None = None,
    *,
    metadata: dict[str, str] | None = None,
) -> EmitResult:
    """Write ``graph`` as a Core ML NeuralNetwork ``.mlmodel`` at ``path``: a plain write, for the
    Python API (the bridgec command stages its outputs and renames them in place, all or none:
    ``bridgec.driver.output``)."""
    path = Path(path)
    if path.suffix != ".mlmodel":
        raise ConversionError(f"{path}: the NeuralNetwork format is written as a .mlmodel file")
    spec = build_spec(graph, target, metadata=metadata)
    path.write_bytes(spec.SerializeToString(deterministic=True))
    return EmitResult(path, spec, layer_kinds(spec), custom_classes(spec))


__all__ = [
    "COLOR_LAYOUTS",
    "EmitContext",
    "ImageInput",
    "EmitResult",
    "build_spec",
    "emit",
    "layer_kinds",
    "custom_classes",
]
