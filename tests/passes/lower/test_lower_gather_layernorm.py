"""lower::layernorm (LayerNormalization the target's layer norm cannot take -> its ONNX function
body), what each format's gather takes as it is, and the one-line errors for what no custom layer can
hold. Per rule case: the op types after it, numbers against onnxruntime on the original graph, the
emitted model run through the reference executor, and the cases where the rule must not fire."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.executor import run as run_neuralnetwork
from bridgec.backends.coreml.executor.mlprogram import run_mlprogram
from bridgec.backends.coreml.mlprogram import build_mlprogram
from bridgec.backends.coreml.neuralnetwork import build_spec
from bridgec.backends.coreml.targets import Target
from bridgec.core.errors import ConversionError
from tests.helpers import assert_io_kept, graph_from_text, op_types, run_graph

NN, MLP = "neuralnetwork", "mlprogram"
X = (np.random.default_rng(5).standard_normal((2, 3, 4, 5)) * 3 + 1).astype(np.float32)
SCALE = ", ".join(str(0.1 * i - 0.7) for i in range(20))


def model(body: str, x: str = "float[2,3,4,5] x", out: str = "float[2,3,4,5]", extra: str = "") -> str:
    return f'<ir_version: 8, opset_import: ["" : 18]> g ({x}{extra}) => ({out} y) {{\n {body}\n}}'


def _feeds(graph) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        t.name: X if t.name == "x" else rng.standard_normal(t.shape).astype(np.float32) for t in graph.inputs
    }


def _emit_and_run(graph, fmt: str, feeds: dict) -> np.ndarray:
    if fmt == NN:
        return run_neuralnetwork(build_spec(graph, "iOS15"), feeds)["y"]
    return run_mlprogram(build_mlprogram(graph, Target.parse("iOS15", format=MLP)), feeds)["y"]


def _lower(graph, fmt: str, pass_id: str):
    context = passes.PassContext(capabilities=capabilities_for("iOS15", format=fmt))
    return passes.Pipeline([passes.create(pass_id)]).run(graph, context=context), context


MOMENTS = ["Add", "Div", "Mul", "Mul", "ReduceMean", "ReduceMean", "Sqrt", "Sub"]

# name: (graph, format, rule, op types after it, emit it): the format's layer norm refuses the node
LAYERNORM = {
    # torch's F.layer_norm(x, (4, 5), weight, bias) with weight and bias model inputs
    "runtime_scale_bias_last_two_axes_neuralnetwork": (
        model("y = LayerNormalization <axis = -2> (x, s, b)", extra=", float[4,5] s, float[4,5] b"),
        NN,
        "layernorm_bias_to_moments",
        ["Add", *MOMENTS],
        True,
    ),
    "runtime_scale_last_axis_mlprogram": (
        model("y = LayerNormalization <axis = -1, epsilon = 0.001> (x, s)", extra=", float[5] s"),
        MLP,
        "layernorm_to_moments",
        MOMENTS,
        True,
    ),
    # a batch extent known only at run time: both layer norms want the whole shape
    "unknown_batch_axis_1_mlprogram": (
        model(
            f"s = Constant <value = float[4,5] {{{SCALE}}}> ()\n y = LayerNormalization <axis = 2> (x, s)",
            x="float[N,3,4,5] x",
            out="float[N,3,4,5]",
        ),
        MLP,
        "layernorm_to_moments",
        sorted(["Constant", *MOMENTS]),
        False,
    ),
    "unknown_batch_axis_1_neuralnetwork": (
        model(
            f"s = Constant <value = float[4,5] {{{SCALE}}}> ()\n y = LayerNormalization <axis = 2> (x, s)",
            x="float[N,3,4,5] x",
            out="float[N,3,4,5]",
        ),
        NN,
        "layernorm_to_moments",
        sorted(["Constant", *MOMENTS]),
        False,
    ),
}


@pytest.mark.parametrize("case", LAYERNORM)
def test_layernorm_form_and_numbers(case):
    text, fmt, rule, expected, emit = LAYERNORM[case]
    graph = graph_from_text(text)
    feeds = _feeds(graph)
    want = run_graph(graph, feeds)[0]
    before = graph.copy()
    caps = capabilities_for("iOS15", format=fmt)
    assert caps.unsupported_reason(graph.nodes[-1])  # the format's layer norm refuses it as it is
    lowered, context = _lower(graph, fmt, "lower::layernorm")
    assert sorted(op_types(lowered)) == expected
    assert context.rule_hits[f"lower::layernorm/{rule}"] == 1
    assert_io_kept(before, lowered)
    assert not [n.name for n in lowered.nodes if caps.unsupported_reason(n)]
    np.testing.assert_allclose(run_graph(lowered, feeds)[0], want, rtol=1e-5, atol=1e-5)
    if emit:  # model inputs need static shapes: the unknown-batch cases stop at the graph
        np.testing.assert_allclose(_emit_and_run(lowered, fmt, feeds), want, rtol=1e-5, atol=1e-5)


# The formats take these as they are: the rules must not fire.
NATIVE = {
    # F.layer_norm over the last two axes with constant weight: both formats' layer norm
    "layernorm_last_two_axes": (
        model(
            f"s = Constant <value = float[4,5] {{{SCALE}}}> ()\n y = LayerNormalization <axis = -2> (x, s)"
        ),
        "lower::layernorm",
    ),
    "layernorm_axis_0": (
        model(
            "s = Constant <value = float[5] {0.5, -1.0, 2.0, 1.5, 0.25}> ()\n y = LayerNormalization <axis = 0> (x, s)"
        ),
        "lower::layernorm",
    ),
    # negative constant indices on a middle axis: both emitters normalise them themselves
    "gather_negative_indices_axis_2": (
        model(
            "i = Constant <value = int64[3] {-1, 0, -4}> ()\n y = Gather <axis = 2> (x, i)",
            out="float[2,3,3,5]",
        ),
        "lower::gather",
    ),
    "gather_negative_axis": (
        model(
            "i = Constant <value = int64[2,2] {-1, 0, 3, -2}> ()\n y = Gather <axis = -1> (x, i)",
            out="float[2,3,4,2,2]",
        ),
        "lower::gather",
    ),
}


@pytest.mark.parametrize("fmt", [NN, MLP])
@pytest.mark.parametrize("case", NATIVE)
def test_rules_do_not_fire_where_the_format_takes_the_node(case, fmt):
    text, pass_id = NATIVE[case]
    graph = graph_from_text(text)
    want = run_graph(graph, {"x": X})[0]
    before = op_types(graph)
    lowered, context = _lower(graph, fmt, pass_id)
    assert op_types(lowered) == before
    assert not any(context.rule_hits.values())
    np.testing.assert_allclose(_emit_and_run(lowered, fmt, {"x": X}), want, rtol=1e-5, atol=1e-5)


def test_a_layernorm_giving_its_mean_is_left_alone():
    graph = graph_from_text(
        '<ir_version: 8, opset_import: ["" : 18]> g (float[2,3,4,5] x, float[5] s) => '
        "(float[2,3,4,5] y, float[2,3,4,1] m, float[2,3,4,1] r) {\n y, m, r = LayerNormalization <axis = -1> (x, s)\n}"
    )
    lowered, context = _lower(graph, MLP, "lower::layernorm")
    assert op_types(lowered) == ["LayerNormalization"]
    assert "Mean/InvStdDev" in context.near_misses["lower::layernorm/layernorm_to_moments"].reason


# --- what no custom layer can hold: the error names the reason and never advises a flag that fails --

RANK6 = (
    '<ir_version: 8, opset_import: ["" : 18]> g (float[2,3,4,5] x) => (float[2,3,4,5] y) {\n'
    " s6 = Constant <value = int64[6] {2, 1, 3, 1, 4, 5}> ()\n s4 = Constant <value = int64[4] {2, 3, 4, 5}> ()\n"
    " r = Reshape (x, s6)\n e = Exp (r)\n y = Reshape (e, s4)\n}"
)
SIN = model("y = Sin (x)")


def _tag_and_check(text: str, fmt: str, pipeline: str, allow: bool = False) -> str:
    context = passes.PassContext(
        capabilities=capabilities_for("iOS15", format=fmt), pipeline=pipeline, allow_missing_kernels=allow
    )
    ids = (
        ["custom::tag_custom_layers", "check::target_legal"]
        if "custom" in pipeline
        else ["check::target_legal"]
    )
    with pytest.raises(ConversionError) as raised:
        passes.Pipeline([passes.create(i) for i in ids]).run(graph_from_text(text), context=context)
    return str(raised.value)


@pytest.mark.parametrize("fmt", [NN, MLP])
@pytest.mark.parametrize("pipeline", ["lower-custom", "custom", "none", "lower"])
def test_a_rank6_tensor_names_the_reason_and_the_rule_it_needs(fmt, pipeline):
    for allow in (False, True):
        message = _tag_and_check(RANK6, fmt, pipeline, allow)
        assert "\n" not in message
        assert message.startswith(f"-O {pipeline}: Core ML ")
        assert "Exp x1 (a rank-6 tensor ('r'); Core ML tensors have rank <= 5" in message
        assert "Reshape x2 (a rank-6 tensor" in message
        assert "only a lowering rule for Exp, Reshape that removes that reason converts them" in message
        assert "--allow-missing-kernels" not in message and "custom layers of them" not in message
        assert "-O lower-custom to" not in message and "-O lower-custom with" not in message


def test_a_missing_kernel_on_an_ml_program_names_the_format_that_can_hold_it():
    # Sin has a MIL op: avoid it so the ML Program refuses it as "no MIL op" would
    context = passes.PassContext(
        capabilities=capabilities_for("iOS15", avoid_ops=("Sin",), format=MLP), pipeline="lower-custom"
    )
    with pytest.raises(ConversionError) as raised:
        passes.Pipeline([passes.create("custom::tag_custom_layers")]).run(
            graph_from_text(SIN), context=context
        )
    message = str(raised.value)
    assert (
        "\n" not in message
        and "Sin x1 (avoided with --avoid-op; no rule of this pipeline matches Sin" in message
    )
    assert "pass --allow-missing-kernels --format neuralnetwork to emit them anyway" in message


def test_a_missing_kernel_on_a_neuralnetwork_keeps_its_advice():
    message = _tag_and_check(model("y = Round (x)"), NN, "lower-custom")
    assert "Round x1 (no Core ML layer for this op; no rule of this pipeline matches Round: " in message
    assert "pass --allow-missing-kernels to emit them anyway" in message


@pytest.mark.slow
@pytest.mark.parametrize("fmt", [NN, MLP])
def test_torch_layer_norm_with_runtime_weights_converts(tmp_path, fmt):
    """F.layer_norm over the last two axes with weight and bias given at run time: PyTorch against the
    emitted model (convert's own numbers check raises on a mismatch)."""
    import torch

    from bridgec.driver.convert import convert

    class Net(torch.nn.Module):
        def forward(self, x, w, b):
            return torch.nn.functional.layer_norm(x, (4, 5), w, b)

    path = tmp_path / "ln.pt"
    torch.jit.trace(Net().eval(), (torch.randn(2, 3, 4, 5), torch.randn(4, 5), torch.randn(4, 5))).save(
        str(path)
    )
    result = convert(path, inputs={"x": (2, 3, 4, 5), "w": (4, 5), "b": (4, 5)}, format=fmt, write=False)
    assert result.check.status == "checked"
    assert "lower::layernorm/layernorm_bias_to_moments" in {
        f"{r.pass_id}/{r.rule}" for r in result.context.rewrites
    }
