"""lower::normalization: BatchNormalization and InstanceNormalization on ranks the format's layer
does not take, normalised on a rank-4 view. Per case: the op types after the rule, numbers equal to
onnxruntime on the original graph (after the rewrite, and in the emitted model through the reference
executor), the cases the format takes as they are (the rule must not fire), and the torch modules
that motivated it (BatchNorm1d/3d, InstanceNorm1d/3d, GroupNorm) converted without a custom layer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.executor import run as run_neuralnetwork
from bridgec.backends.coreml.executor.mlprogram import run_mlprogram
from bridgec.backends.coreml.mlprogram import build_mlprogram
from bridgec.backends.coreml.neuralnetwork import build_spec
from bridgec.backends.coreml.targets import Target
from bridgec.core import ir
from tests.helpers import assert_io_kept, assert_matches, graph_from_text, op_types, run_graph, run_pipeline

NN, MLP = "neuralnetwork", "mlprogram"
PASS = "lower::normalization"
C3 = "float[3] {0.5, -1.25, 2.0}"
VAR = "float[3] {0.25, 1.5, 4.0}"


def model(shape: str, body: str, opset: int = 18) -> str:
    dims = ",".join(shape.split("x"))
    return (
        f'<ir_version: 8, opset_import: ["" : {opset}]> g (float[{dims}] x) => (float[{dims}] y) '
        f"{{\n s = Constant <value = {C3}> ()\n b = Constant <value = float[3] {{0.1, 0.0, -0.3}}> ()\n"
        f" m = Constant <value = float[3] {{1.0, -0.5, 0.0}}> ()\n v = Constant <value = {VAR}> ()\n"
        f" {body}\n}}"
    )


def bn(shape: str, opset: int = 18, attrs: str = "") -> str:
    return model(shape, f"y = BatchNormalization {attrs}(x, s, b, m, v)", opset)


def inorm(shape: str) -> str:
    return model(shape, "y = InstanceNormalization <epsilon = 0.001> (x, s, b)")


UNSQUEEZED = ["BatchNormalization", "Constant", "Constant", "Constant", "Constant", "Squeeze", "Unsqueeze"]
MERGED = ["BatchNormalization", "Constant", "Constant", "Constant", "Constant", "Reshape", "Reshape"]
IN_UNSQUEEZED = ["Constant", "Constant", "InstanceNormalization", "Squeeze", "Unsqueeze"]
IN_MERGED = ["Constant", "Constant", "InstanceNormalization", "Reshape", "Reshape"]

# name: (graph, format, the rule, op types after it)
CASES = {
    "bn_rank2_neuralnetwork": (bn("2x3"), NN, "batchnorm_unsqueeze_to_rank4", UNSQUEEZED),
    "bn_rank3_neuralnetwork": (bn("2x3x7"), NN, "batchnorm_unsqueeze_to_rank4", UNSQUEEZED),
    "bn_rank3_opset9_neuralnetwork": (bn("2x3x7", opset=9), NN, "batchnorm_unsqueeze_to_rank4", UNSQUEEZED),
    "bn_rank5_neuralnetwork": (bn("2x3x4x5x6"), NN, "batchnorm_merge_to_rank4", MERGED),
    "in_rank3_neuralnetwork": (inorm("2x3x7"), NN, "instancenorm_unsqueeze_to_rank4", IN_UNSQUEEZED),
    "in_rank5_neuralnetwork": (inorm("2x3x4x5x6"), NN, "instancenorm_merge_to_rank4", IN_MERGED),
    "in_rank5_mlprogram": (inorm("2x3x4x5x6"), MLP, "instancenorm_merge_to_rank4", IN_MERGED),
}


def _input(graph) -> np.ndarray:
    shape = graph.inputs[0].shape
    # an offset per channel and a spread of magnitudes: the statistics are not those of N(0, 1)
    x = np.random.default_rng(len(shape)).standard_normal(shape) * 3 + np.arange(shape[1]).reshape(
        (1, -1) + (1,) * (len(shape) - 2)
    )
    return x.astype(np.float32)


def _emit_and_run(graph, fmt: str, feeds: dict) -> np.ndarray:
    if fmt == NN:
        return run_neuralnetwork(build_spec(graph, "iOS15"), feeds)["y"]
    return run_mlprogram(build_mlprogram(graph, Target.parse("iOS15", format=MLP)), feeds)["y"]


@pytest.mark.parametrize("case", CASES)
def test_rule_form_and_numbers(case):
    text, fmt, rule, expected = CASES[case]
    graph = graph_from_text(text)
    feeds = {"x": _input(graph)}
    want = run_graph(graph, feeds)[0]
    before = graph.copy()
    caps = capabilities_for("iOS15", format=fmt)
    assert caps.unsupported_reason(graph.nodes[-1])  # the emitter refuses the node as it is
    context = passes.PassContext(capabilities=caps)
    lowered = passes.Pipeline([passes.create(PASS)]).run(graph, context=context)
    assert op_types(lowered) == expected
    assert context.rule_hits[f"{PASS}/{rule}"] == 1
    assert_io_kept(before, lowered)
    assert not [n.name for n in lowered.nodes if caps.unsupported_reason(n)]
    # the same op on the same values; onnxruntime may sum the statistics in another order
    assert_matches(run_graph(lowered, feeds)[0], want, tolerance=1e-6)
    assert_matches(_emit_and_run(lowered, fmt, feeds), want, tolerance=1e-5)


# name: (graph, format): the format takes the node as it is, or the rule has no exact form
NOT_FIRED = {
    "bn_rank4_neuralnetwork": (bn("2x3x4x5"), NN),
    "bn_rank2_mlprogram": (bn("2x3"), MLP),
    "bn_rank3_mlprogram": (bn("2x3x7"), MLP),
    "bn_rank5_mlprogram": (bn("2x3x4x5x6"), MLP),
    "in_rank3_mlprogram": (inorm("2x3x7"), MLP),
    "in_rank4_neuralnetwork": (inorm("2x3x4x5"), NN),
    # the batch's statistics: reshaping would not make it a layer the target has
    "bn_training_rank3_neuralnetwork": (bn("2x3x7", attrs="<training_mode = 1> "), NN),
    # before opset 14 the statistics outputs, used or not, are what makes it training mode
    "bn_opset9_statistics_rank3_neuralnetwork": (
        model("2x3x7", "y, rm, rv, sm, sv = BatchNormalization (x, s, b, m, v)", opset=9),
        NN,
    ),
    # a scale computed at run time: the rank-4 op would be refused too
    "in_runtime_scale_rank3_neuralnetwork": (
        model("2x3x7", "t = Abs (s)\n y = InstanceNormalization (x, t, b)"),
        NN,
    ),
}


@pytest.mark.parametrize("case", NOT_FIRED)
def test_rule_does_not_fire(case):
    text, fmt = NOT_FIRED[case]
    graph = graph_from_text(text)
    before = op_types(graph)
    context = passes.PassContext(capabilities=capabilities_for("iOS15", format=fmt))
    lowered = passes.Pipeline([passes.create(PASS)]).run(graph, context=context)
    assert op_types(lowered) == before
    assert not any(context.rule_hits.values())


def test_rank5_with_a_dynamic_batch_copies_it():
    # N unknown: the reshapes copy (0) N, C and D, so only H and W need to be static
    text = bn("2x3x4x5x6").replace("float[2,3,4,5,6] x", "float[N,3,4,5,6] x")
    graph = graph_from_text(text.replace("float[2,3,4,5,6] y", "float[N,3,4,5,6] y"))
    context = passes.PassContext(capabilities=capabilities_for("iOS15", format=NN))
    lowered = passes.Pipeline([passes.create(PASS)]).run(graph, context=context)
    assert context.rule_hits[f"{PASS}/batchnorm_merge_to_rank4"] == 1
    reshapes = [ir.constant_value(n.inputs[1]).tolist() for n in lowered.nodes if n.op == "Reshape"]
    assert sorted(reshapes) == [[0, 0, 0, -1], [0, 0, 0, 5, 6]]
    feeds = {"x": np.random.default_rng(0).standard_normal((3, 3, 4, 5, 6)).astype(np.float32)}
    assert_matches(run_graph(lowered, feeds)[0], run_graph(graph_from_text(text), feeds)[0], tolerance=1e-6)


@pytest.mark.parametrize("pipeline", ["none", "custom", "lower-custom"])
def test_every_pipeline_legalises_batchnorm1d(pipeline):
    graph = graph_from_text(bn("2x3x7"))
    _, lowered, ctx = run_pipeline(graph, pipeline, "iOS15", format=NN)
    assert "batchnorm_unsqueeze_to_rank4" in {r.rule for r in ctx.rewrites}
    assert not [n for n in lowered.nodes if ir.op_key(n)[0] == ir.CUSTOM_DOMAIN]


# --- the torch modules that motivated the rules ------------------------------------------------------


class _Net(nn.Module):
    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, x):
        return self.norm(x) * 2.0


def _batchnorm(norm: nn.Module) -> nn.Module:
    rng = torch.Generator().manual_seed(0)
    with torch.no_grad():  # running statistics and an affine map that are not the identity
        norm.running_mean.copy_(torch.randn(norm.num_features, generator=rng))
        norm.running_var.copy_(torch.rand(norm.num_features, generator=rng) + 0.5)
        norm.weight.copy_(torch.randn(norm.num_features, generator=rng))
        norm.bias.copy_(torch.randn(norm.num_features, generator=rng))
    return norm


def _affine(norm: nn.Module) -> nn.Module:
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(-1.5, 2.0, norm.weight.numel()))
        norm.bias.copy_(torch.linspace(0.5, -0.5, norm.bias.numel()))
    return norm


# name: (module, input shape, the rule that fires in each format, None where the format takes it)
MODULES = {
    "batchnorm1d_rank2": (_batchnorm(nn.BatchNorm1d(4)), (2, 4), "batchnorm_unsqueeze_to_rank4", None),
    "batchnorm1d_rank3": (_batchnorm(nn.BatchNorm1d(4)), (2, 4, 9), "batchnorm_unsqueeze_to_rank4", None),
    "batchnorm3d": (_batchnorm(nn.BatchNorm3d(4)), (2, 4, 3, 5, 6), "batchnorm_merge_to_rank4", None),
    "instancenorm1d": (nn.InstanceNorm1d(4), (2, 4, 9), "instancenorm_unsqueeze_to_rank4", None),
    "instancenorm1d_affine": (
        _affine(nn.InstanceNorm1d(4, affine=True)),
        (2, 4, 9),
        "instancenorm_unsqueeze_to_rank4",
        None,
    ),
    "instancenorm3d_affine": (
        _affine(nn.InstanceNorm3d(4, affine=True)),
        (2, 4, 3, 5, 6),
        "instancenorm_merge_to_rank4",
        "instancenorm_merge_to_rank4",
    ),
    # torch exports GroupNorm as an InstanceNormalization over an (N, groups, -1) reshape
    "groupnorm1": (_affine(nn.GroupNorm(1, 4)), (2, 4, 5, 6), "instancenorm_unsqueeze_to_rank4", None),
    "groupnorm2": (_affine(nn.GroupNorm(2, 4)), (2, 4, 5, 6), "instancenorm_unsqueeze_to_rank4", None),
}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", [NN, MLP])
@pytest.mark.parametrize("name", MODULES)
def test_torch_module_converts_without_a_custom_layer(name, fmt, tmp_path):
    from bridgec.driver.convert import convert

    module, shape, nn_rule, mlp_rule = MODULES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(_Net(module).eval(), torch.randn(shape))
    path = tmp_path / f"{name}.pt"
    torch.jit.save(traced, str(path))
    # the built-in numbers check (PyTorch vs the emitted model) raises on a mismatch
    result = convert(path, inputs={"x": shape}, write=False, format=fmt, strict=True)
    assert result.check.status == "checked"
    assert not [n.name for n in result.graph.nodes if ir.op_key(n)[0] == ir.CUSTOM_DOMAIN]
    rule = nn_rule if fmt == NN else mlp_rule
    fired = {r.rule for r in result.context.rewrites if r.pass_id == PASS}
    assert fired == ({rule} if rule else set())
