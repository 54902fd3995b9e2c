"""ops.attr / ops.default: a bridgec op's default from its declaration, a standard op's from ONNX."""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs
import pytest

from bridgec.core import ops


def node(op: str, domain: str = "", **attrs) -> gs.Node:
    return gs.Node(op, "n", attrs=attrs, domain=domain)


def test_a_present_attribute_wins_and_strings_are_text():
    assert ops.attr(node("LeakyRelu", alpha=0.3), "alpha") == 0.3
    assert ops.attr(node("Gelu", ops.BRIDGEC_DOMAIN, approximate=b"tanh"), "approximate") == "tanh"


def test_standard_ops_take_onnx_defaults():
    assert ops.attr(node("LeakyRelu"), "alpha") == pytest.approx(0.01)
    assert ops.attr(node("HardSigmoid"), "alpha") == np.float32(0.2)
    assert ops.attr(node("Softmax"), "axis") == -1
    assert ops.attr(node("DepthToSpace"), "mode") == "DCR"
    # the opset's schema: Softmax's axis was 1 before opset 13
    assert ops.default("Softmax", "axis", opset=11) == 1


def test_bridgec_ops_take_the_declared_torch_defaults():
    assert ops.attr(node("HardSigmoid", ops.BRIDGEC_DOMAIN), "alpha") == 1 / 6
    assert ops.attr(node("HardTanh", ops.BRIDGEC_DOMAIN), "max_value") == 1.0
    # a custom layer made from a bridgec op keeps its attributes and defaults
    assert ops.attr(node("LeakyRelu", ops.CUSTOM_DOMAIN), "alpha") == 0.01


@pytest.mark.parametrize(
    ("op", "domain", "name", "message"),
    [
        ("Cast", "", "to", "Cast: attribute 'to' has no default"),
        ("Relu", "", "alpha", "Relu: ONNX's schema has no attribute 'alpha'"),
        ("NoSuchOp", "", "x", "NoSuchOp: no ONNX schema"),
        ("Thing", "com.example", "x", "com.example::Thing: no declared default"),
    ],
)
def test_no_default_is_a_one_line_error(op, domain, name, message):
    with pytest.raises(KeyError, match=message):
        ops.attr(node(op, domain), name)
