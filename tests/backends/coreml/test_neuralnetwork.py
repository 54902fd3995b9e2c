"""Core ML emission, op by op: onnxruntime on the ONNX graph vs the reference executor on the .mlmodel."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from bridgec import passes
from bridgec.backends import coreml
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.executor import run as run_coreml
from bridgec.core import ir
from bridgec.core.errors import ConversionError
from tests.helpers import assert_matches, graph_from_text, run_graph

HEADER = '<ir_version: 8, opset_import: ["" : 17, "ai.bridgec" : 1]>'
R = np.random.default_rng(7)


def w(*shape):
    return ", ".join(f"{v:.4f}" for v in R.standard_normal(int(np.prod(shape))))


# name: (graph body text, input shapes, expected Core ML layer kinds)
OPS = {
    "conv_asym_pads_bias": (
        f"(float[1,5,9,8] x) => (float[1,4,5,4] y) <float[4,5,3,2] W = {{{w(4, 5, 3, 2)}}}, float[4] B = {{{w(4)}}}> "
        "{ y = Conv <pads = [1, 0, 0, 1], strides = [2, 2]> (x, W, B) }",
        ["convolution"],
    ),
    "conv_depthwise_dilated": (
        f"(float[1,6,11,11] x) => (float[1,6,7,7] y) <float[6,1,3,3] W = {{{w(6, 1, 3, 3)}}}> "
        "{ y = Conv <group = 6, dilations = [2, 2]> (x, W) }",
        ["convolution"],
    ),
    "conv_grouped_same_upper": (
        f"(float[2,4,7,6] x) => (float[2,6,4,3] y) <float[6,2,3,3] W = {{{w(6, 2, 3, 3)}}}> "
        '{ y = Conv <group = 2, strides = [2, 2], auto_pad = "SAME_UPPER"> (x, W) }',
        ["convolution"],
    ),
    "batchnorm": (
        f"(float[1,3,4,5] x) => (float[1,3,4,5] y) <float[3] s = {{1.5, 0.5, 2.0}}, float[3] b = {{{w(3)}}}, "
        "float[3] m = {0.1, -0.2, 0.3}, float[3] v = {0.5, 1.5, 2.0}> "
        "{ y = BatchNormalization <epsilon = 0.001> (x, s, b, m, v) }",
        ["batchnorm"],
    ),
    "activations": (
        "(float[2,3,4] x) => (float[2,3,4] y) { a = Relu (x) b = Sigmoid (a) c = Tanh (b) d = LeakyRelu <alpha = 0.2> (x) "
        "e = Elu <alpha = 0.7> (d) f = Softplus (e) g = HardSigmoid <alpha = 0.3, beta = 0.4> (f) h = Add (c, g) "
        "y = Identity (h) }",
        ["activation"] * 8 + ["addBroadcastable"],
    ),
    "clip_inputs_and_softmax": (
        "(float[2,3,4] x) => (float[2,3,4] y) <float lo = {-0.5}, float hi = {0.75}> "
        "{ c = Clip (x, lo, hi) y = Softmax <axis = 1> (c) }",
        ["clip", "softmaxND"],
    ),
    "elementwise_broadcast": (
        "(float[2,3,4] x, float[3,1] z) => (float[2,3,4] y) <float[4] k = {1.0, 2.0, 3.0, 4.0}> "
        "{ a = Add (x, z) b = Sub (a, k) c = Mul (b, z) d = Div (c, k) e = Max (d, x) y = Min (e, k) }",
        [
            "addBroadcastable",
            "subtractBroadcastable",
            "multiplyBroadcastable",
            "divideBroadcastable",
            "maxBroadcastable",
            "minBroadcastable",
            "loadConstantND",
        ],
    ),
    "concat": (
        "(float[1,3,4,4] x, float[1,5,4,4] z) => (float[1,8,4,4] y) { y = Concat <axis = 1> (x, z) }",
        ["concatND"],
    ),
    "maxpool_pads": (
        "(float[1,5,9,8] x) => (float[1,5,5,4] y) "
        "{ y = MaxPool <kernel_shape = [3, 3], strides = [2, 2], pads = [1, 0, 1, 1]> (x) }",
        ["pooling"],
    ),
    "avgpool_exclude_pad": (
        "(float[1,3,6,6] x) => (float[1,3,6,6] y) "
        "{ y = AveragePool <kernel_shape = [3, 3], pads = [1, 1, 1, 1]> (x) }",
        ["pooling"],
    ),
    "avgpool_include_pad": (
        "(float[1,3,7,7] x) => (float[1,3,4,4] y) { y = AveragePool <kernel_shape = [3, 3], "
        "strides = [2, 2], pads = [1, 1, 1, 1], count_include_pad = 1> (x) }",
        ["pooling"],
    ),
    "maxpool_ceil": (
        "(float[1,2,8,8] x) => (float[1,2,5,5] y) "
        "{ y = MaxPool <kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1], ceil_mode = 1> (x) }",
        ["pooling"],
    ),
    "global_pools": (
        "(float[1,3,5,7] x) => (float[1,3,1,1] y) "
        "{ a = GlobalAveragePool (x) b = GlobalMaxPool (x) y = Add (a, b) }",
        ["pooling", "pooling", "addBroadcastable"],
    ),
    "gemm_transb_alpha_beta": (
        f"(float[2,5] x) => (float[2,3] y) <float[3,5] W = {{{w(3, 5)}}}, float[3] C = {{{w(3)}}}> "
        "{ y = Gemm <transB = 1, alpha = 0.5, beta = 2.0> (x, W, C) }",
        ["batchedMatmul"],
    ),
    "matmul_const_and_dynamic": (
        f"(float[2,3,4] x, float[2,4,5] z) => (float[2,3,6] y) <float[5,6] W = {{{w(5, 6)}}}> "
        "{ a = MatMul (x, z) y = MatMul (a, W) }",
        ["batchedMatmul", "batchedMatmul"],
    ),
    "flatten_reshape_transpose": (
        "(float[2,3,4,5] x) => (float[5,24] y) <int64[3] s = {0, -1, 5}> "
        "{ a = Flatten <axis = 2> (x) b = Reshape (a, s) c = Transpose <perm = [2, 0, 1]> (b) "
        "y = Reshape (c, t) t = Constant <value = int64[2] {5, 24}> () }",
        ["flattenTo2D", "reshapeStatic", "transpose", "reshapeStatic"],
    ),
    "resize_nearest": (
        "(float[1,3,4,5] x) => (float[1,3,8,10] y) <float[4] sc = {1.0, 1.0, 2.0, 2.0}> "
        '{ y = Resize <mode = "nearest", coordinate_transformation_mode = "asymmetric", '
        'nearest_mode = "floor"> (x, "", sc) }',
        ["upsample"],
    ),
    "resize_bilinear_half_pixel": (
        "(float[1,3,4,5] x) => (float[1,3,8,15] y) <float[4] sc = {1.0, 1.0, 2.0, 3.0}> "
        '{ y = Resize <mode = "linear", coordinate_transformation_mode = '
        '"pytorch_half_pixel"> (x, "", sc) }',
        ["upsample"],
    ),
    "resize_bilinear_align_corners_sizes": (
        "(float[1,3,4,5] x) => (float[1,3,8,10] y) <int64[4] sz = {1, 3, 8, 10}> "
        '{ y = Resize <mode = "linear", coordinate_transformation_mode = "align_corners"> (x, "", "", sz) }',
        ["upsample"],
    ),
    "custom_hardtanh": (
        "(float[1,6,3,3] x) => (float[1,6,3,3] y) "
        "{ y = ai.bridgec.HardTanh <min_value = -0.5, max_value = 0.25> (x) }",
        ["custom"],
    ),
}


@pytest.mark.parametrize("name", OPS)
def test_emitted_layers_compute_what_onnx_computes(name, tmp_path):
    body, kinds = OPS[name]
    graph = graph_from_text(f"{HEADER} g {body}")
    if name == "custom_hardtanh":
        graph = passes.Pipeline([passes.TagCustomLayers()]).run(graph, target=capabilities_for())
    # a generator of its own: the shared one's state depends on which cases ran before (pytest -k, xdist)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    feeds = {t.name: rng.standard_normal(t.shape).astype(np.float32) * 2 for t in graph.inputs}
    expected = run_graph(graph, feeds)
    result = coreml.emit(graph.copy(), tmp_path / "m.mlmodel")
    assert sorted(result.layer_kinds.elements()) == sorted(kinds)
    got = run_coreml(tmp_path / "m.mlmodel", feeds)
    for tensor, want in zip(graph.outputs, expected, strict=True):
        assert_matches(got[tensor.name], want, tolerance=2e-7, what=name)


def test_custom_layer_carries_class_and_typed_parameters(tmp_path):
    graph = graph_from_text(
        f"{HEADER} g (float[1,2,2,2] x) => (float[1,2,2,2] y) "
        "{ y = ai.bridgec.HardTanh <min_value = 0.0, max_value = 6.0> (x) }"
    )
    graph = passes.Pipeline([passes.TagCustomLayers()]).run(graph, target=capabilities_for())
    spec = coreml.emit(graph, tmp_path / "m.mlmodel").spec
    (layer,) = spec.neuralNetwork.layers
    assert layer.custom.className == "HardTanh"
    assert layer.custom.parameters["min_value"].doubleValue == 0.0
    assert layer.custom.parameters["max_value"].doubleValue == 6.0
    reloaded = coreml.load_spec(tmp_path / "m.mlmodel")
    assert reloaded == spec and reloaded.specificationVersion == 5


def test_spec_reloads_in_coremltools(tmp_path):
    import coremltools as ct

    graph = graph_from_text(f"{HEADER} g {OPS['conv_asym_pads_bias'][0]}")
    coreml.emit(graph, tmp_path / "m.mlmodel", target="iOS13")
    model = ct.models.MLModel(str(tmp_path / "m.mlmodel"), skip_model_load=True)
    assert model.get_spec().specificationVersion == 4
    assert [i.name for i in model.get_spec().description.input] == ["x"]
    assert list(model.get_spec().description.output[0].type.multiArrayType.shape) == [1, 4, 5, 4]


def test_unsupported_op_is_named_and_nothing_is_written(tmp_path):
    graph = graph_from_text(f"{HEADER} g (float[4] x) => (float[4] y) {{ y = Round (x) }}")
    with pytest.raises(ConversionError, match=r"cannot run 1 node: Round x1 \(no Core ML layer"):
        coreml.emit(graph, tmp_path / "m.mlmodel")
    assert list(tmp_path.iterdir()) == []


def test_bilinear_half_pixel_needs_ios14(tmp_path):
    graph = graph_from_text(f"{HEADER} g {OPS['resize_bilinear_half_pixel'][0]}")
    caps = coreml.capabilities_for("iOS13")
    assert "needs iOS14" in caps.unsupported_reason(graph.nodes[0])
    assert coreml.capabilities_for("iOS14").unsupported_reason(graph.nodes[0]) is None


@pytest.mark.parametrize(
    "attrs, reason",
    [
        ('mode = "cubic"', "no Core ML equivalent"),
        (
            'mode = "nearest", coordinate_transformation_mode = "half_pixel", nearest_mode = "floor"',
            "does not match",
        ),
    ],
)
def test_resize_modes_without_a_core_ml_twin_are_refused(attrs, reason):
    graph = graph_from_text(
        f"{HEADER} g (float[1,3,4,5] x) => (float[1,3,8,10] y) <float[4] sc = {{1.0, 1.0, 2.0, 2.0}}> "
        f'{{ y = Resize <{attrs}> (x, "", sc) }}'
    )
    assert reason in coreml.capabilities_for("iOS14").unsupported_reason(graph.nodes[0])


def test_capability_table_and_emitters_are_one_table():
    """Every op the capability table accepts has an emitter, by construction: they are the same entries."""
    from bridgec.backends.coreml import neuralnetwork_layers as ops

    table = ops.table()
    assert ("", "Conv") in table and (ir.CUSTOM_DOMAIN, "*") in table
    assert all(callable(e.emit) for e in table.values())
    # the capability answer is the table's entry itself, so "supported" and "has an emitter" cannot differ
    caps = coreml.capabilities_for("iOS14")
    (node,) = graph_from_text(f"{HEADER} g (float[4] x) => (float[4] y) {{ y = Relu (x) }}").nodes
    assert caps.emitter(node) is table[("", "Relu")] and caps.unsupported_reason(node) is None
    node.op = "NoSuchOp"
    assert caps.emitter(node) is None and caps.unsupported_reason(node) == "no Core ML layer for this op"
