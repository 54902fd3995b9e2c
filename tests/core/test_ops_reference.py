"""Every declaration's two reference semantics agree: its ONNX function (in onnxruntime, at each
opset form) and its numpy reference, on a grid with the edges (zeros, tiny, saturating, inf, NaN)."""

from __future__ import annotations

import math

import numpy as np
import onnx_graphsurgeon as gs
import pytest

from bridgec.core import ops
from tests.helpers import run_graph

EDGES = [0.0, -0.0, 1e-8, -1e-8, 1e-3, -1e-3, 2.5, -2.5, 3.0, -3.0, 30.0, -30.0, 88.0, -88.0, 200.0, -200.0]
X = np.concatenate([np.linspace(-12, 12, 241), EDGES, [math.inf, -math.inf, math.nan]]).astype(np.float32)


def variants(decl: ops.OpDecl) -> list[dict]:
    """The torch defaults, and every float attribute moved off its default (each string choice)."""
    out = [decl.defaults]
    moved = {a.name: a.default * 1.7 + 0.25 for a in decl.attributes if a.kind == "float"}
    if moved:
        out.append({**decl.defaults, **moved})
    by = decl.specialised_by
    out += [{**decl.defaults, by.name: v} for v in by.choices if v != by.default] if by else []
    return out


def run_function(decl: ops.OpDecl, attrs: dict, opset: int) -> np.ndarray:
    x = gs.Variable("x", np.float32, X.shape)
    y = gs.Variable("y", np.float32, X.shape)
    node = gs.Node(decl.name, "n", attrs=dict(attrs), inputs=[x], outputs=[y], domain=decl.domain)
    return run_graph(gs.Graph(nodes=[node], inputs=[x], outputs=[y], opset=opset), {"x": X})[0]


# every opset form: HardTanh (Clip bounds as inputs from 11), HardSwish (14), Celu (12), CastLike (15)
@pytest.mark.parametrize("opset", [11, 13, 14, 17])
# attention (more inputs than x): tests/passes/lower/test_lower_attention.py
@pytest.mark.parametrize("decl", [d for d in ops.all() if d.elementwise], ids=lambda d: d.name)
def test_onnx_function_and_numpy_reference_agree(decl, opset):
    for attrs in variants(decl):
        want = decl.numpy(X, **attrs)
        got = run_function(decl, attrs, opset)
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6, equal_nan=True, err_msg=f"{attrs}")
        finite = np.isfinite(want)
        assert np.array_equal(np.isinf(got) & ~finite, np.isinf(want)), attrs


@pytest.mark.parametrize(
    "decl", [d for d in ops.all() if d.attributes and d.elementwise], ids=lambda d: d.name
)
def test_an_omitted_attribute_is_the_declared_default_in_onnxruntime_too(decl):
    """The emitters read a missing attribute's default from the declaration (ops.attr): the reference
    function must agree, not fall back to its inner ONNX op's default (HardSigmoid: 0.2, not 1/6)."""
    want = run_function(decl, decl.defaults, 17)
    np.testing.assert_array_equal(run_function(decl, {}, 17), want)
