"""The op registry: one declaration per op, refused twice, and what the declarations promise."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec.core import ops
from bridgec.core.ops import _decl


def _decl_named(name: str, **changes) -> ops.OpDecl:
    fields = dict(
        name=name,
        semantics="x",
        attributes=(),
        onnx_body=lambda opset: "y = Identity (x)",
        numpy=lambda x: x,
    )
    return ops.OpDecl(**{**fields, **changes})


@pytest.fixture
def scratch_registry(monkeypatch):
    """The registry as shipped, restored afterwards whatever a test registers."""
    monkeypatch.setattr(_decl, "_REGISTRY", dict(_decl._REGISTRY))


def test_the_kept_activations_are_declared_once_each():
    names = [d.name for d in ops.all()]
    assert len(names) == len(set(names))
    assert {"HardTanh", "HardSwish", "HardSigmoid", "Gelu", "Silu", "Mish", "Elu", "Selu"} <= set(names)
    assert {"Celu", "Softplus", "LeakyRelu", "Erf"} <= set(names)
    assert all(ops.get(n) is d for n, d in zip(names, ops.all(), strict=True))


def test_a_second_declaration_of_an_op_is_refused(scratch_registry):
    with pytest.raises(ValueError, match="ai.bridgec::Gelu is declared twice"):
        ops.register(_decl_named("Gelu"))
    assert ops.get("Gelu").semantics != "x"


def test_registering_makes_an_op_visible_everywhere_that_reads_the_registry(scratch_registry):
    from bridgec.core import ir

    ops.register(_decl_named("Twin"))
    assert "Twin" in ir.BRIDGEC_OPS
    (function,) = ir.function_definitions(ir.BRIDGEC_DOMAIN, ["Twin"], 17)
    assert function.name == "Twin"


def test_unknown_op_and_attribute_errors_name_what_exists():
    with pytest.raises(KeyError, match="no bridgec op 'Nope'"):
        ops.get("Nope")
    with pytest.raises(KeyError, match="HardTanh has no attribute 'alpha'"):
        ops.get("HardTanh").attribute("alpha")


def test_two_specialising_attributes_are_refused(scratch_registry):
    attrs = (ops.Attr("a", "string", "x", choices=("x",)), ops.Attr("b", "string", "y", choices=("y",)))
    with pytest.raises(ValueError, match="at most one attribute"):
        ops.register(_decl_named("Twice", attributes=attrs))


def test_attribute_kinds_are_checked():
    with pytest.raises(ValueError, match="kind 'int'"):
        ops.Attr("n", "int", 1)


def test_aten_forms_fill_defaults_and_fix_what_torch_fixes():
    assert ops.aten_node("relu6") == ("HardTanh", {"min_value": 0.0, "max_value": 6.0})
    assert ops.aten_node("hardtanh", {"min_val": -2.0}) == ("HardTanh", {"min_value": -2.0, "max_value": 1.0})
    assert ops.aten_node("hardsigmoid") == ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5})
    assert ops.aten_node("leaky_relu", {"negative_slope": 0.2}) == ("LeakyRelu", {"alpha": 0.2})
    with pytest.raises(KeyError, match="aten::relu is not"):
        ops.aten_node("relu")


def test_gelu_is_specialised_by_its_string_attribute():
    gelu = ops.get("Gelu")
    assert gelu.specialised_by.name == "approximate"
    assert gelu.function_names() == ("Gelu__none", "Gelu__tanh")
    assert gelu.function_name({"approximate": b"tanh"}) == "Gelu__tanh"
    assert gelu.function_name({}) == "Gelu__none"
    assert [f.name for f in gelu.functions(ops.BRIDGEC_DOMAIN, 17)] == ["Gelu__none", "Gelu__tanh"]
    assert ops.get("Elu").function_name({"alpha": 2.0}) == "Elu"


@pytest.mark.parametrize("decl", [d for d in ops.all() if d.elementwise], ids=lambda d: d.name)
def test_numpy_reference_takes_exactly_the_declared_attributes(decl):
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    y = decl.numpy(x, **decl.defaults)  # keyword per attribute: the reference executor calls it so
    assert y.dtype == x.dtype and y.shape == x.shape
