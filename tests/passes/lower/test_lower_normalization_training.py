"""Training-mode BatchNormalization (``normalization.batch_statistics``): both formats' capability
checks refuse it up front, naming the fix (export in eval mode), and take the inference forms. The
refused forms are what onnxruntime computes with the batch's statistics; the accepted ones emit
the inference formula, checked through the reference executor."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.model import build as build_model
from bridgec.backends.coreml.targets import Target
from bridgec.core.errors import ConversionError
from tests.helpers import assert_matches, graph_from_text, run_graph

FORMATS = ("neuralnetwork", "mlprogram")
SHAPE = (2, 3, 4, 5)
C = {"s": [0.5, -1.25, 2.0], "b": [0.1, 0.0, -0.3], "m": [1.0, -0.5, 0.0], "v": [0.25, 1.5, 4.0]}


def bn(
    outputs: str, opset: int, attrs: str = "", graph_outputs: str = "float[2,3,4,5] y", extra: str = ""
) -> str:
    constants = "".join(
        f" {k} = Constant <value = float[3] {{{', '.join(map(str, v))}}}> ()\n" for k, v in C.items()
    )
    return (
        f'<ir_version: 8, opset_import: ["" : {opset}]> g (float[2,3,4,5] x) => ({graph_outputs}) {{\n'
        f"{constants} {outputs} = BatchNormalization {attrs}(x, s, b, m, v)\n{extra}}}"
    )


def _x() -> np.ndarray:
    return (np.random.default_rng(1).standard_normal(SHAPE) * 3 + 2).astype(np.float32)


def _inference(x: np.ndarray) -> np.ndarray:
    s, b, m, v = (np.array(C[k], np.float32).reshape(1, 3, 1, 1) for k in "sbmv")
    return (x - m) / np.sqrt(v + np.float32(1e-5)) * s + b


# name: (graph, onnxruntime runs it in training mode: the batch's statistics)
REFUSED = {
    "training_mode_1": (bn("y, rm, rv", 18, "<training_mode = 1> "), True),
    # opset 9-13: the outputs make it training mode, read or not (onnxruntime agrees)
    "opset13_statistics_unused": (bn("y, mean, var, smean, svar", 13), True),
    "opset13_statistics_graph_outputs": (
        bn("y, mean, var, smean, svar", 13, graph_outputs="float[2,3,4,5] y, float[3] mean"),
        True,
    ),
    # training_mode 0 with a running statistic read: an invalid node (onnx refuses extra outputs)
    "training_mode_0_statistics_read": (
        bn("y0, rm, rv", 15, "<training_mode = 0> ", extra=" y = Add (y0, rm)\n"),
        None,
    ),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", REFUSED)
def test_training_mode_is_refused_with_the_fix(case, fmt):
    text, batch_statistics = REFUSED[case]
    graph = graph_from_text(text)
    node = next(n for n in graph.nodes if n.op == "BatchNormalization")
    reason = capabilities_for("iOS15", format=fmt).unsupported_reason(node)
    assert (
        reason is not None and "training mode" in reason and "model.eval()" in reason and "\n" not in reason
    )
    if batch_statistics:  # what the refusal protects: onnxruntime's numbers are not the inference formula
        x = _x()
        got = run_graph(graph, {"x": x})[0]
        assert np.abs(got - _inference(x)).max() > 0.1


# name: graph; the format's batchnorm computes it: the inference formula
ACCEPTED = {
    "opset13_one_output": bn("y", 13),
    "opset18_one_output": bn("y", 18),
    "training_mode_0_explicit": bn("y", 15, "<training_mode = 0> "),
    # opset 14+ with training_mode 0 stated: unused extra outputs do not make it training
    "training_mode_0_statistics_unused": bn("y, rm, rv", 15, "<training_mode = 0> "),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", ACCEPTED)
def test_inference_forms_are_taken(case, fmt):
    graph = graph_from_text(ACCEPTED[case])
    node = next(n for n in graph.nodes if n.op == "BatchNormalization")
    assert capabilities_for("iOS15", format=fmt).unsupported_reason(node) is None
    x = _x()
    got = build_model(graph.copy(), Target.parse("iOS15", format=fmt)).run_reference({"x": x})["y"]
    assert_matches(got, _inference(x), tolerance=1e-5)


@pytest.mark.parametrize("fmt", FORMATS)
def test_omitted_statistics_outputs_are_inference(fmt):
    # empty output names: the optional outputs are not there (opset 13's inference form)
    graph = graph_from_text(bn("y", 13))
    node = graph.nodes[-1]
    node.outputs.extend(type(node.outputs[0])("") for _ in range(4))
    assert capabilities_for("iOS15", format=fmt).unsupported_reason(node) is None


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_module_traced_in_training_mode_is_refused_naming_eval(fmt, tmp_path):
    from bridgec.driver.convert import convert

    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, torch.randn(2, 3, 8, 8))
        torch.jit.save(traced, str(tmp_path / "train.pt"))
    with pytest.raises(ConversionError) as caught:
        convert(tmp_path / "train.pt", inputs={"input": (2, 3, 8, 8)}, write=False, format=fmt)
    message = str(caught.value)
    assert "\n" not in message and "training mode" in message and "model.eval()" in message


@pytest.mark.parametrize("target", ["iOS15", "iOS18"])
def test_a_pt2_exported_in_training_mode_is_refused_naming_eval_not_state(target, tmp_path):
    """torch.export records the running statistics' update as buffer writes: that is training, not
    state to keep between predictions (at iOS18 it would otherwise become an MLState)."""
    from bridgec.driver.convert import convert

    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).train()
    torch.export.save(torch.export.export(module, (torch.randn(2, 3, 8, 8),)), tmp_path / "train.pt2")
    with pytest.raises(ConversionError) as caught:
        convert(tmp_path / "train.pt2", target=target, write=False)
    message = str(caught.value)
    assert "\n" not in message and "training mode" in message and "model.eval()" in message
    assert "1.running_mean" in message and "state" not in message
