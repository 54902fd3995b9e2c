"""legality.plan: what a pipeline makes of each node, from its rules, without running it; and the
rank limit every format answers through the same capability question."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.core import ir
from bridgec.core.errors import ConversionError
from bridgec.passes import Rule, RuleSet, legality
from tests.helpers import graph_from_text


def model(body: str, x: str = "float[1,3,8,8] x", y: str = "float[1,3,8,8] y") -> str:
    return f'<ir_version: 8, opset_import: ["" : 17, "ai.bridgec" : 1]> g ({x}) => ({y}) {{\n {body}\n}}'


MIXED = model(
    'a = Identity (x)\n b = ai.bridgec.HardSwish (a)\n c = ai.bridgec.Gelu <approximate = "none"> (b)\n'
    " d = Round (c)\n y = Relu (d)"
)


def _by_op(plans):
    return {p.op: p for p in plans}


def test_each_status_comes_from_the_pipelines_passes():
    graph = graph_from_text(MIXED)
    found = _by_op(legality.plan(graph, capabilities_for("iOS13"), passes.pipeline("lower-custom")))
    assert found["Identity"].status == "removed" and found["Identity"].rule == "cleanup::identities"
    hardswish = found["ai.bridgec::HardSwish"]
    assert (
        hardswish.status == "lowered" and hardswish.rule == "lower::kept_activations/hardswish_to_hardsigmoid"
    )
    assert sorted(hardswish.creates) == ["HardSigmoid", "Mul"]
    assert all(part.status == "native" for part in hardswish.parts)
    assert found["ai.bridgec::Gelu"].status == "custom" and "iOS14" in found["ai.bridgec::Gelu"].reason
    assert found["Round"].status == "unsupported" and found["Relu"].status == "native"
    assert legality.custom_layers(found.values()) == ["Gelu"]
    # a newer target runs Gelu: nothing is left for a custom layer
    newer = legality.plan(graph, capabilities_for("iOS14"), passes.pipeline("lower-custom"))
    assert _by_op(newer)["ai.bridgec::Gelu"].status == "native" and legality.custom_layers(newer) == []


def test_the_plan_follows_the_pipeline_it_is_given():
    graph = graph_from_text(MIXED)
    caps = capabilities_for("iOS13")
    none = _by_op(legality.plan(graph, caps, passes.pipeline("none")))
    assert none["Identity"].status == "native"  # -O none removes nothing: the target runs it
    assert none["ai.bridgec::HardSwish"].status == "unsupported"  # no lowering rule runs
    assert none["ai.bridgec::Gelu"].status == "unsupported"  # no custom layers either
    custom = _by_op(legality.plan(graph, caps, passes.pipeline("custom")))
    assert custom["ai.bridgec::Gelu"].status == "custom"


def test_planning_leaves_the_graph_as_it_was():
    graph = graph_from_text(MIXED)
    before = [
        (n.name, n.op, [t.name for t in n.inputs], [len(t.outputs) for t in n.inputs]) for n in graph.nodes
    ]
    legality.plan(graph, capabilities_for("iOS13"), passes.pipeline("lower-custom"))
    after = [
        (n.name, n.op, [t.name for t in n.inputs], [len(t.outputs) for t in n.inputs]) for n in graph.nodes
    ]
    assert after == before


def test_a_rule_whose_replacement_is_lowered_again_is_planned_through_the_later_passes():
    def tan(op, x):
        return op.Tan(x)

    def as_quotient(op, x):
        return op.Div(op.Sin(x), op.Cos(x))

    def cos(op, x):
        return op.Cos(x)

    def as_sin(op, x):  # not legal on its own (Sin is no NeuralNetwork layer either): never fires
        return op.Sin(op.Add(x, op.const(np.pi / 2)))

    first = RuleSet([Rule("tan_to_div", tan, as_quotient)], name="test::tan")
    second = RuleSet([Rule("cos_to_sin", cos, as_sin)], name="test::cos")
    graph = graph_from_text(model("y = Tan (x)"))

    class Everything:
        description = "every op"
        custom_layers = True

        def unsupported_reason(self, node):
            return "never as it is" if node.op == "Tan" else None

        def native(self, key):
            return None

    (found,) = legality.plan(graph, Everything(), [first, second])
    assert found.status == "lowered" and found.rule == "test::tan/tan_to_div"
    cos_part = next(p for p in found.parts if p.op == "Cos")
    assert cos_part.status == "lowered" and cos_part.rule == "test::cos/cos_to_sin"  # not a legalize rule
    # the same rules in the other order: the Cos a rule makes comes after the pass that could rewrite it
    (found,) = legality.plan(graph, Everything(), [second, first])
    assert next(p for p in found.parts if p.op == "Cos").status == "native"


def test_rank_six_is_refused_by_every_format_with_the_fix():
    graph = graph_from_text(
        model(
            "s = Constant <value = int64[6] {1, 3, 2, 4, 2, 4}> ()\n r = Reshape (x, s)\n y = Relu (r)",
            y="float[1,3,2,4,2,4] y",
        )
    )
    graph.nodes[1].outputs[0].shape = [1, 3, 2, 4, 2, 4]
    for fmt in ("neuralnetwork", "mlprogram"):
        reason = capabilities_for("iOS15", format=fmt).unsupported_reason(graph.nodes[-1])
        assert reason is not None and "rank-6" in reason and "rank <= 5" in reason and "merge axes" in reason
    relu = capabilities_for("iOS15").unsupported_reason(graph_from_text(model("y = Relu (x)")).nodes[0])
    assert relu is None
    with pytest.raises(ConversionError) as caught:
        passes.pipeline("lower-custom").run(graph, target=capabilities_for("iOS15"))
    message = str(caught.value)
    assert "\n" not in message and "Relu" in message and "rank-6" in message and "merge axes" in message


def _node_test_graphs():
    from bridgec.driver.node_tests import load_node_tests
    from bridgec.frontends.onnx_file import graph_from_model

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for case in load_node_tests():
            try:
                yield case.name, graph_from_model(case.model, Path(f"{case.name}.onnx"))
            except Exception:  # noqa: BLE001 - the frontend refuses it: nothing to plan
                continue


@pytest.mark.slow
@pytest.mark.parametrize(("target", "fmt"), [("iOS15", "mlprogram"), ("iOS13", "neuralnetwork")])
def test_plan_and_pipeline_agree_on_every_node_test_model(target, fmt):
    """The custom layers (with bundled kernels) the plan predicts are the ones the pipeline leaves,
    on every ONNX node test model: ``--format auto`` decides on the plan and runs the pipeline once."""
    caps = capabilities_for(target, format=fmt)
    ids = [p for p in passes.pipeline_ids("lower-custom") if p != "check::target_legal"]
    disagree, compared = [], 0
    for name, graph in _node_test_graphs():
        planned = legality.custom_layers(legality.plan(graph, caps, passes.pipeline("lower-custom")))
        try:
            out = passes.pipeline("lower-custom", ids).run(
                graph, context=passes.PassContext(capabilities=caps)
            )
        except ConversionError:  # an op with no kernel and no rule (the plan: unsupported); the passes
            out = graph  # rewrite in place, so what was tagged before the error is in the graph
        found = sorted({n.op for n in out.nodes if ir.op_key(n)[0] == ir.CUSTOM_DOMAIN})
        compared += 1
        if planned != found:
            disagree.append((name, planned, found))
    assert compared > 1500 and not disagree, disagree[:5]


# --- rewriting passes that are no rule sets: run on a copy --------------------------------------------

SWIN_WINDOWS = model(  # a rank-6 view chain (swin's window partition): lower::rank merges its axes
    "s = Constant <value = int64[6] {1, 2, 4, 2, 4, 3}> ()\n r = Reshape (x, s)\n"
    " t = Transpose <perm = [0, 1, 3, 2, 4, 5]> (r)\n"
    " u = Constant <value = int64[4] {4, 4, 4, 3}> ()\n y = Reshape (t, u)",
    x="float[1,8,8,3] x",
    y="float[4,4,4,3] y",
)
PAD_INTO_CONV = model(  # TF's "SAME" padding: fuse::pad_into_conv makes it the convolution's own
    "p0 = Constant <value = int64[8] {0, 0, 0, 0, 0, 0, 1, 2}> ()\n p = Pad (x, p0)\n"
    " w = Constant <value = float[4,3,3,3] {" + ", ".join(["0.5"] * 108) + "}> ()\n"
    " y = Conv <strides = [2, 2]> (p, w)",
    y="float[1,4,4,5] y",
)


@pytest.mark.parametrize("fmt", ["neuralnetwork", "mlprogram"])
def test_a_view_chain_of_rank_six_is_planned_as_lower_rank_does_it(fmt):
    graph = graph_from_text(SWIN_WINDOWS)
    caps = capabilities_for("iOS15", format=fmt)
    found = {p.node: p for p in legality.plan(graph, caps, passes.pipeline("lower-custom"))}
    rank6 = [n.name for n in graph.nodes if n.op in ("Reshape", "Transpose") and len(n.outputs[0].shape) == 6]
    assert rank6 and all(caps.unsupported_reason(n) for n in graph.nodes if n.name in rank6)
    for name in rank6:
        assert found[name].status == "lowered" and found[name].rule == "lower::rank/merge_view_axes"
        assert {p.status for p in found[name].parts} == {"native"}
        assert "Transpose" in found[name].creates
    # the same pipeline without lower::rank: the rank-6 views stay unsupported
    without = passes.pipeline("lower-custom", disable=("lower::rank",))
    assert {p.status for p in legality.plan(graph, caps, without) if p.node in rank6} == {"unsupported"}


def test_a_pad_read_by_a_convolution_is_planned_into_it():
    graph = graph_from_text(PAD_INTO_CONV)
    caps = capabilities_for("iOS15")
    pad = next(p for p in legality.plan(graph, caps, passes.pipeline("lower-custom")) if p.op == "Pad")
    assert pad.status == "lowered" and pad.rule == "fuse::pad_into_conv/pad_into_conv"
    assert pad.creates == ("Conv",)
    none = next(p for p in legality.plan(graph, caps, passes.pipeline("none")) if p.op == "Pad")
    assert none.status == "native"  # -O none fuses nothing, and the target takes the Pad


def test_planning_a_rewriting_pass_leaves_the_graph_as_it_was():
    for text in (SWIN_WINDOWS, PAD_INTO_CONV):
        graph = graph_from_text(text)
        before = [(n.name, n.op, dict(n.attrs), [t.name for t in n.inputs]) for n in graph.nodes]
        consumers = {t.name: len(t.outputs) for n in graph.nodes for t in n.inputs}
        legality.plan(graph, capabilities_for("iOS15"), passes.pipeline("lower-custom"))
        assert [(n.name, n.op, dict(n.attrs), [t.name for t in n.inputs]) for n in graph.nodes] == before
        assert {t.name: len(t.outputs) for n in graph.nodes for t in n.inputs} == consumers


def test_a_pass_that_says_it_would_not_rewrite_is_not_run():
    runs = []

    class Counting(passes.Pass):
        id = "test::counting"
        plan_by_trial = True

        def may_rewrite(self, graph, capabilities):
            return bool(runs)  # no, the first time

        def call(self, graph, ctx):
            runs.append(graph)
            return passes.PassResult(graph, False)

    graph = graph_from_text(MIXED)
    legality.plan(graph, capabilities_for("iOS15"), [Counting()])
    assert runs == []
    runs.append(None)
    legality.plan(graph, capabilities_for("iOS15"), [Counting()])
    assert len(runs) == 2 and runs[1] is not graph  # run, on a copy
