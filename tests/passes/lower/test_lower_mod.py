"""lower::mod: Core ML's remainders (ModBroadcastable, MIL mod) leave the sign of a negative operand's
remainder undocumented, so the emitters take Mod only of operands >= 0 by construction and the rules
write every other Mod with |x| and sign. Per case: the op types after ``-O none``, numbers equal to
onnxruntime's on the original graph (bit for bit after the rewrite, and in the emitted model); the
sign conventions at negative dividends and divisors, broadcasting, the refused configuration's
reason, a Mod the formats take as it is; and a torch module converted end to end."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from tests.helpers import assert_io_kept, graph_from_text, op_types, run_graph
from tests.passes.lower.legalize_cases import MLP, NN, convert_module, emit_and_run

FORMATS = [NN, MLP]
# every sign pairing, zeros of either sign, a remainder of 0, divisors of a whole and a fraction
A = np.array([[-7, 7, -7, 7, 0, -6], [6.5, -6.5, -0.0, 3, -3, 9]], np.float32)
B = np.array([3, -3, -3, 3, -2, 2], np.float32)


def model(body: str, dtype: str = "float") -> str:
    # integers arrive as a Cast of a float input (Core ML's inputs are float32), as from a Shape
    cast_in = " ai = Cast <to = 7> (a)\n bi = Cast <to = 7> (b)\n" if dtype == "int64" else ""
    cast_out = "\n y = Cast <to = 1> (m)" if dtype == "int64" else "\n y = Identity (m)"
    operands = "(ai, bi)" if dtype == "int64" else "(a, b)"
    return (
        '<ir_version: 8, opset_import: ["" : 18]> g (float[2,6] a, float[6] b) => (float[2,6] y) '
        f"{{\n{cast_in} m = {body.format(operands=operands)}{cast_out}\n}}"
    )


def legalise(text: str, fmt: str):
    graph = graph_from_text(text)
    before = graph.copy()
    context = passes.PassContext(capabilities=capabilities_for("iOS15", format=fmt))
    lowered = passes.pipeline("none").run(graph, context=context)
    assert_io_kept(before, lowered)
    return before, lowered, context


def assert_same_numbers(before, lowered, fmt: str, a=A, b=B) -> np.ndarray:
    feeds = {"a": a, "b": b}
    (want,) = run_graph(before, feeds)
    (got,) = run_graph(lowered, feeds)
    np.testing.assert_array_equal(got, want)
    emitted = emit_and_run(lowered, fmt, feeds)[lowered.outputs[0].name]
    np.testing.assert_allclose(emitted, want, atol=1e-6, rtol=1e-6)
    return want


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", ["float", "int64"])
def test_fmod_takes_the_dividends_sign(fmt, dtype):
    before, lowered, context = legalise(model("Mod <fmod = 1> {operands}", dtype), fmt)
    assert context.rule_hits["lower::mod/mod_truncated_to_abs"] == 1
    (mod,) = [n for n in lowered.nodes if n.op == "Mod"]
    assert [t.inputs[0].op for t in mod.inputs] == ["Abs", "Abs"]
    want = assert_same_numbers(before, lowered, fmt)
    if dtype == "int64":
        np.testing.assert_array_equal(want[0], [-1, 1, -1, 1, 0, 0])  # C's %: the dividend's sign


@pytest.mark.parametrize("fmt", FORMATS)
def test_integer_mod_takes_the_divisors_sign(fmt):
    before, lowered, context = legalise(model("Mod {operands}", "int64"), fmt)
    assert context.rule_hits["lower::mod/mod_floored_to_abs"] == 1
    assert op_types(lowered).count("Mod") == 2
    want = assert_same_numbers(before, lowered, fmt)
    np.testing.assert_array_equal(want[0], [2, -2, -1, 1, 0, 0])  # Python's %: the divisor's sign


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_constant_divisor_broadcasts_and_makes_no_layer_for_its_sign(fmt):
    body = "Mod <fmod = 1> (a, d)"
    text = model(body).replace(
        "m = Mod", " d = Constant <value = float[6] {3, -3, -3, 3, -2, 0.75}> ()\n m = Mod"
    )
    before, lowered, context = legalise(text, fmt)
    assert context.rule_hits["lower::mod/mod_truncated_to_abs"] == 1
    assert op_types(lowered).count("Abs") == 1 and op_types(lowered).count("Sign") == 1  # |a| and sign(a)
    assert_same_numbers(before, lowered, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_remainder_of_magnitudes_is_taken_as_it_is(fmt):
    text = model("Mod <fmod = 1> (p, q)").replace("m = Mod", "p = Abs (a)\n q = Abs (b)\n m = Mod")
    before, lowered, context = legalise(text, fmt)
    assert op_types(lowered) == ["Abs", "Abs", "Identity", "Mod"]
    assert not any(context.rule_hits.values())
    assert_same_numbers(before, lowered, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_floored_remainder_of_floats_names_why_it_stays(fmt):
    graph = graph_from_text(model("Mod {operands}"))
    node = next(n for n in graph.nodes if n.op == "Mod")
    reason = capabilities_for("iOS15", format=fmt).unsupported_reason(node)
    assert "floored remainder of floats (fmod=0)" in reason and "no exact form" in reason
    context = passes.PassContext(capabilities=capabilities_for("iOS15", format=fmt))
    lowered = passes.Pipeline([passes.create("lower::mod")]).run(graph, context=context)
    assert "Mod" in op_types(lowered) and not any(context.rule_hits.values())
    assert "floats" in context.near_misses["lower::mod/mod_floored_to_abs"].reason


def test_a_folded_ml_program_mod_follows_onnx_not_mil():
    # (W - 10) fmod 3 with W = 5 is -2 (C); Python's % (MIL's value inference) would give 1
    text = (
        '<ir_version: 8, opset_import: ["" : 18]> g (float[5,2] x) => (float[5,2] y) {\n'
        " zero = Constant <value = int64[1] {0}> ()\n ten = Constant <value = int64[1] {10}> ()\n"
        " three = Constant <value = int64[1] {3}> ()\n s = Shape (x)\n w = Gather <axis = 0> (s, zero)\n"
        " n = Sub (w, ten)\n r = Mod <fmod = 1> (n, three)\n f = Cast <to = 1> (r)\n y = Add (x, f)\n}"
    )
    graph = graph_from_text(text)
    x = np.zeros((5, 2), np.float32)
    (want,) = run_graph(graph, {"x": x})
    assert want[0, 0] == -2
    got = emit_and_run(
        passes.pipeline("none").run(graph, target=capabilities_for("iOS15", format=MLP)), MLP, {"x": x}
    )
    np.testing.assert_array_equal(got["y"], want)


@pytest.mark.parametrize("fmt", FORMATS)
def test_torch_trigonometry_and_remainders_convert_end_to_end(fmt, tmp_path):
    import torch

    class Periodic(torch.nn.Module):
        def forward(self, x):
            # % on floats is exported as x - floor(x / 1.25) * 1.25, which every format has
            phase = torch.fmod(x * 3, 0.75) + torch.fmod(x, -1.5) + x % 1.25
            return torch.sin(x) * torch.cos(phase) + torch.tan(x * 0.3) + torch.atan(x)

    fired = convert_module(Periodic(), (2, 3, 4, 5), fmt, tmp_path)
    assert "lower::mod/mod_truncated_to_abs" in fired
