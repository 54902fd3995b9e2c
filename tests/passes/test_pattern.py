"""The pattern language: binding by name, attributes, commutativity, DAG patterns, multi-output, near-misses."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.passes import Rule, RuleSet
from tests.helpers import assert_io_kept, assert_matches, graph_from_text, op_types, run_graph

H = '<ir_version: 8, opset_import: ["" : 17, "com.example" : 1]>'
X = np.linspace(-4, 4, 24, dtype=np.float32).reshape(2, 3, 4)


class Anything:
    """A target that runs every op, for tests about matching rather than capabilities."""

    description = "any target"

    def unsupported_reason(self, node):
        return None


def run(rules, text, target=None):
    graph = graph_from_text(text)
    before = graph.copy()
    ctx = passes.PassContext(capabilities=target or capabilities_for("iOS14"))
    out = passes.Pipeline([RuleSet(rules)]).run(graph, context=ctx)
    assert_io_kept(before, out)
    return before, out, ctx


# x * sigmoid(x) -> custom-free Swish-like op, to exercise a two-node DAG pattern
def silu(op, x):
    return op.Mul(x, op.Sigmoid(x))


def silu_as_hardsigmoid(op, x):  # not exact: only for structure tests
    return op.Mul(x, op.HardSigmoid(x))


SILU_TEXT = f"{H} g (float[2,3,4] x) => (float[2,3,4] y) {{ s = Sigmoid (x) y = Mul ({{a}}, {{b}}) }}"


@pytest.mark.parametrize(
    "order, commute, fires",
    [
        (("x", "s"), False, True),
        (("s", "x"), False, False),  # operand order matters unless declared commutative
        (("s", "x"), True, True),
    ],
)
def test_dag_pattern_and_declared_commutativity(order, commute, fires):
    text = SILU_TEXT.replace("{a}", order[0]).replace("{b}", order[1])
    _, out, ctx = run([Rule("silu", silu, silu_as_hardsigmoid, commute=commute)], text)
    assert op_types(out) == (["HardSigmoid", "Mul"] if fires else ["Mul", "Sigmoid"])
    assert ctx.rule_hits[f"{RuleSet.id}/silu"] == int(fires)


def test_shared_variable_must_bind_the_same_tensor():
    text = f"{H} g (float[2,3,4] x, float[2,3,4] z) => (float[2,3,4] y) {{ s = Sigmoid (z) y = Mul (x, s) }}"
    _, out, ctx = run([Rule("silu", silu, silu_as_hardsigmoid, commute=True)], text)
    assert op_types(out) == ["Mul", "Sigmoid"]
    miss = ctx.near_misses[f"{RuleSet.id}/silu"]
    assert miss.matched == 2 and "not the same tensor as x" in miss.reason


def test_interior_node_used_elsewhere_blocks_the_match():
    text = f"{H} g (float[2,3,4] x) => (float[2,3,4] y, float[2,3,4] s) {{ s = Sigmoid (x) y = Mul (x, s) }}"
    _, out, ctx = run([Rule("silu", silu, silu_as_hardsigmoid)], text)
    assert op_types(out) == ["Mul", "Sigmoid"]
    assert "also used outside the pattern" in ctx.near_misses[f"{RuleSet.id}/silu"].reason


def leaky(op, x, alpha):
    return op.LeakyRelu(x, alpha=alpha)


def leaky_default_only(op, x):
    return op.LeakyRelu(x, alpha=0.01)


def as_relu_mix(op, x, alpha):
    return op.Max(x, op.Mul(x, op.const(alpha)))


def test_attribute_binding_uses_the_schema_default():
    text = f"{H} g (float[2,3,4] x) => (float[2,3,4] y) {{ y = LeakyRelu (x) }}"
    _, out, _ = run([Rule("leaky", leaky, as_relu_mix)], text)
    assert op_types(out) == ["Max", "Mul"]
    assert_matches(run_graph(out, {"x": X})[0], np.where(X > 0, X, 0.01 * X), tolerance=0)


def test_literal_attribute_constraint():
    text = f"{H} g (float[2,3,4] x) => (float[2,3,4] y) {{ y = LeakyRelu <alpha = 0.2> (x) }}"
    _, out, ctx = run([Rule("leaky001", leaky_default_only, lambda op, x: op.Relu(x))], text)
    assert op_types(out) == ["LeakyRelu"]
    assert "alpha = 0.2" in ctx.near_misses[f"{RuleSet.id}/leaky001"].reason


def test_check_returns_a_reason_and_domain_is_part_of_the_match():
    def swish(op, x, beta):
        return op.Swish(x, beta=beta, _domain="com.example")

    text = f"{H} g (float[2,3,4] x) => (float[2,3,4] y) {{ y = com.example.Swish <beta = 2.0> (x) }}"
    rule = Rule(
        "swish",
        swish,
        lambda op, x, beta: op.Mul(x, op.Sigmoid(op.Mul(x, op.const(beta)))),
        check=lambda beta: None if beta > 0 else "beta must be positive",
    )
    _, out, _ = run([rule], text)
    assert op_types(out) == ["Mul", "Mul", "Sigmoid"]
    assert_matches(run_graph(out, {"x": X})[0], X / (1 + np.exp(-2 * X)), tolerance=2e-7)

    negative = text.replace("2.0", "-1.0")
    _, out, ctx = run([rule], negative)
    assert op_types(out) == ["com.example::Swish"]
    assert ctx.near_misses[f"{RuleSet.id}/swish"].reason == "beta must be positive"

    wrong_domain = text.replace("com.example.Swish", "Relu").replace(" <beta = 2.0>", "")
    _, out, _ = run([rule], wrong_domain)
    assert op_types(out) == ["Relu"]


def split2(op, x):
    return op.Split(x, axis=0, _outputs=2)


def as_slices(op, x):
    def part(start, end):
        return op.Slice(x, op.const([start], np.int64), op.const([end], np.int64), op.const([0], np.int64))

    return part(0, 1), part(1, 2)


def test_multi_output_pattern_keeps_both_output_names():
    text = (
        f"{H} g (float[2,3,4] x) => (float[1,3,4] a, float[1,3,4] b) "
        "{ a, b = Split <axis = 0, num_outputs = 2> (x) }"
    )
    before, out, _ = run([Rule("split", split2, as_slices)], text, Anything())
    assert op_types(out) == ["Slice", "Slice"]
    got = run_graph(out, {"x": X})
    np.testing.assert_array_equal(got[0], X[:1])
    np.testing.assert_array_equal(got[1], X[1:])


def test_first_form_the_target_supports_wins():
    def relu_pattern(op, x):
        return op.Relu(x)

    rules = [
        Rule("relu_as_clip", relu_pattern, lambda op, x: op.Clip(x, op.const(0.0), None)),
        Rule("relu_as_max", relu_pattern, lambda op, x: op.Max(x, op.const(0.0))),
    ]
    text = f"{H} g (float[2,3,4] x) => (float[2,3,4] y) {{ y = Relu (x) }}"
    _, out, _ = run(rules, text)
    assert op_types(out) == ["Clip"]
    _, out, ctx = run(rules, text, capabilities_for("iOS14", ("Clip",)))
    assert op_types(out) == ["Max"]
    assert "target lacks Clip" in ctx.near_misses[f"{RuleSet.id}/relu_as_clip"].reason


def test_legalize_rules_leave_supported_ops_alone():
    def relu_pattern(op, x):
        return op.Relu(x)

    rule = Rule("relu_as_max", relu_pattern, lambda op, x: op.Max(x, op.const(0.0)), legalize=True)
    text = f"{H} g (float[2,3,4] x) => (float[2,3,4] y) {{ y = Relu (x) }}"
    _, out, _ = run([rule], text)
    assert op_types(out) == ["Relu"]
    _, out, _ = run([rule], text, capabilities_for("iOS14", ("Relu",)))
    assert op_types(out) == ["Max"]


def test_bad_patterns_are_refused_when_used():
    with pytest.raises(ValueError, match="takes the op builder first"):
        _ = Rule("bad", lambda: None, lambda op: None).roots
    with pytest.raises(ValueError, match="output"):
        _ = Rule("bad", lambda op, x: x, lambda op, x: x).roots


def test_rules_by_op_are_grouped_once_per_rules_tuple():
    """``first_rewrite`` asks for every node it tries: the grouping is kept while ``rules`` is the
    same tuple, made again for another, and a lookup of an op without rules adds nothing."""
    silu_rule = Rule("silu", silu, silu_as_hardsigmoid)
    leaky_rule = Rule("leaky", leaky, as_relu_mix)
    rule_set = RuleSet([silu_rule])
    first = rule_set.by_op()
    assert rule_set.by_op() is first
    assert {key: [r.name for r in rules] for key, rules in first.items()} == {silu_rule.op: ["silu"]}
    assert first.get(leaky_rule.op) is None and leaky_rule.op not in rule_set.by_op()
    rule_set.rules = (silu_rule, leaky_rule)
    assert set(rule_set.by_op()) == {silu_rule.op, leaky_rule.op}
    listed = RuleSet()
    listed.rules = [silu_rule]  # a list may change in place: grouped anew each time
    assert set(listed.by_op()) == {silu_rule.op}
    listed.rules.append(leaky_rule)
    assert set(listed.by_op()) == {silu_rule.op, leaky_rule.op}
