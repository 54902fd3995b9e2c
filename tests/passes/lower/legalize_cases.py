"""What a legalisation rule's tests check, shared by the rule files' tests: the rule fires where the
format refuses the node, the op types after it, numbers equal to onnxruntime's on the original graph
(bit for bit after the rewrite, and in the emitted model run by the reference executor); and a
torch module converted end to end, whose built-in numbers check raises on a mismatch."""

from __future__ import annotations

import warnings

import numpy as np

from bridgec import passes
from bridgec.backends.coreml import capabilities_for
from bridgec.backends.coreml.executor import run as run_neuralnetwork
from bridgec.backends.coreml.executor.mlprogram import run_mlprogram
from bridgec.backends.coreml.mlprogram import build_mlprogram
from bridgec.backends.coreml.neuralnetwork import build_spec
from bridgec.backends.coreml.targets import Target
from tests.helpers import assert_io_kept, graph_from_text, op_types, run_graph

NN, MLP = "neuralnetwork", "mlprogram"


def feeds_for(graph, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {t.name: (rng.standard_normal(t.shape) * 3).astype(np.float32) for t in graph.inputs}


def emit_and_run(graph, fmt: str, feeds: dict) -> dict[str, np.ndarray]:
    if fmt == NN:
        return run_neuralnetwork(build_spec(graph, "iOS15"), feeds)
    return run_mlprogram(build_mlprogram(graph, Target.parse("iOS15", format=MLP)), feeds)


def assert_rule_fires(
    text: str, fmt: str, pass_id: str, rule: str, expected: list[str], exact: bool = True
) -> None:
    """``exact=False``: the same sums, whose order onnxruntime's kernels may choose differently."""
    graph = graph_from_text(text)
    feeds = feeds_for(graph)
    want = run_graph(graph, feeds)
    before = graph.copy()
    caps = capabilities_for("iOS15", format=fmt)
    assert [n.name for n in graph.nodes if caps.unsupported_reason(n)]  # the format refuses it as it is
    context = passes.PassContext(capabilities=caps)
    lowered = passes.Pipeline([passes.create(pass_id)]).run(graph, context=context)
    assert op_types(lowered) == expected
    assert context.rule_hits[f"{pass_id}/{rule}"] == 1
    assert_io_kept(before, lowered)
    assert not [(n.name, caps.unsupported_reason(n)) for n in lowered.nodes if caps.unsupported_reason(n)]
    for got, expect in zip(run_graph(lowered, feeds), want, strict=True):
        if exact:
            np.testing.assert_array_equal(got, expect)
        else:
            np.testing.assert_allclose(got, expect, rtol=1e-6, atol=1e-6)
    emitted = emit_and_run(lowered, fmt, feeds)
    for tensor, expect in zip(lowered.outputs, want, strict=True):
        np.testing.assert_allclose(emitted[tensor.name], expect, atol=1e-5, rtol=1e-5)


def assert_core_ai_rule_fires(text: str, pass_id: str, rule: str, expected: list[str], folder) -> None:
    """The rule fires for Core AI where its table refuses the node, leaves only nodes Core AI takes,
    and keeps the numbers: onnxruntime on the lowered graph, then the built ``.aimodel`` in Apple's
    runtime (where coreai-core is installed), both against onnxruntime on the original graph."""
    import pytest

    from bridgec.backends.coreai.capabilities import capabilities_for as coreai_capabilities

    graph = graph_from_text(text)
    graph.fold_constants().cleanup()  # Constant nodes -> constants, as the passes see them
    feeds = feeds_for(graph)
    want = run_graph(graph, feeds)
    before = graph.copy()
    caps = coreai_capabilities("iOS27")
    assert [n.name for n in graph.nodes if caps.unsupported_reason(n)]
    context = passes.PassContext(capabilities=caps)
    lowered = passes.Pipeline([passes.create(pass_id)]).run(graph, context=context)
    assert op_types(lowered) == expected
    assert context.rule_hits[f"{pass_id}/{rule}"] == 1
    assert_io_kept(before, lowered)
    assert not [(n.name, caps.unsupported_reason(n)) for n in lowered.nodes if caps.unsupported_reason(n)]
    for got, expect in zip(run_graph(lowered, feeds), want, strict=True):
        np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-5)
    pytest.importorskip(
        "coreai.authoring", reason="coreai-core is not installed (pip install bridgec[coreai])"
    )
    from bridgec.backends.coreai.builder import build_program
    from bridgec.backends.coreai.run import run_model

    lowered.fold_constants().cleanup()
    path = folder / "m.aimodel"
    build_program(lowered, caps.target).save(path)
    got = run_model(path, feeds)
    for tensor, expect in zip(lowered.outputs, want, strict=True):
        np.testing.assert_allclose(got[tensor.name], expect, rtol=1e-5, atol=1e-5)


def assert_rule_does_not_fire(text: str, fmt: str, pass_id: str) -> None:
    graph = graph_from_text(text)
    before = op_types(graph)
    context = passes.PassContext(capabilities=capabilities_for("iOS15", format=fmt))
    lowered = passes.Pipeline([passes.create(pass_id)]).run(graph, context=context)
    assert op_types(lowered) == before
    assert not any(context.rule_hits.values())


def convert_module(module, shape: tuple[int, ...], fmt: str, folder) -> list[str]:
    """Trace ``module``, convert it for ``fmt`` (the conversion checks the emitted model's numbers
    against PyTorch and raises on a mismatch); the rules that fired."""
    import torch

    from bridgec.driver.convert import convert

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        script = torch.jit.trace(module.eval(), torch.randn(shape))
    path = folder / "module.pt"
    script.save(str(path))
    result = convert(str(path), inputs={None: shape}, write=False, format=fmt, strict=True)
    return sorted({f"{r.pass_id}/{r.rule}" for r in result.analysis.context.rewrites})
