"""Normalisation on load: standard ONNX activations and ATen-fallback nodes become the same
bridgec node the torch frontend produces, with torch's semantics (and ONNX's defaults kept)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from torch.nn import functional as F

from bridgec.core import ir
from bridgec.core.ops.activations import SELU_ALPHA, SELU_GAMMA
from bridgec.frontends import onnx_file
from bridgec.frontends.normalize import ATEN_DOMAIN, normalize
from tests.helpers import assert_matches, run_graph

X = (np.random.default_rng(0).standard_normal((2, 3, 16)) * 6).astype(np.float32)


def model(node: onnx.NodeProto, opset: int, initializers=()) -> onnx.ModelProto:
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, X.shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=list(initializers),
    )
    imports = [helper.make_opsetid("", opset)]
    if node.domain:
        imports.append(helper.make_opsetid(node.domain, 1))
    return helper.make_model(graph, opset_imports=imports)


def onnx_node(op, **attrs):
    return helper.make_node(op, ["x"], ["y"], **attrs)


def aten(operator, inputs=("x",), **attrs):
    return helper.make_node("ATen", list(inputs), ["y"], domain=ATEN_DOMAIN, operator=operator, **attrs)


def scalar(name, value, dtype=TensorProto.DOUBLE):
    return helper.make_tensor(name, dtype, [], [value])


# case -> (node, opset, initializers, bridgec op, attributes, torch reference)
CASES = {
    "HardSwish": (onnx_node("HardSwish"), 14, (), "HardSwish", {}, F.hardswish),
    # ONNX's default alpha is 0.2, not torch's 1/6: kept as ONNX means it
    "HardSigmoid_default": (
        onnx_node("HardSigmoid"),
        13,
        (),
        "HardSigmoid",
        {"alpha": 0.2, "beta": 0.5},
        lambda t: torch.clamp(0.2 * t + 0.5, 0, 1),
    ),
    "HardSigmoid_torch": (
        onnx_node("HardSigmoid", alpha=1 / 6),
        13,
        (),
        "HardSigmoid",
        {"alpha": 1 / 6, "beta": 0.5},
        F.hardsigmoid,
    ),
    "Gelu": (onnx_node("Gelu"), 20, (), "Gelu", {"approximate": "none"}, F.gelu),
    "Gelu_tanh": (
        onnx_node("Gelu", approximate="tanh"),
        20,
        (),
        "Gelu",
        {"approximate": "tanh"},
        lambda t: F.gelu(t, approximate="tanh"),
    ),
    "Mish": (onnx_node("Mish"), 18, (), "Mish", {}, F.mish),
    "Elu": (onnx_node("Elu", alpha=0.5), 13, (), "Elu", {"alpha": 0.5}, lambda t: F.elu(t, 0.5)),
    "Selu": (onnx_node("Selu"), 13, (), "Selu", {"alpha": SELU_ALPHA, "gamma": SELU_GAMMA}, F.selu),
    "Celu": (onnx_node("Celu", alpha=0.5), 13, (), "Celu", {"alpha": 0.5}, lambda t: F.celu(t, 0.5)),
    # ONNX Softplus has no beta or threshold: beta 1 and no linear region
    "Softplus": (
        onnx_node("Softplus"),
        13,
        (),
        "Softplus",
        {"beta": 1.0, "threshold": math.inf},
        lambda t: torch.log1p(torch.exp(t)),
    ),
    "LeakyRelu": (onnx_node("LeakyRelu"), 13, (), "LeakyRelu", {"alpha": 0.01}, F.leaky_relu),
    "LeakyRelu_opset9": (
        onnx_node("LeakyRelu", alpha=0.3),
        9,
        (),
        "LeakyRelu",
        {"alpha": 0.3},
        lambda t: F.leaky_relu(t, 0.3),
    ),
    # ATen fallbacks: scalars as attributes (older exporters) or as constant inputs (newer ones)
    "aten_hardtanh_attrs": (
        aten("hardtanh", min_val=-2.0, max_val=3.0),
        9,
        (),
        "HardTanh",
        {"min_value": -2.0, "max_value": 3.0},
        lambda t: F.hardtanh(t, -2.0, 3.0),
    ),
    "aten_hardtanh_defaults": (
        aten("hardtanh_"),
        13,
        (),
        "HardTanh",
        {"min_value": -1.0, "max_value": 1.0},
        F.hardtanh,
    ),
    "aten_relu6": (aten("relu6"), 13, (), "HardTanh", {"min_value": 0.0, "max_value": 6.0}, F.relu6),
    "aten_hardswish": (aten("hardswish"), 11, (), "HardSwish", {}, F.hardswish),
    "aten_hardsigmoid": (
        aten("hardsigmoid"),
        13,
        (),
        "HardSigmoid",
        {"alpha": 1 / 6, "beta": 0.5},
        F.hardsigmoid,
    ),
    "aten_gelu_tanh": (
        aten("gelu", approximate="tanh"),
        11,
        (),
        "Gelu",
        {"approximate": "tanh"},
        lambda t: F.gelu(t, approximate="tanh"),
    ),
    "aten_silu": (aten("silu"), 13, (), "Silu", {}, F.silu),
    "aten_mish": (aten("mish"), 13, (), "Mish", {}, F.mish),
    "aten_elu_inputs": (
        aten("elu", ("x", "a", "one", "one")),
        13,
        (scalar("a", 0.4), scalar("one", 1.0)),
        "Elu",
        {"alpha": 0.4},
        lambda t: F.elu(t, 0.4),
    ),
    "aten_selu": (aten("selu"), 13, (), "Selu", {"alpha": SELU_ALPHA, "gamma": SELU_GAMMA}, F.selu),
    "aten_celu": (aten("celu", alpha=2.0), 13, (), "Celu", {"alpha": 2.0}, lambda t: F.celu(t, 2.0)),
    "aten_softplus_inputs": (
        aten("softplus", ("x", "b", "t")),
        13,
        (scalar("b", 2, TensorProto.INT64), scalar("t", 4.0)),
        "Softplus",
        {"beta": 2.0, "threshold": 4.0},
        lambda t: F.softplus(t, 2.0, 4.0),
    ),
    "aten_leaky_relu": (
        aten("leaky_relu_", negative_slope=0.2),
        13,
        (),
        "LeakyRelu",
        {"alpha": 0.2},
        lambda t: F.leaky_relu(t, 0.2),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_spelling_normalises_to_the_bridgec_op(case):
    node, opset, inits, op, attrs, reference = CASES[case]
    graph = onnx_file.graph_from_model(model(node, opset, inits), Path("m.onnx"))
    (only,) = graph.nodes
    assert ir.op_key(only) == (ir.BRIDGEC_DOMAIN, op)
    assert set(only.attrs) == set(ir.BRIDGEC_OPS[op])
    for key, want in attrs.items():
        got = only.attrs[key]
        assert got == want if isinstance(want, str) else got == pytest.approx(want, rel=1e-6)
    want = reference(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(run_graph(graph, {"x": X})[0], want, atol=2e-6, rtol=1e-6)


def test_aten_with_a_runtime_scalar_is_left_alone():
    # the slope is a graph input: not a constant, so not an attribute
    node = aten("leaky_relu", ("x", "slope"))
    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, X.shape),
            helper.make_tensor_value_info("slope", TensorProto.DOUBLE, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    m = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(ATEN_DOMAIN, 1)]
    )
    g = ir.import_model(m)
    assert normalize(g) == 0
    assert ir.op_key(g.nodes[0]) == (ATEN_DOMAIN, "ATen")


def test_unknown_aten_operator_is_left_alone():
    g = ir.import_model(model(aten("frobnicate"), 13))
    assert normalize(g) == 0 and g.nodes[0].op == "ATen"


def test_onnx_file_with_standard_and_aten_nodes_loads_normalised(tmp_path):
    nodes = [
        helper.make_node("HardSwish", ["x"], ["h"]),
        helper.make_node("ATen", ["h"], ["y"], domain=ATEN_DOMAIN, operator="relu6"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, X.shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, X.shape)],
    )
    m = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 14), helper.make_opsetid(ATEN_DOMAIN, 1)]
    )
    onnx.save(m, tmp_path / "m.onnx")
    from bridgec import frontends

    loaded = frontends.load(tmp_path / "m.onnx")
    assert [ir.op_key(n) for n in loaded.nodes] == [
        (ir.BRIDGEC_DOMAIN, "HardSwish"),
        (ir.BRIDGEC_DOMAIN, "HardTanh"),
    ]
    want = F.relu6(F.hardswish(torch.from_numpy(X))).numpy()
    assert_matches(run_graph(loaded, {"x": X})[0], want, tolerance=1e-7)


@pytest.mark.parametrize("fmt", ["neuralnetwork", "mlprogram"])
def test_shape_with_start_and_end_folds_to_the_right_dims(tmp_path, fmt):
    """onnx-graphsurgeon folds Shape(start, end) to the whole shape; bridgec splits it into a Slice
    first, so a reshape target built from part of a shape stays right."""
    import onnx

    from bridgec.driver.convert import convert

    path = tmp_path / "m.onnx"
    onnx.save(
        onnx.parser.parse_model(
            '<ir_version: 8, opset_import: ["" : 18]> g (float[2,3,4] x) => (float[2,12] y) '
            "<int64[1] rest = {-1}> { s = Shape <start = 0, end = 1> (x) t = Concat <axis = 0> (s, rest) "
            "y = Reshape (x, t) }"
        ),
        str(path),
    )
    result = convert(path, write=False, format=fmt, pipeline="lower")
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(result.model.run_reference({"x": x})["y"], x.reshape(2, 12))
