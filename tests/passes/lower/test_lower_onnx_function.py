"""lower::onnx_function: a standard op the format refuses, replaced by its ONNX function body. Per
op and format: the op is gone, every node left is legal (after the legalisations that follow it),
the graph's inputs and outputs are kept, and the numbers equal onnxruntime's on the original node
(after the rewrite, and in the emitted model run by the reference executor); an op the format runs
as it is, or that a named legalisation after it handles, stays; a body the format cannot run is a
near miss naming the op it lacks; torch's scaled_dot_product_attention, RMSNorm and GroupNorm,
exported at opset 23, convert end to end."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.passes.lower.onnx_function import LegalizeOnnxFunction
from tests.helpers import assert_io_kept, assert_matches, graph_from_text, op_types, run_graph
from tests.passes.lower.legalize_cases import MLP, NN, emit_and_run

KEY = f"{LegalizeOnnxFunction.id}/function_body"
BOTH = (NN, MLP)


def model(body: str, inputs: str, outputs: str, opset: int = 18) -> str:
    return f'<ir_version: 10, opset_import: ["" : {opset}]> g ({inputs}) => ({outputs}) {{\n {body}\n}}'


X = "float[2,3,4] x"
Y = "float[2,3,4] y"
W, WY = "float[2,10] x", "float[2,10] y"

# name: (graph, the formats it converts in, op types after the rewrite or None for "too many to list")
CASES = {
    "shrink": (
        model("y = Shrink <lambd = 0.5, bias = 0.25> (x)", X, Y),
        BOTH,
        ["Add", "Less", "Less", "Sub", "Where", "Where"],
    ),
    "shrink_defaults": (
        model("y = Shrink (x)", X, Y),
        BOTH,
        ["Add", "Less", "Less", "Sub", "Where", "Where"],
    ),
    "thresholded_relu": (model("y = ThresholdedRelu <alpha = 0.5> (x)", X, Y), BOTH, ["Less", "Where"]),
    "mean_variance_normalization": (
        model("y = MeanVarianceNormalization (x)", "float[2,3,4,5] x", "float[2,3,4,5] y"),
        BOTH,
        ["Add", "Div", "Pow", "Pow", "ReduceMean", "ReduceMean", "Sqrt", "Sub", "Sub"],
    ),
    "mean_variance_normalization_opset13": (
        model("y = MeanVarianceNormalization <axes = [1]> (x)", "float[2,3,4,5] x", "float[2,3,4,5] y", 13),
        BOTH,
        None,
    ),
    # a signal times a window of constant length: the window folds to a constant
    "hann_window": (
        model("n = Constant <value = int64 {10}> ()\n w = HannWindow (n)\n y = Mul (x, w)", W, WY),
        BOTH,
        ["Constant", "Mul"],
    ),
    "hamming_window_symmetric": (
        model(
            "n = Constant <value = int64 {10}> ()\n w = HammingWindow <periodic = 0> (n)\n y = Mul (x, w)",
            W,
            WY,
        ),
        BOTH,
        ["Constant", "Mul"],
    ),
    "blackman_window": (
        model("n = Constant <value = int64 {10}> ()\n w = BlackmanWindow (n)\n y = Mul (x, w)", W, WY),
        BOTH,
        ["Constant", "Mul"],
    ),
    "center_crop_pad": (
        model(
            "s = Constant <value = int64[2] {3, 6}> ()\n y = CenterCropPad <axes = [1, 2]> (x, s)",
            "float[2,5,4] x",
            "float[2,3,6] y",
        ),
        BOTH,
        ["Pad", "Slice"],
    ),
    # rotation of the first 4 of 8 channels per head, 2 heads packed in the last axis
    "rotary_embedding_partial": (
        model(
            "y = RotaryEmbedding <rotary_embedding_dim = 4, num_heads = 2> (x, c, s)",
            "float[1,3,16] x, float[1,3,2] c, float[1,3,2] s",
            "float[1,3,16] y",
            23,
        ),
        BOTH,
        None,
    ),
    "swish": (model("y = Swish <alpha = 1.5> (x)", X, Y, 24), BOTH, ["Mul", "Mul", "Sigmoid"]),
    # to an integer type from any float: Cast, which lower::cast (after this pass) makes a truncation
    "castlike": (
        model("t = Constant <value = int32[1] {0}> ()\n y = CastLike (x, t)", X, "int32[2,3,4] y", 23),
        BOTH,
        None,
    ),
    "group_normalization": (
        model(
            "y = GroupNormalization <num_groups = 2, epsilon = 0.001> (x, s, b)",
            "float[2,4,3,3] x, float[4] s, float[4] b",
            "float[2,4,3,3] y",
            21,
        ),
        BOTH,
        None,
    ),
    "rms_normalization": (
        model("y = RMSNormalization (x, s)", "float[2,3,8] x, float[8] s", "float[2,3,8] y", 23),
        BOTH,
        ["Add", "Div", "Mul", "Mul", "ReduceMean", "Sqrt"],
    ),
    "attention": (
        model(
            "y = Attention (q, k, v)",
            "float[2,4,3,8] q, float[2,4,5,8] k, float[2,4,5,8] v",
            "float[2,4,3,8] y",
            23,
        ),
        BOTH,
        None,
    ),
    # a key/value cache and every optional output: the body reads its own outputs (present_key)
    "attention_past_and_present": (
        model(
            "y, pk, pv, qk = Attention <qk_matmul_output_mode = 1> (q, k, v, , pastk, pastv)",
            "float[2,4,3,8] q, float[2,4,5,8] k, float[2,4,5,8] v, float[2,4,2,8] pastk, float[2,4,2,8] pastv",
            "float[2,4,3,8] y, float[2,4,7,8] pk, float[2,4,7,8] pv, float[2,4,3,7] qk",
            23,
        ),
        BOTH,
        None,
    ),
    "attention_causal_scaled": (
        model(
            "y = Attention <is_causal = 1, scale = 0.25> (q, k, v)",
            "float[1,2,4,8] q, float[1,2,4,8] k, float[1,2,4,8] v",
            "float[1,2,4,8] y",
            23,
        ),
        BOTH,
        None,
    ),
}


def _feeds(graph) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(23)
    feeds = {}
    for t in graph.inputs:
        values = rng.standard_normal(t.shape) * 2
        feeds[t.name] = (
            values.astype(t.dtype) if np.dtype(t.dtype).kind == "f" else values.round().astype(t.dtype)
        )
    return feeds


def _legalise(graph, fmt: str) -> passes.PassContext:
    """The legalisations as every pipeline runs them, this pass first."""
    context = passes.PassContext(capabilities=capabilities_for("iOS15", format=fmt))
    ids = [p for p in passes.PIPELINES["none"] if p != "check::target_legal"]
    passes.Pipeline([passes.create(p) for p in ids]).run(graph, context=context)
    return context


@pytest.mark.parametrize("fmt", BOTH)
@pytest.mark.parametrize("case", CASES)
def test_function_body_in_place_of_the_op(case, fmt):
    text, formats, expected = CASES[case]
    if fmt not in formats:
        pytest.skip(f"{case} does not convert in {fmt}")
    graph = graph_from_text(text)
    caps = capabilities_for("iOS15", format=fmt)
    [op] = [n.op for n in graph.nodes if caps.unsupported_reason(n)]  # the format refuses it as it is
    feeds = _feeds(graph)
    want = run_graph(graph, feeds)
    before = graph.copy()
    context = _legalise(graph, fmt)
    assert context.rule_hits[KEY] == 1
    assert op not in op_types(graph)
    if expected is not None:
        assert op_types(graph) == expected
    assert_io_kept(before, graph)
    assert not [(n.name, caps.unsupported_reason(n)) for n in graph.nodes if caps.unsupported_reason(n)]
    # the body is the op's definition; onnxruntime's own kernel may sum in another order
    for got, expect in zip(run_graph(graph, feeds), want, strict=True):
        assert_matches(got, expect, tolerance=1e-6, what=f"{case} rewritten")
    emitted = emit_and_run(graph, fmt, feeds)
    for tensor, expect in zip(graph.outputs, want, strict=True):
        assert_matches(emitted[tensor.name], expect, what=f"{case} emitted")


# name: (graph, format): the format runs the op, or a named legalisation after this one handles it
NOT_HERE = {
    "relu": (model("y = Relu (x)", X, Y), NN),
    "hardsigmoid": (model("y = HardSigmoid (x)", X, Y), MLP),
    "softplus": (model("y = Softplus (x)", X, Y), NN),
    # PRelu with a slope on the last axis: NeuralNetwork refuses it, lower::prelu has a named rule
    "prelu_last_axis": (
        model(
            "s = Constant <value = float[4] {0.1, 0.2, 0.3, 0.4}> ()\n y = PRelu (x, s)",
            X,
            Y,
        ),
        NN,
    ),
}


@pytest.mark.parametrize("case", NOT_HERE)
def test_does_not_fire_where_the_format_or_a_named_rule_takes_the_op(case):
    text, fmt = NOT_HERE[case]
    graph = graph_from_text(text)
    op = graph.nodes[-1].op
    context = passes.PassContext(capabilities=capabilities_for("iOS15", format=fmt))
    passes.Pipeline([LegalizeOnnxFunction()]).run(graph, context=context)
    assert op in op_types(graph)
    assert context.rule_hits[KEY] == 0
    assert KEY not in context.near_misses


@pytest.mark.parametrize("fmt", BOTH)
def test_a_body_the_format_cannot_run_is_a_near_miss(fmt):
    # DynamicQuantizeLinear's body rounds and quantizes to uint8: no Core ML layer or MIL op for Round
    text = model("y, s, z = DynamicQuantizeLinear (x)", X, "uint8[2,3,4] y, float s, uint8 z")
    graph = graph_from_text(text)
    context = passes.PassContext(capabilities=capabilities_for("iOS15", format=fmt))
    passes.Pipeline([LegalizeOnnxFunction()]).run(graph, context=context)
    assert op_types(graph) == ["DynamicQuantizeLinear"]
    assert context.rule_hits[KEY] == 0
    reason = context.near_misses[KEY].reason
    assert reason.startswith("DynamicQuantizeLinear_0: ") and "its ONNX function: Round: " in reason, reason


def _attention():
    import torch

    class Attention(torch.nn.Module):  # torch's exporter writes it as Attention from opset 23
        def forward(self, q, k, v):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)

    return Attention()


def _norms():
    import torch

    class Norms(torch.nn.Module):  # GroupNormalization (opset 21) and RMSNormalization (opset 23)
        def __init__(self) -> None:
            super().__init__()
            self.group = torch.nn.GroupNorm(2, 4)
            self.rms = torch.nn.RMSNorm(6)

        def forward(self, x):
            return self.rms(self.group(x))

    module = Norms()
    with torch.no_grad():  # not the initial ones and zeros, which hide a scale or bias applied wrongly
        for p in module.parameters():
            p.copy_(torch.rand_like(p) + 0.5)
    return module


# name: (module, input shapes, the ops torch's exporter writes at opset 23)
TORCH = {
    "scaled_dot_product_attention": (_attention, [(1, 2, 4, 8)] * 3, {"Attention"}),
    "group_norm_rms_norm": (_norms, [(2, 4, 5, 6)], {"GroupNormalization", "RMSNormalization"}),
}


@pytest.mark.parametrize("fmt", BOTH)
@pytest.mark.parametrize("name", TORCH)
def test_torch_module_exported_at_opset_23_converts(name, fmt, tmp_path):
    """bridgec's own frontend exports at opset 18, where torch writes these as MatMul/Softmax and
    InstanceNormalization/ReduceMean: the opset-23 ONNX file of torch's exporter brings the ops."""
    import logging
    import warnings

    import onnx
    import torch

    from bridgec.core import ir
    from bridgec.driver.convert import convert

    make, shapes, ops = TORCH[name]
    module = make().eval()
    args = tuple(torch.randn(shape) for shape in shapes)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, args, dynamo=True, opset_version=23, verbose=False)
        want = module(*args)
    path = tmp_path / f"{name}.onnx"
    onnx.save(program.model_proto, path)
    assert {n.op_type for n in program.model_proto.graph.node} >= ops
    feeds = {i.name: a.numpy() for i, a in zip(program.model_proto.graph.input, args, strict=True)}
    # the numbers check (the emitted model vs onnxruntime on the file) raises on a mismatch
    result = convert(str(path), write=False, format=fmt, strict=True, check_inputs=feeds)
    assert result.check.status == "checked"
    assert not [n.name for n in result.graph.nodes if ir.op_key(n)[0] == ir.CUSTOM_DOMAIN]
    fired = [r for r in result.context.rewrites if r.pass_id == LegalizeOnnxFunction.id]
    assert {r.source_op for r in fired} == ops
    # and the file is PyTorch's computation: onnxruntime on it matches the module
    from bridgec.core.runtimes import run_onnxruntime

    got = run_onnxruntime(ir.import_model(program.model_proto), feeds)
    assert_matches(next(iter(got.values())), want, what=f"{name} onnxruntime vs PyTorch")
