"""Activations, Clip, Softmax and the kept ai.bridgec activations as ML Program ops, against onnxruntime."""

from __future__ import annotations

import pytest

from tests.backends.coreml.mlprogram_ops._mlprogram_helpers import check, freeze, graph

BRIDGEC = ', "ai.bridgec" : 1'

CASES = {
    "relu": ("y = Relu (x)", ("relu",)),
    "sigmoid": ("y = Sigmoid (x)", ("sigmoid",)),
    "tanh": ("y = Tanh (x)", ("tanh",)),
    "leaky_relu": ("y = LeakyRelu <alpha = 0.3> (x)", ("leaky_relu",)),
    "elu": ("y = Elu <alpha = 0.7> (x)", ("elu",)),
    "celu": ("y = Celu (x)", ("elu",)),  # alpha 1: celu is elu
    "softplus": ("y = Softplus (x)", ("softplus",)),
    "softsign": ("y = Softsign (x)", ("softsign",)),
    "hard_sigmoid": ("y = HardSigmoid <alpha = 0.25, beta = 0.4> (x)", ("sigmoid_hard",)),
    "gelu_20": ("y = Gelu (x)", ("gelu",)),
    "gelu_20_tanh": ('y = Gelu <approximate = "tanh"> (x)', ("gelu",)),
    "clip": (
        "lo = Constant <value = float {-0.5}> ()\n hi = Constant <value = float {0.7}> ()\n y = Clip (x, lo, hi)",
        ("clip",),
    ),
    "clip_min_only": ("lo = Constant <value = float {-0.5}> ()\n y = Clip (x, lo)", ("maximum",)),
    "clip_relu": ("lo = Constant <value = float {0.0}> ()\n y = Clip (x, lo)", ("relu",)),
    "softmax": ("y = Softmax <axis = 1> (x)", ("softmax",)),
    "identity_dropout": ("a = Identity (x)\n y = Dropout (a)", ("identity",)),
    "bridgec_hardtanh": ("y = ai.bridgec.HardTanh <min_value = 0.0, max_value = 6.0> (x)", ("clip",)),
    "bridgec_hardtanh_open": ("y = ai.bridgec.HardTanh <min_value = -1.0, max_value = 1.0> (x)", ("clip",)),
    "bridgec_hardsigmoid": (
        "y = ai.bridgec.HardSigmoid <alpha = 0.16666667, beta = 0.5> (x)",
        ("sigmoid_hard",),
    ),
    "bridgec_gelu": ('y = ai.bridgec.Gelu <approximate = "none"> (x)', ("gelu",)),
    "bridgec_gelu_tanh": ('y = ai.bridgec.Gelu <approximate = "tanh"> (x)', ("gelu",)),
    "bridgec_silu": ("y = ai.bridgec.Silu (x)", ("silu",)),
    "bridgec_elu": ("y = ai.bridgec.Elu <alpha = 0.5> (x)", ("elu",)),
    "bridgec_leaky_relu": ("y = ai.bridgec.LeakyRelu <alpha = 0.2> (x)", ("leaky_relu",)),
    "bridgec_erf": ("y = ai.bridgec.Erf (x)", ("erf",)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_activation(case):
    body, mil_ops = CASES[case]
    opset = 20 if case.startswith("gelu_20") else 17
    extra = BRIDGEC if case.startswith("bridgec") else ""
    check(graph(body, opset=opset, extra=extra), mil_ops)


# No MIL op computes these: the passes lower them by a named rule first, so the report says
# "lowered" and -O none refuses them, in an ML Program as in a NeuralNetwork.
LOWERED = {
    "hardswish": ("y = ai.bridgec.HardSwish (x)", "hardswish_to_hardsigmoid", ("sigmoid_hard", "mul")),
    "mish": ("y = ai.bridgec.Mish (x)", "mish_to_softplus", ("softplus", "tanh", "mul")),
    "selu": ("y = ai.bridgec.Selu <alpha = 1.6732632, gamma = 1.050701> (x)", "selu_to_elu", ("elu", "mul")),
    "celu": ("y = ai.bridgec.Celu <alpha = 0.5> (x)", "celu_to_elu", ("elu", "mul")),
    "softplus_beta": (
        "y = ai.bridgec.Softplus <beta = 2.0, threshold = 20.0> (x)",
        "softplus_to_scaled",
        ("mul", "softplus"),  # coremltools turns the division by b into a mul
    ),
    "hardshrink": (
        "y = ai.bridgec.Hardshrink <lambd = 0.5> (x)",
        "hardshrink_to_where",
        ("abs", "less_equal", "select"),
    ),
    "log_softmax": (
        "y = LogSoftmax <axis = -1> (x)",
        "log_softmax_to_logsumexp",
        ("reduce_log_sum_exp", "sub"),
    ),
}


@pytest.mark.parametrize("case", sorted(LOWERED))
def test_lowered_activation(case):
    from bridgec.backends.coreml import capabilities_for
    from bridgec.core.errors import ConversionError
    from bridgec.driver.pipeline import RunOptions
    from tests.helpers import run_pipeline

    body, rule, mil_ops = LOWERED[case]
    g = graph(body, extra=BRIDGEC)
    caps = capabilities_for("iOS15", format="mlprogram")
    assert caps.unsupported_reason(g.nodes[0])  # no single MIL op: the emitter table refuses it
    if case == "log_softmax":  # a standard op ONNX defines by a function body: -O none inlines it
        shaped = graph(body, outputs="float[2,3,4,5] y", extra=BRIDGEC)
        _, legal, ctx = run_pipeline(shaped, "none", "iOS15", format="mlprogram")
        assert {r.pass_id for r in ctx.rewrites} == {"lower::onnx_function"}
        assert not [n for n in legal.nodes if caps.unsupported_reason(n)]
    else:
        with pytest.raises(ConversionError, match="-O none"):
            run_pipeline(g.copy(), "none", "iOS15", format="mlprogram")
    _, lowered, ctx = run_pipeline(
        g, "lower", "iOS15", format="mlprogram", options=RunOptions(check_each=False)
    )
    assert rule in {r.rule for r in ctx.rewrites}
    check(lowered, mil_ops)


def test_hardtanh_is_one_clip():
    from bridgec.backends.coreml.mlprogram import mil_op_counts

    g = graph("y = ai.bridgec.HardTanh <min_value = 0.0, max_value = 6.0> (x)", extra=BRIDGEC)
    assert mil_op_counts(check(g)) == {"clip": 1}


@pytest.mark.parametrize(
    ("slope_shape", "mil_op"), [("[3,1,1]", "prelu"), ("[1]", "leaky_relu"), ("[5]", "minimum")]
)
def test_prelu(slope_shape, mil_op):
    g = graph("y = PRelu (x, s)", inputs=f"float[2,3,4,5] x, float{slope_shape} s")
    check(freeze(g, s=None), (mil_op,))


def test_softplus_low_threshold_is_refused():
    from bridgec.backends.coreml import mlprogram_ops as mil

    g = graph("y = ai.bridgec.Softplus <beta = 1.0, threshold = 5.0> (x)", extra=BRIDGEC)
    node = g.nodes[0]
    assert "threshold" in mil.lookup(node).check(node, None)
