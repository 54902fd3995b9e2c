"""Emit a Core ML ML Program (``.mlpackage``) from legal bridgec IR through coremltools' MIL builder.

Each ONNX node becomes MIL ops by the table in ``backends/coreml/mlprogram_ops``; ``ct.convert`` then runs
coremltools' own MIL passes (conv + batchnorm folding, bias fusion, fp16 casts) and writes the
program. Values are float32 at the interface (float16 from iOS16; int64 and bool as int32, see
``inputs.interface_dtypes``); integers inside are int32, as MIL wants them.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml import _coremltools, mil_pipeline, mlprogram_ops, state
from bridgec.backends.coreml import image as image_plans
from bridgec.backends.coreml.capabilities import CoreMLCapabilities
from bridgec.backends.coreml.classifier import (
    MLPROGRAM_PROBABILITIES,
    PREDICTED_FEATURE,
    Classifier,
    classifier_for,
)
from bridgec.backends.coreml.image import ImageInput, ImageOutput
from bridgec.backends.coreml.inputs import interface_dtypes, static_inputs
from bridgec.backends.coreml.targets import DEFAULT_TARGET, PRECISIONS, Target
from bridgec.core import ir
from bridgec.core.errors import ConversionError
from bridgec.core.words import noun

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INT32 = np.iinfo(np.int32)


def mil_array(value: np.ndarray) -> np.ndarray:
    """A constant as MIL stores it: float32, int32 (clamped) or bool."""
    value = np.asarray(value)
    if value.dtype == np.bool_:
        return value
    if np.issubdtype(value.dtype, np.integer):
        return np.clip(value, _INT32.min, _INT32.max).astype(np.int32)
    return value.astype(np.float32, copy=False)  # a float32 weight as it is: 330 MB for vit_b_16


@dataclass
class MilContext:
    """What an emitter sees: the MIL builder, the values made so far, and naming."""

    mb: Any  # coremltools.converters.mil.Builder
    ios: int
    graph: gs.Graph
    values: dict[str, Any] = field(default_factory=dict)  # tensor name -> MIL Var or numpy constant
    _taken: set[str] = field(default_factory=set)

    def const(self, tensor: gs.Tensor) -> np.ndarray | None:
        """The tensor's value if known at conversion time, else None: a constant of the IR, a value
        folded here (shapes of static tensors), or a MIL op all of whose inputs were known."""
        value = ir.constant_value(tensor)
        if value is not None:
            return value
        found = self.values.get(tensor.name)
        if isinstance(found, np.ndarray):
            return found
        known = getattr(found, "val", None)  # MIL's value inference
        return None if known is None else np.asarray(known)

    def require(self, node: gs.Node, index: int) -> np.ndarray:
        """The value of input ``index`` of ``node``, which its check said is known when building."""
        value = self.const(node.inputs[index])
        if value is None:
            raise ConversionError(
                f"node {node.name!r} ({ir.op_label(node)}): input {node.inputs[index].name!r} was expected to "
                "fold to a constant and did not; make it a constant in the model"
            )
        return value

    def value(self, tensor: gs.Tensor) -> Any:
        """The MIL Var for ``tensor``, or its constant value as a MIL-typed numpy array."""
        value = ir.constant_value(tensor)
        if value is not None:
            return mil_array(value)
        if tensor.name not in self.values:
            raise ConversionError(f"internal error: tensor {tensor.name!r} is read before it is made")
        found = self.values[tensor.name]
        return mil_array(found) if isinstance(found, np.ndarray) else found

    def shape(self, tensor: gs.Tensor) -> tuple[int, ...] | None:
        """The static shape of ``tensor`` (from its MIL type or constant value), else None."""
        value = self.value(tensor)
        shape = tuple(value.shape)
        return shape if all(isinstance(d, int | np.integer) for d in shape) else None

    def set(self, tensor: gs.Tensor, value: Any) -> None:
        self.values[tensor.name] = value

    def name(self, tensor: gs.Tensor) -> str:
        """The MIL name for the op producing ``tensor``: a graph output keeps its own name."""
        if tensor.name in self._outputs:
            return tensor.name
        return self._unique(mil_identifier(tensor.name))

    def tmp_name(self, what: str) -> str:
        """A name for an op of no node (the casts at the model's interface)."""
        return self._unique(mil_identifier(what))

    def tmp(self, node: gs.Node, what: str) -> str:
        """A name for an intermediate op of ``node``'s expansion."""
        return self._unique(mil_identifier(f"{node.name}_{what}"))

    @functools.cached_property
    def _outputs(self) -> set[str]:
        return {t.name for t in self.graph.outputs}

    def _unique(self, name: str) -> str:
        base, n = name, 1
        while name in self._taken or name in self._outputs:
            name = f"{base}_{n}"
            n += 1
        self._taken.add(name)
        return name


def _check_nodes(graph: gs.Graph, target: Target) -> None:
    custom = [n for n in graph.nodes if ir.op_key(n)[0] == ir.CUSTOM_DOMAIN]
    if custom:
        names = ", ".join(f"{n.name!r} ({n.op})" for n in custom[:5])
        raise ConversionError(
            f"custom layer {noun(custom, 'node')} {names} cannot be in an ML Program (Core ML custom layers "
            "exist only "
            "in the NeuralNetwork format); convert with --format neuralnetwork, or lower these ops instead"
        )
    caps = CoreMLCapabilities(target)  # its table (mlprogram_ops) and the rank limit of every format
    for node in graph.nodes:
        reason = caps.unsupported_reason(node)
        if reason:
            raise ConversionError(
                f"node {node.name!r} ({ir.op_label(node)}): {reason}; run the passes for this ML Program "
                f"target (bridgec convert -O lower-custom) so it is lowered, or choose a newer --target"
            )


def _input_specs(mb: Any, graph: gs.Graph, ios: int) -> dict[str, Any]:
    from coremltools.converters.mil.mil import types

    mil_types = {np.float32: types.fp32, np.float16: types.fp16, np.int32: types.int32}
    changed = {c.name: c.coreml_dtype for c in interface_dtypes(graph, "mlprogram", ios)}
    dtypes = {t.name: np.dtype(changed.get(t.name, t.dtype or np.float32)).type for t in graph.inputs}
    return {
        name: mb.TensorSpec(shape=shape, dtype=mil_types[dtypes[name]])
        for name, shape in static_inputs(graph)
    }


def _bool_inputs(ctx: MilContext) -> None:
    """A bool input arrives as int32 (Core ML has no bool feature, ``inputs.interface_dtypes``): the
    program reads it as ``x != 0``, the cast MIL defines for int32 -> bool."""
    for tensor in ctx.graph.inputs:
        if tensor.dtype is not None and np.dtype(tensor.dtype) == np.bool_:
            ctx.set(
                tensor, ctx.mb.cast(x=ctx.values[tensor.name], dtype="bool", name=ctx.tmp_name(tensor.name))
            )


def _is_bool(value: Any, types: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.dtype == np.bool_
    return types.is_bool(getattr(value, "dtype", None))


def mil_identifier(name: str) -> str:
    """The MIL value name bridgec gives an ONNX tensor (``/enc/Conv_output_0`` -> ``_enc_Conv_output_0``);
    ``bridgec verify --per-node`` maps the executor's values back to the graph with it."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


def _check_names(graph: gs.Graph) -> None:
    # coremltools would silently rename these (input.1 -> input_1), and the reference executor and
    # `bridgec verify` feed and read features by their ONNX names.
    for kind, tensors in (("input", graph.inputs), ("output", graph.outputs)):
        for tensor in tensors:
            if not _IDENTIFIER.match(tensor.name):
                raise ConversionError(
                    f"graph {kind} {tensor.name!r} is not a valid ML Program name (letters, digits and _, "
                    f"not starting with a digit); rename it in the model (e.g. "
                    f"{mil_identifier(tensor.name)!r}) or use the NeuralNetwork format"
                )


def build_program(graph: gs.Graph, target: Target) -> Any:
    """The MIL program (before coremltools' passes) for ``graph``."""
    ct = _coremltools.load()
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import Function, Program, types

    _check_names(graph)
    _check_nodes(graph, target)
    state.check_target(graph, target)
    ios = target.ios
    opset = getattr(ct.target, f"iOS{ios}")
    graph.toposort()
    tensors = {k: v for k, v in _input_specs(mb, graph, ios).items() if not state.is_state_input(graph, k)}
    with Function({**tensors, **state.input_specs(mb, graph)}, opset) as function:
        ctx = MilContext(mb, ios, graph, dict(function.inputs), set(function.inputs))
        state.read_states(ctx, function.inputs)
        _bool_inputs(ctx)
        for node in graph.nodes:
            try:
                mlprogram_ops.lookup(node).emit(ctx, node)
            except (ConversionError, MemoryError):  # out of memory is no emitter bug
                raise
            except Exception as exc:
                raise ConversionError(
                    f"emitting node {node.name!r} ({ir.op_label(node)}) as MIL failed: {exc}; convert with "
                    f"--avoid-op {node.op} so the passes lower it, and report the model to bridgec"
                ) from exc
        state.update_states(ctx, function.inputs)
        outputs = []
        for tensor in state.model_outputs(graph):  # a state's new value is written, not returned
            value = ctx.values.get(tensor.name)
            if value is None and ir.constant_value(tensor) is None:
                raise ConversionError(f"output {tensor.name!r} is produced by no node")
            var = ctx.value(tensor)
            if _is_bool(var, types):
                var = mb.cast(x=var, dtype="int32", name=tensor.name)  # Core ML has no bool output
            elif not hasattr(var, "op") or var.name != tensor.name or var in outputs:
                var = mb.identity(x=var, name=tensor.name)  # an alias, an input or a constant
            outputs.append(var)
        function.set_outputs(outputs)
    program = Program()
    program.add_function("main", function)
    return program


def build_mlprogram(
    graph: gs.Graph,
    target: Target | str | None = None,
    *,
    precision: str = "fp32",
    labels: list[str] | None = None,
    labels_output: str | None = None,
    image: ImageInput | None = None,
    image_outputs: tuple[ImageOutput, ...] = (),
    flexible: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Any:
    """The ML Program ``coremltools.models.MLModel`` for ``graph``; save it with ``.save(path.mlpackage)``.

    ``flexible``: the program will take other input shapes too (``backends.coreml.flexible``), so
    coremltools must not write the sizes it can infer into ops that would compute them anyway.

    ``image`` and ``image_outputs`` make an input and outputs Core ML images
    (``backends.coreml.image``): coremltools declares them and writes the input's scale and bias
    as ``mul`` and ``add`` ops after it, as ``ct.convert`` does with a ``ct.ImageType``.

    ``labels`` make it a classifier of output ``labels_output`` (default: the only one): coremltools
    ends the program with MIL's ``classify`` op, whose outputs (the top class, ``classLabel``, and
    the dictionary ``classLabel_probs``) replace that output, as ``ct.convert`` does with a
    ``ClassifierConfig``.

    ``precision`` "fp16" computes in float16; the model's inputs and outputs stay float32 (coremltools
    casts at the boundary). ``progress`` is told when coremltools' part starts (a long one for a big
    model). Raises ConversionError naming the node, its op and what to do.
    """
    if precision not in PRECISIONS:
        raise ConversionError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    target = _as_target(target)
    ios = target.ios
    if ios < 15:
        raise ConversionError(f"target {target.name}: ML Program needs iOS15 / macOS12 or newer")
    ct = _coremltools.load()
    classifier = classifier_for(graph, labels, labels_output) if labels else None
    input_image = image_plans.plan_input(graph, image) if image is not None else None
    program = build_program(graph, target)
    _image_outputs(ct, program, graph, image_outputs)
    if progress is not None:
        progress("coremltools: running its MIL passes and packaging the ML Program")
    # coremltools' pass progress bars (tqdm, no off switch) go to the discarded stderr; its
    # renaming warnings cannot apply, _check_names having refused such names.
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stderr(io.StringIO()),
        _heap_frozen(),
        mil_pipeline.applied(),  # its passes without the per-pass validation and idle passes
    ):
        warnings.simplefilter("ignore")
        try:
            model = ct.convert(
                program,
                convert_to="mlprogram",
                minimum_deployment_target=getattr(ct.target, f"iOS{ios}"),
                compute_precision=ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32,
                skip_model_load=True,  # Core ML itself cannot load models on Linux
                pass_pipeline=_passes(ct, flexible),
                inputs=None if input_image is None else [image_plans.coremltools_input_type(ct, input_image)],
                classifier_config=None
                if classifier is None
                else ct.ClassifierConfig(
                    list(classifier.labels),
                    predicted_feature_name=PREDICTED_FEATURE,
                    predicted_probabilities_output=classifier.scores,
                ),
            )
        except Exception as exc:
            raise ConversionError(f"coremltools could not finish the ML Program: {exc}") from exc
    _check_outputs_and_drop_date(model, graph, classifier)
    return model


def _image_outputs(ct: Any, program: Any, graph: gs.Graph, outputs: tuple[ImageOutput, ...]) -> None:
    """Mark the image outputs on the program: coremltools describes them as images (``ct.convert``
    reads ``outputs=`` into the same ``set_output_types``, which a MIL program given to it must
    carry itself)."""
    if not outputs:
        return
    function = program.functions["main"]
    shapes = {var.name: tuple(var.shape) for var in function.outputs}
    by_name = {plan.name: plan for plan in image_plans.plan_outputs(graph, outputs, shapes)}
    function.set_output_types(
        [
            image_plans.coremltools_output_type(ct, by_name[var.name])
            if var.name in by_name
            else ct.TensorType(name=var.name)
            for var in function.outputs
        ]
    )


def _passes(ct: Any, flexible: bool) -> Any:
    """coremltools' default passes; for a flexible program without ``add_conv_transpose_output_shape``,
    which gives each conv_transpose its output size at the shape it was built at, where Core ML
    otherwise computes it from the input and the pads (the MIL reference's Dout) at every shape."""
    pipeline = ct.PassPipeline.DEFAULT  # a new pipeline each time
    if flexible:
        pipeline.remove_passes(["common::add_conv_transpose_output_shape"])
    return pipeline


@contextlib.contextmanager
def _heap_frozen() -> Iterator[None]:
    """coremltools calls gc.collect() between its passes (a dozen times per conversion), and each one
    scans every object alive: torch, onnx and the graph included. Frozen objects are not scanned, and
    nothing made before the conversion becomes garbage during it."""
    import gc

    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _as_target(target: Target | str | None) -> Target:
    if target is None or isinstance(target, str):
        return Target.parse(target or DEFAULT_TARGET, format="mlprogram")
    return target if target.format == "mlprogram" else target.with_format("mlprogram")


def _check_outputs_and_drop_date(model: Any, graph: gs.Graph, classifier: Classifier | None) -> None:
    spec = model.get_spec()
    got = [f.name for f in spec.description.output]
    want = [t.name for t in state.model_outputs(graph)]
    if classifier is not None:  # the classify op's two outputs come first, in place of the scores
        classified = [PREDICTED_FEATURE, MLPROGRAM_PROBABILITIES]
        want = [*classified, *(name for name in want if name != classifier.scores)]
    if got != want:  # guards the naming contract above
        raise ConversionError(f"internal error: ML Program outputs {got}, the graph's are {want}")
    # coremltools stamps the conversion date; drop it so one graph always gives the same package.
    model.user_defined_metadata.pop("com.github.apple.coremltools.conversion_date", None)


def mil_op_kinds(spec: Any, *, include_const: bool = False) -> Counter:
    """How many MIL ops of each type an ML Program spec holds (``const`` left out unless asked)."""
    counts: Counter = Counter()
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                if include_const or op.type != "const":
                    counts[op.type] += 1
    return counts


def mil_op_counts(model: Any, *, include_const: bool = False) -> Counter:
    """``mil_op_kinds`` of a coremltools ``MLModel``."""
    return mil_op_kinds(model.get_spec(), include_const=include_const)


__all__ = [
    "MilContext",
    "PRECISIONS",
    "build_mlprogram",
    "build_program",
    "mil_array",
    "mil_op_counts",
    "mil_op_kinds",
]
