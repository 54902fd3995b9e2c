"""Emitters proven by property: one ONNX node, drawn at random from its schema, emitted in a Core ML
format and run by the reference executor, against onnxruntime.

Every drawn case ends in exactly one of:

- ``invalid``: onnxruntime (the ONNX reference) refuses the node itself; hypothesis discards it;
- ``refused``: the target's capability check says why the emitter cannot take it (before emitting);
- ``refused-build``: the emitter raised a ConversionError while building (a late refusal: allowed,
  but counted, since a check that knows it would let the passes lower the node instead);
- ``matched``: the emitted model computes what onnxruntime computes, within the fp32 tolerance;
- ``wrong``: it does not. That is a bug: the test fails and names the case.

A family's test file draws cases for its ops (``schema_cases`` derives inputs and attributes from
``onnx.defs`` and takes per-op ``Hints`` where the schema alone says too little, e.g. which strings
an attribute accepts) and calls ``check_case``. ``BRIDGEC_PROPERTY_EXAMPLES`` sets the examples per
op and format (CI's default keeps the whole suite to a few minutes); ``BRIDGEC_PROPERTY_STATS=DIR``
writes the outcome counts per op and format to ``DIR/stats-<worker>.json``
(``python -m tests.properties.stats DIR`` sums them).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnx_graphsurgeon as gs
from hypothesis import HealthCheck, reject, settings
from hypothesis import strategies as st
from onnx import helper

from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.executor import ExecutorError
from bridgec.backends.coreml.model import build as build_model
from bridgec.backends.coreml.targets import Target
from bridgec.core import ir
from bridgec.core.errors import ConversionError
from bridgec.core.numerics import TOLERANCES, difference

EXAMPLES = int(os.environ.get("BRIDGEC_PROPERTY_EXAMPLES", "25"))
OPSET = 18  # the opset the frontends export at (ONNX files older than 13 are upgraded to it)

# What a family test applies to its @given test: no deadline (the first ML Program build imports
# coremltools), and drawn cases that onnxruntime rejects are expected, so no health check on them.
PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("BRIDGEC_PROPERTY_RANDOM") is None,  # CI: the same cases on every run
)

FORMATS = {"neuralnetwork": ("iOS13", "iOS14", "iOS15"), "mlprogram": ("iOS15", "iOS16", "iOS17", "iOS18")}

_NP = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.INT32: np.int32,
    onnx.TensorProto.BOOL: np.bool_,
}


@dataclass
class In:
    """One input of the node: a graph input (``value`` None: random data of ``shape`` is fed) or a
    constant (an initializer, as the frontends make every weight and folded shape)."""

    shape: tuple[int, ...]
    dtype: Any = np.float32
    value: np.ndarray | None = None
    absent: bool = False  # an optional input left out ("" in the node's input list)
    # a graph input of a dtype Core ML inputs cannot have (bool, int64): the model takes float32
    # and a Cast node makes ``dtype`` of it, as a comparison or a Shape would inside a real model
    from_float: bool = False
    # with from_float and shape (): the graph input has shape [1] and a Squeeze makes the scalar
    # (Core ML model inputs have a rank), as a reduction would inside a real model
    lift: bool = False


@dataclass
class Case:
    op: str
    inputs: list[In]
    attrs: dict[str, Any] = field(default_factory=dict)
    outputs: int = 1
    domain: str = ""
    opset: int = OPSET
    feed: Callable[[np.random.Generator, tuple[int, ...], Any], np.ndarray] | None = None  # custom data
    # a float graph input named "spare" that the node does not read: a Core ML model needs an input,
    # and a node whose inputs are all constants (Constant, ConstantOfShape, Range) has none
    spare: tuple[int, ...] | None = None
    # outputs in an order the op leaves undefined (TopK sorted=0): both sides' outputs are put in
    # one order by this function before they are compared
    canonical: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None

    def describe(self) -> str:
        args = []
        for i, x in enumerate(self.inputs):
            if x.absent:
                args.append("<absent>")
            elif x.value is not None:
                v = np.asarray(x.value)
                shown = v.tolist() if v.size <= 8 else f"<{v.dtype}{list(v.shape)}>"
                args.append(f"const{shown}")
            else:
                args.append(f"x{i}:{np.dtype(x.dtype).name}{list(x.shape)}")
        attrs = ", ".join(f"{k}={v!r}" for k, v in sorted(self.attrs.items()))
        name = f"{self.domain}::{self.op}" if self.domain else self.op
        return f"{name}({', '.join(args)}{'; ' + attrs if attrs else ''})"

    @property
    def node_name(self) -> str:
        return f"{self.op.lower()}_0"

    def _output_info(self, name: str, graph_inputs: list) -> onnx.ValueInfoProto:
        # bridgec's own ops have no onnx.defs schema to infer from, and the checker wants every
        # graph output typed: they are elementwise (ir.BRIDGEC_OPS), so y is typed like x0
        if self.domain == ir.BRIDGEC_DOMAIN and self.op in ir.BRIDGEC_OPS and graph_inputs:
            out = onnx.ValueInfoProto()
            out.CopyFrom(graph_inputs[0])
            out.name = name
            return out
        return helper.make_empty_tensor_value_info(name)

    def model(self) -> onnx.ModelProto:
        names, graph_inputs, inits, prelude = [], [], [], []
        for i, x in enumerate(self.inputs):
            if x.absent:
                names.append("")
                continue
            name = f"x{i}"
            names.append(name)
            if x.value is not None:
                inits.append(onnx.numpy_helper.from_array(np.asarray(x.value, dtype=x.dtype), name))
            elif x.from_float:
                lifted = x.lift and x.shape == ()
                graph_inputs.append(
                    helper.make_tensor_value_info(
                        name, onnx.TensorProto.FLOAT, [1] if lifted else list(x.shape)
                    )
                )
                elem = helper.np_dtype_to_tensor_dtype(np.dtype(x.dtype))
                names[-1] = f"{name}_cast"
                prelude.append(helper.make_node("Cast", [name], [names[-1]], name=f"cast_{name}", to=elem))
                if lifted:
                    names[-1] = f"{name}_scalar"
                    prelude.append(
                        helper.make_node("Squeeze", [f"{name}_cast"], [names[-1]], name=f"squeeze_{name}")
                    )
            else:
                elem = helper.np_dtype_to_tensor_dtype(np.dtype(x.dtype))
                graph_inputs.append(helper.make_tensor_value_info(name, elem, list(x.shape)))
        if self.spare is not None:
            graph_inputs.append(
                helper.make_tensor_value_info("spare", onnx.TensorProto.FLOAT, list(self.spare))
            )
        outs = [f"y{i}" for i in range(self.outputs)]
        node = helper.make_node(self.op, names, outs, name=self.node_name, domain=self.domain, **self.attrs)
        graph = helper.make_graph(
            [*prelude, node],
            "case",
            graph_inputs,
            [self._output_info(o, graph_inputs) for o in outs],
            inits,
        )
        imports = [helper.make_opsetid("", self.opset)]
        if self.domain:
            imports.append(helper.make_opsetid(self.domain, ir.BRIDGEC_OPSET))
        return helper.make_model(graph, opset_imports=imports, ir_version=8)

    def feeds(self, seed: int = 0) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        out = {}
        for i, x in enumerate(self.inputs):
            if x.absent or x.value is not None:
                continue
            fed = np.float32 if x.from_float else x.dtype
            if self.feed is not None:
                out[f"x{i}"] = np.asarray(self.feed(rng, x.shape, x.dtype), dtype=fed)
            elif x.from_float and np.dtype(x.dtype) == np.bool_:
                out[f"x{i}"] = rng.integers(0, 2, x.shape).astype(fed)
            elif x.from_float:
                out[f"x{i}"] = rng.integers(-3, 4, x.shape).astype(fed)
            else:  # np.asarray: a rank-0 draw is a numpy scalar, which onnxruntime does not take
                out[f"x{i}"] = np.asarray((rng.standard_normal(x.shape) * 2).astype(x.dtype))
            if x.from_float and x.lift and x.shape == ():
                out[f"x{i}"] = out[f"x{i}"].reshape(1)
        if self.spare is not None:
            out["spare"] = rng.standard_normal(self.spare).astype(np.float32)
        return out


def const(values, dtype=np.int64) -> In:
    """A constant input (an initializer) holding ``values``."""
    value = np.asarray(values, dtype=dtype)
    return In(value.shape, value.dtype, value)


def runtime(values, dtype=np.int64) -> tuple[In, np.ndarray]:
    """An int input computed at run time (a float graph input cast to ``dtype``), and its value;
    feed it with ``feeding(value)``."""
    value = np.asarray(values, dtype=dtype)
    return In(value.shape, value.dtype, from_float=True, lift=True), value


def feeding(value: np.ndarray):
    """A feed giving the run-time int input ``value`` and random floats to the rest."""

    def feed(rng, shape, dtype):
        if np.dtype(dtype).kind in "iub":
            return value.astype(np.float32)
        return rng.standard_normal(shape) * 2

    return feed


# ---------------------------------------------------------------- outcomes


STATS: Counter = Counter()  # (format, op, outcome) -> count


def write_stats() -> None:
    """Write this process's outcome counts (each pytest-xdist worker writes its own file); called at
    the end of the session by tests/properties/conftest.py."""
    where = os.environ.get("BRIDGEC_PROPERTY_STATS")
    if not where or not STATS:
        return
    Path(where).mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    path = Path(where) / f"stats-{worker}-{os.getpid()}.json"
    path.write_text(json.dumps([[*key, n] for key, n in sorted(STATS.items())]))


@dataclass
class Outcome:
    kind: str  # invalid | refused | refused-build | matched | wrong
    detail: str = ""
    max_rel: float = 0.0


def reference(case: Case) -> tuple[gs.Graph, dict[str, np.ndarray], list[np.ndarray]] | None:
    """The node as an IR graph, its feeds and onnxruntime's outputs; None if ONNX itself rejects it."""
    from bridgec.core.runtimes import run_onnxruntime

    model = case.model()
    try:  # inference types the outputs first: the checker wants every graph output typed
        model = onnx.shape_inference.infer_shapes(model, strict_mode=not case.domain)
        onnx.checker.check_model(model)
    except Exception:  # noqa: BLE001 - any schema violation: not a valid node
        return None
    graph = ir.import_model(model)
    feeds = case.feeds()
    try:  # bridgec's own ops run through their ONNX function definitions
        found = run_onnxruntime(graph, feeds)
    except ConversionError:  # onnxruntime refuses what the spec forbids
        return None
    want = [np.asarray(found[t.name]) for t in graph.outputs]
    # the emitters see what the frontends give them: every output typed and shaped
    for tensor, value in zip(graph.outputs, want, strict=True):
        tensor.dtype, tensor.shape = value.dtype, list(value.shape)
    return graph, feeds, want


def run_case(case: Case, format: str, target: str) -> Outcome:
    found = reference(case)
    if found is None:
        return Outcome("invalid")
    graph, feeds, want = found
    if any(v.size == 0 for v in want) or any(t.shape and 0 in t.shape for t in graph.inputs):
        return Outcome("invalid", "empty tensors are out of scope")
    chosen = Target.parse(target, format=format)
    caps = capabilities_for(chosen)
    # the node under test last: a Cast prelude (``In.from_float``) must be legal too
    for node in sorted(graph.nodes, key=lambda n: n.name == case.node_name):
        why = caps.unsupported_reason(node)
        if why:
            return Outcome("refused", why if node.name == case.node_name else f"{node.name}: {why}")
    try:
        built = build_model(graph.copy(), chosen)
    except ConversionError as exc:
        return Outcome("refused-build", str(exc))
    try:
        got = built.run_reference(feeds)
    except ExecutorError as exc:
        return Outcome("wrong", f"the executor cannot run the emitted model: {exc}")
    names = [t.name for t in graph.outputs]
    if case.canonical is not None and all(n in got for n in names):
        want = case.canonical(want)
        got = dict(zip(names, case.canonical([np.asarray(got[n]) for n in names]), strict=True))
    tolerance = TOLERANCES["fp32"]
    worst = 0.0
    for tensor, expected in zip(graph.outputs, want, strict=True):
        actual = got.get(tensor.name)
        if actual is None:
            return Outcome("wrong", f"output {tensor.name} missing from the emitted model")
        actual = np.asarray(actual)
        if actual.shape != expected.shape and actual.size == expected.size == 1:
            actual = actual.reshape(expected.shape)  # Core ML has no rank-0 tensors
        diff = difference(actual, expected)
        if not diff.within(tolerance):
            detail = diff.note or (
                f"output {tensor.name}: max rel err {diff.max_rel:.3g} (max abs {diff.max_abs:.3g}, "
                f"scale {diff.scale:.3g}); tolerance {tolerance:g}"
            )
            return Outcome("wrong", detail, diff.max_rel)
        worst = max(worst, diff.max_rel)
    return Outcome("matched", max_rel=worst)


def check_case(case: Case, format: str, target: str) -> Outcome:
    """Run ``case``; fail the test if the emitted model is wrong, discard it if ONNX rejects it."""
    outcome = run_case(case, format, target)
    STATS[(format, case.op if not case.domain else f"{case.domain}::{case.op}", outcome.kind)] += 1
    if outcome.kind == "invalid":
        reject()
    assert outcome.kind != "wrong", (
        f"{format} for {target}: {case.describe()} emitted a wrong model: {outcome.detail}"
    )
    return outcome


# ---------------------------------------------------------------- drawing cases from the schema


@dataclass
class Hints:
    """What the schema cannot say about an op: values an attribute may take (a strategy, or a list to
    sample), which inputs must be constants (and their values), the input rank range, and a feed for
    ops that need data away from their edge (log of negatives, ties in argmax)."""

    attrs: dict[str, Any] = field(default_factory=dict)  # name -> strategy | list of values
    required_attrs: tuple[str, ...] = ()  # drawn always (schema-optional but wanted)
    omit_attrs: tuple[str, ...] = ()  # never drawn
    consts: dict[int, Callable[[Any, tuple[int, ...]], np.ndarray | None]] = field(default_factory=dict)
    ranks: tuple[int, int] = (1, 5)
    dims: tuple[int, int] = (1, 5)
    inputs: Callable[[Any, tuple[int, ...]], list[In]] | None = None  # the whole input list
    feed: Callable | None = None
    outputs: int | None = None


def _schema(op: str, domain: str = "", opset: int = OPSET) -> onnx.defs.OpSchema:
    return onnx.defs.get_schema(op, opset, domain)


def _float_attr() -> st.SearchStrategy:
    return st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0, 1.5, 2.0, 3.0, -0.5, -1.0, 6.0, 1e-5])


def _generic_attr(kind: onnx.AttributeProto.AttributeType, rank: int) -> st.SearchStrategy | None:
    A = onnx.AttributeProto
    if kind == A.INT:
        return st.integers(-rank, max(rank, 3))
    if kind == A.FLOAT:
        return _float_attr()
    if kind == A.INTS:
        return st.lists(st.integers(-rank, max(rank, 3)), min_size=1, max_size=max(rank, 1))
    if kind == A.FLOATS:
        return st.lists(_float_attr(), min_size=1, max_size=max(rank, 1))
    return None  # strings, tensors, graphs: only with hints


def _dtype_for(schema: onnx.defs.OpSchema, formal: onnx.defs.OpSchema.FormalParameter) -> Any:
    allowed = next(
        (c.allowed_type_strs for c in schema.type_constraints if c.type_param_str == formal.type_str), None
    )
    allowed = allowed or [formal.type_str]
    for name, dtype in (
        ("tensor(float)", np.float32),
        ("tensor(int64)", np.int64),
        ("tensor(bool)", np.bool_),
    ):
        if name in allowed:
            return dtype
    return np.float32


@st.composite
def shapes(draw, ranks: tuple[int, int] = (1, 5), dims: tuple[int, int] = (1, 5)) -> tuple[int, ...]:
    rank = draw(st.integers(*ranks))
    return tuple(draw(st.integers(*dims)) for _ in range(rank))


@st.composite
def broadcast_of(draw, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that numpy-broadcasts against ``shape``: a suffix of it with some dims set to 1."""
    keep = draw(st.integers(0, len(shape)))
    tail = shape[len(shape) - keep :]
    return tuple(1 if draw(st.booleans()) else d for d in tail)


def _draw_value(draw, spec: Any) -> Any:
    if isinstance(spec, st.SearchStrategy):
        return draw(spec)
    if isinstance(spec, (list, tuple)):
        return draw(st.sampled_from(list(spec)))
    return spec


@st.composite
def kept_cases(draw, op: str, hints: Hints | None = None) -> Case:
    """A node of one of bridgec's own ops (``ir.BRIDGEC_OPS``, which have no onnx.defs schema): one
    float input x and the attributes its table entry lists, each drawn or left to its default like a
    schema's optional attributes (floats as ``_float_attr``, strings only from ``hints.attrs``)."""
    hints = hints or Hints()
    shape = draw(shapes(hints.ranks, hints.dims))
    inputs = hints.inputs(draw, shape) if hints.inputs is not None else [In(shape)]
    attrs = {}
    for name, kind in ir.BRIDGEC_OPS[op].items():
        if name in hints.omit_attrs or not (name in hints.required_attrs or draw(st.booleans())):
            continue
        spec = hints.attrs.get(name)
        if spec is None and kind == "float":
            spec = _float_attr()
        if spec is None:
            continue
        value = _draw_value(draw, spec)
        if value is not None:
            attrs[name] = value
    return Case(op, inputs, attrs, outputs=hints.outputs or 1, domain=ir.BRIDGEC_DOMAIN, feed=hints.feed)


@st.composite
def schema_cases(draw, op: str, hints: Hints | None = None, domain: str = "") -> Case:
    """A node of ``op`` with inputs and attributes drawn from its ONNX schema, steered by ``hints``."""
    hints = hints or Hints()
    if domain == ir.BRIDGEC_DOMAIN and op in ir.BRIDGEC_OPS:
        return draw(kept_cases(op, hints))
    schema = _schema(op, domain, OPSET if not domain else ir.BRIDGEC_OPSET)
    shape = draw(shapes(hints.ranks, hints.dims))
    if hints.inputs is not None:
        inputs = hints.inputs(draw, shape)
    else:
        inputs = []
        Option = onnx.defs.OpSchema.FormalParameterOption
        for index, formal in enumerate(schema.inputs):
            count = 1
            if formal.option == Option.Variadic:
                count = draw(st.integers(1, 3))
            for _ in range(count):
                position = len(inputs)
                if (
                    formal.option == Option.Optional
                    and position not in hints.consts
                    and not draw(st.booleans())
                ):
                    inputs.append(In((), absent=True))
                    continue
                dtype = _dtype_for(schema, formal)
                make = hints.consts.get(position)
                if make is not None:
                    value = make(draw, shape)
                    if value is None:
                        inputs.append(In((), absent=True))
                    else:
                        value = np.asarray(value)
                        inputs.append(In(value.shape, value.dtype, value))
                    continue
                in_shape = shape if index == 0 else draw(st.one_of(st.just(shape), broadcast_of(shape)))
                if dtype is np.float32:
                    inputs.append(In(in_shape, dtype))
                else:  # Core ML inputs are float: other dtypes come in as constants
                    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
                    inputs.append(In(in_shape, dtype, rng.integers(0, 2, in_shape).astype(dtype)))
        while inputs and inputs[-1].absent:
            inputs.pop()
    attrs = {}
    rank = len(shape)
    for name, attr in schema.attributes.items():
        if name in hints.omit_attrs:
            continue
        wanted = attr.required or name in hints.required_attrs or draw(st.booleans())
        if not wanted:
            continue
        spec = hints.attrs.get(name)
        strategy = spec if spec is not None else _generic_attr(attr.type, rank)
        if strategy is None:
            continue
        value = _draw_value(draw, strategy)
        if value is not None:
            attrs[name] = value
    outputs = hints.outputs or max(
        1, len([o for o in schema.outputs if o.option != onnx.defs.OpSchema.FormalParameterOption.Optional])
    )
    return Case(op, inputs, attrs, outputs=outputs, domain=domain, feed=hints.feed)


def prove(data: st.DataObject, case: Case | st.SearchStrategy, format: str) -> Outcome:
    """Draw a case (or take the one given) and a target of ``format`` (emitters differ by version),
    and check it: the body of a family's ``@given(data=st.data())`` test."""
    if isinstance(case, st.SearchStrategy):
        case = data.draw(case, label="case")
    target = data.draw(st.sampled_from(FORMATS[format]), label="target")
    return check_case(case, format, target)


def ops_of(format: str, family: str) -> Sequence[str]:
    import importlib

    package = "neuralnetwork_layers" if format == "neuralnetwork" else "mlprogram_ops"
    module = importlib.import_module(f"bridgec.backends.coreml.{package}.{family}")
    return sorted({e.op for e in module.emitters})
