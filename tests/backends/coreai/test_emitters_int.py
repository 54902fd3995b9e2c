"""The integer, bool and text emitters (gather, logic, cast, text) on small ONNX graphs: built, run in
Apple's runtime (a child process) and compared with onnxruntime. Several ops share one graph, so
one child runs them all; each output is compared by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from bridgec.backends.coreai.builder import build_program
from bridgec.backends.coreai.capabilities import capabilities_for
from bridgec.backends.coreai.inputs import coreai_feeds
from bridgec.backends.coreai.run import run_model
from bridgec.core import ir
from bridgec.driver.analysis import analyse
from tests.helpers import assert_matches, graph_from_text, run_graph

HEAD = '<ir_version: 8, opset_import: ["" : 18, "ai.bridgec" : 1]>'

LOGIC = """
(int32[2,3] a, int32[2,3] b, float[2,3] x, float[3] w, bool[2,3] p, bool[1,3] q, int64[2,3] l, float16[2,3] h)
 => (bool[2,3] eq, bool[2,3] gt, bool[2,3] lt, bool[2,3] ge, bool[2,3] le, bool[2,3] nt, bool[2,3] an,
     bool[2,3] orr, bool[2,3] xo, float[2,3] wh, float[2,3] c1, int32[2,3] c2, bool[2,3] c3, int64[2,3] c4,
     float[2,3] c5, float[2,3] ex, int64[2,3] twice, float16[2,3] half, float16[2,3] c6)
{
  eq = Equal(a, b)
  gt = Greater(x, w)
  lt = Less(a, b)
  ge = GreaterOrEqual(a, b)
  le = LessOrEqual(a, b)
  nt = Not(p)
  an = And(p, q)
  orr = Or(p, q)
  xo = Xor(p, q)
  wh = Where(p, x, w)
  c1 = Cast<to=1>(a)
  c2 = Cast<to=6>(x)
  c3 = Cast<to=9>(a)
  c4 = Cast<to=7>(a)
  c5 = Cast<to=1>(p)
  s = Constant<value=int64[2] {2,3}>()
  ex = Expand(w, s)
  twice = Mul(l, l)
  half = Add(h, h)
  c6 = Cast<to=10>(x)
}
"""

GATHER = """
(float[5,4] table, int32[2,3] ids, float[2,5,3] x, int32[4,2] j, bool[3,4] m, int64[2,2] nd)
 => (float[2,3,4] rows, float[2,4,2,3] mid, float[2,3] one, float[4] neg, bool[2] mask_nd)
{
  rows = Gather(table, ids)
  mid = Gather<axis=1>(x, j)
  i = Constant<value=int64 {3}>()
  one = Gather<axis=1>(x, i)
  k = Constant<value=int64 {-2}>()
  neg = Gather(table, k)
  mask_nd = GatherND(m, nd)
}
"""

ATTENTION = """
(float[1,2,4,8] q, float[1,2,5,8] k, float[1,2,5,8] v, bool[1,1,4,5] m, float[1,1,4,5] add)
 => (float[1,2,4,8] boolean, float[1,2,4,8] additive, float[1,2,4,8] causal, float[1,2,4,8] plain)
{
  boolean = ai.bridgec.ScaledDotProductAttention<scale=0.35, mask="boolean">(q, k, v, m)
  additive = ai.bridgec.ScaledDotProductAttention<scale=0.35, mask="additive">(q, k, v, add)
  causal = ai.bridgec.ScaledDotProductAttention<scale=0.35, mask="causal">(q, k, v)
  plain = ai.bridgec.ScaledDotProductAttention<scale=0.35, mask="none">(q, k, v)
}
"""


def _feeds(graph) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {}
    for tensor in graph.inputs:
        dtype, shape = np.dtype(tensor.dtype), tuple(tensor.shape)
        if dtype == np.bool_:
            feeds[tensor.name] = rng.integers(0, 2, shape).astype(bool)
        elif dtype.kind == "i":
            feeds[tensor.name] = rng.integers(-3, 4, shape).astype(dtype)
        else:
            feeds[tensor.name] = (rng.standard_normal(shape) * 3).astype(dtype)
    return feeds


def _special(feeds: dict[str, np.ndarray]) -> None:
    """Indices within their tables (negative ones wrap), and masks that hide a whole row."""
    if "ids" in feeds:
        feeds["ids"] = np.array([[0, 4, -1], [2, -5, 3]], np.int32)
        feeds["j"] = np.array([[0, 4], [-1, 2], [3, 3], [-5, 1]], np.int32)
        feeds["nd"] = np.array([[2, 3], [-1, 0]], np.int64)
    if "m" in feeds and feeds["m"].ndim == 4:
        feeds["m"][0, 0, 1] = False  # query 1 sees no key: zeros, as torch's _safe_softmax
        feeds["add"][0, 0, 2] = -np.inf


@pytest.mark.parametrize("name,text", [("logic", LOGIC), ("gather", GATHER), ("attention", ATTENTION)])
def test_emitters_match_onnxruntime(name: str, text: str, tmp_path: Path) -> None:
    graph = graph_from_text(f"{HEAD}\nagraph {text}")
    caps = capabilities_for("iOS27")
    graph.fold_constants().cleanup()  # Constant nodes -> gs.Constant inputs, as the passes leave them
    for node in graph.nodes:
        assert caps.unsupported_reason(node) is None, (node.op, caps.unsupported_reason(node))
    feeds = _feeds(graph)
    _special(feeds)
    want = run_graph(graph, feeds)
    program = build_program(graph, caps.target, f"{name}.onnx")
    path = tmp_path / f"{name}.aimodel"
    program.save(path)
    got = run_model(path, coreai_feeds(graph, feeds))  # int64 fed as the int32 Core AI declares
    for tensor, expected in zip(graph.outputs, want, strict=True):
        value = got[tensor.name]
        if expected.dtype == np.int64:  # Core AI holds int64 as int32 (backends/coreai/inputs.py)
            assert value.dtype == np.int32, tensor.name
        assert_matches(value, expected.astype(value.dtype), tolerance=1e-6, what=f"{name}/{tensor.name}")


def test_int64_indices_are_narrowed_by_the_named_rule_for_core_ai_only() -> None:
    """lower::index_narrow fires where the target gathers int32 indices only (Core AI), not for Core ML."""
    from bridgec.driver.request import ConversionRequest

    text = "(float[5,4] table, int64[2,3] ids) => (float[2,3,4] y) { y = Gather(table, ids) }"
    model = onnx.parser.parse_model(f"{HEAD}\nagraph {text}")
    for fmt, fires in (("coreai", True), ("mlprogram", False)):
        graph = ir.import_model(onnx.shape_inference.infer_shapes(model))
        request = ConversionRequest.of("model.onnx", format=fmt)
        analysis = analyse(request, graph)
        hits = [r for r in analysis.context.rewrites if r.pass_id == "lower::index_narrow"]
        assert bool(hits) == fires, (fmt, hits)
        if fires:
            (hit,) = hits
            assert hit.rule == "gather_index_to_int32" and "int64" in hit.because
            ops = sorted(n.op for n in analysis.graph.nodes)
            assert ops == ["Cast", "Gather"]
            feeds = {
                "table": np.arange(20, dtype=np.float32).reshape(5, 4),
                "ids": np.array([[0, 4, -1], [2, -5, 3]]),
            }
            assert_matches(
                run_graph(analysis.graph, feeds)[0],
                run_graph(graph_from_text(f"{HEAD}\nagraph {text}"), feeds)[0],
                tolerance=0,
            )


def test_nan_tests_survive_apples_rewrite(tmp_path: Path) -> None:
    """IsNaN (lowered to not(x == x)) and Equal(x, x) are true/false at NaN as IEEE says: Apple's rewrite
    folds equal(x, x) to true, so emitted as such both came out wrong (IsNaN false everywhere)."""
    from bridgec.driver.request import ConversionRequest

    text = "(float[6] x) => (bool[6] nan, bool[6] same) { nan = IsNaN(x)\n same = Equal(x, x) }"
    model = onnx.parser.parse_model(f"{HEAD}\nagraph {text}")
    graph = ir.import_model(onnx.shape_inference.infer_shapes(model))
    analysis = analyse(ConversionRequest.of("model.onnx", format="coreai"), graph)
    path = tmp_path / "nan.aimodel"
    build_program(analysis.graph, capabilities_for("iOS27").target, "nan.onnx").save(path)
    x = np.array([1.0, np.nan, -np.inf, np.inf, 0.0, -np.nan], np.float32)
    got = run_model(path, {"x": x})
    assert got["nan"].tolist() == np.isnan(x).tolist()
    assert got["same"].tolist() == (x == x).tolist()
