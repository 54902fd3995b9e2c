"""Each Core AI emitter on a one-node ONNX graph: built, saved, run in Apple's runtime (one child
process runs every case: ``run_batch``) and compared with onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec.backends.coreai.builder import build_program
from bridgec.backends.coreai.capabilities import capabilities_for
from bridgec.backends.coreai.run import run_batch
from tests.helpers import assert_matches, graph_from_text, run_graph

HEAD = '<ir_version: 8, opset_import: ["" : 18, "ai.bridgec" : 1]>'

# name -> (ONNX text, input shapes)
CASES = {
    "relu": ("(float[2,3] x) => (float[2,3] y) { y = Relu(x) }", None),
    "sigmoid": ("(float[2,3] x) => (float[2,3] y) { y = Sigmoid(x) }", None),
    "tanh": ("(float[2,3] x) => (float[2,3] y) { y = Tanh(x) }", None),
    "softmax": ("(float[2,3,5] x) => (float[2,3,5] y) { y = Softmax<axis=1>(x) }", None),
    "identity": ("(float[2,3] x) => (float[2,3] y) { z = Relu(x)  y = Identity(z) }", None),
    "add_same": ("(float[2,3] x, float[2,3] w) => (float[2,3] y) { y = Add(x, w) }", None),
    "add_broadcast": ("(float[2,3] x, float[3] w) => (float[2,3] y) { y = Add(x, w) }", None),
    "sub_const": (
        "(float[2,3] x) => (float[2,3] y) { c = Constant<value=float[1,3] {1,2,3}>() y = Sub(c, x) }",
        None,
    ),
    "mul_two_sided": ("(float[2,1] x, float[1,3] w) => (float[2,3] y) { y = Mul(x, w) }", None),
    "div": ("(float[2,3] x, float[2,3] w) => (float[2,3] y) { y = Div(x, w) }", None),
    "max_scalar": (
        "(float[2,3] x) => (float[2,3] y) { c = Constant<value=float {0.5}>() y = Max(x, c) }",
        None,
    ),
    "min": ("(float[2,3] x, float[2,3] w) => (float[2,3] y) { y = Min(x, w) }", None),
    "matmul": ("(float[2,4,3] x, float[2,3,5] w) => (float[2,4,5] y) { y = MatMul(x, w) }", None),
    "matmul_broadcast": ("(float[2,4,3] x, float[3,5] w) => (float[2,4,5] y) { y = MatMul(x, w) }", None),
    "conv": (
        "(float[1,4,9,8] x, float[6,2,3,3] w) => (float[1,6,4,2] y) "
        "{ y = Conv<strides=[2,2], dilations=[1,2], group=2>(x, w) }",
        None,
    ),
    "conv_1d": (
        "(float[1,4,9] x, float[6,2,3] w) => (float[1,6,3] y) { y = Conv<strides=[2], dilations=[2], group=2>(x, w) }",
        None,
    ),
    "maxpool": (
        "(float[1,2,7,7] x) => (float[1,2,4,4] y) "
        "{ y = MaxPool<kernel_shape=[3,3], strides=[2,2], pads=[1,1,1,1]>(x) }",
        None,
    ),
    "maxpool_ceil": (
        "(float[1,2,8,8] x) => (float[1,2,4,4] y) { y = MaxPool<kernel_shape=[3,3], strides=[2,2], ceil_mode=1>(x) }",
        None,
    ),
    "average_pool_exclude_pad": (
        "(float[1,2,7,6] x) => (float[1,2,4,3] y) "
        "{ y = AveragePool<kernel_shape=[3,3], strides=[2,2], pads=[1,1,1,0]>(x) }",
        None,
    ),
    "average_pool_include_pad": (
        "(float[1,2,7,6] x) => (float[1,2,7,6] y) "
        "{ y = AveragePool<kernel_shape=[3,3], pads=[1,1,1,1], count_include_pad=1>(x) }",
        None,
    ),
    "global_average_pool": ("(float[1,3,5,4] x) => (float[1,3,1,1] y) { y = GlobalAveragePool(x) }", None),
    "global_max_pool": ("(float[1,3,5,4] x) => (float[1,3,1,1] y) { y = GlobalMaxPool(x) }", None),
    "reduce_mean_keep": (
        "(float[2,3,4] x) => (float[2,1,4] y) { a = Constant<value=int64[1] {1}>() y = ReduceMean(x, a) }",
        None,
    ),
    "reduce_mean_drop": (
        "(float[2,3,4] x) => (float[2,4] y) { a = Constant<value=int64[1] {-2}>() y = ReduceMean<keepdims=0>(x, a) }",
        None,
    ),
    "reshape": (
        "(float[2,3,4] x) => (float[6,4] y) { s = Constant<value=int64[2] {-1,4}>() y = Reshape(x, s) }",
        None,
    ),
    "flatten": ("(float[2,3,4] x) => (float[2,12] y) { y = Flatten<axis=1>(x) }", None),
    "transpose": ("(float[2,3,4] x) => (float[4,2,3] y) { y = Transpose<perm=[2,0,1]>(x) }", None),
    "concat": ("(float[2,3] x, float[2,5] w) => (float[2,8] y) { y = Concat<axis=-1>(x, w) }", None),
    "pad_constant": (
        "(float[1,2,3,4] x) => (float[1,2,6,5] y) "
        "{ p = Constant<value=int64[8] {0,0,1,0,0,0,2,1}>() v = Constant<value=float {1.5}>() y = Pad(x, p, v) }",
        None,
    ),
    "pad_reflect": (
        "(float[1,2,4,4] x) => (float[1,2,6,6] y) "
        '{ p = Constant<value=int64[8] {0,0,1,1,0,0,1,1}>() y = Pad<mode="reflect">(x, p) }',
        None,
    ),
    "average_pool_ceil": (
        "(float[1,2,7,6] x) => (float[1,2,4,4] y) "
        "{ y = AveragePool<kernel_shape=[3,2], strides=[2,2], pads=[1,1,0,0], ceil_mode=1>(x) }",
        None,
    ),
    "average_pool_ceil_include_pad": (
        "(float[1,2,7,7] x) => (float[1,2,4,4] y) "
        "{ y = AveragePool<kernel_shape=[2,2], strides=[2,2], ceil_mode=1, count_include_pad=1>(x) }",
        None,
    ),
    "exp": ("(float[2,3] x) => (float[2,3] y) { y = Exp(x) }", None),
    "log_abs": ("(float[2,3] x) => (float[2,3] y) { a = Abs(x) y = Log(a) }", None),
    "sqrt_abs": ("(float[2,3] x) => (float[2,3] y) { a = Abs(x) y = Sqrt(a) }", None),
    "erf": ("(float[2,3] x) => (float[2,3] y) { y = Erf(x) }", None),
    "gelu": ('(float[2,3] x) => (float[2,3] y) { y = ai.bridgec.Gelu<approximate="none">(x) }', None),
    "gelu_tanh": ('(float[2,3] x) => (float[2,3] y) { y = ai.bridgec.Gelu<approximate="tanh">(x) }', None),
    "pow_square": (
        "(float[2,3] x) => (float[2,3] y) { e = Constant<value=float {2}>() y = Pow(x, e) }",
        None,
    ),
    "pow_same": ("(float[2,3] x, float[2,3] w) => (float[2,3] y) { a = Abs(x) y = Pow(a, w) }", None),
    "reduce_sum_all": ("(float[2,3,4] x) => (float[1,1,1] y) { y = ReduceSum(x) }", None),
    "reduce_max_drop": (
        "(float[2,3,4] x) => (float[2,3] y) { a = Constant<value=int64[1] {-1}>() y = ReduceMax<keepdims=0>(x, a) }",
        None,
    ),
    "reduce_min": (
        "(float[2,3,4] x) => (float[1,3,1] y) { a = Constant<value=int64[2] {0,2}>() y = ReduceMin(x, a) }",
        None,
    ),
    "reduce_prod": (
        "(float[2,3,4] x) => (float[2,1,4] y) { a = Constant<value=int64[1] {1}>() y = ReduceProd(x, a) }",
        None,
    ),
    "slice_steps": (
        "(float[4,6,5] x) => (float[2,3,5] y) { b = Constant<value=int64[2] {1,-1}>() "
        "e = Constant<value=int64[2] {9223372036854775807,-6}>() a = Constant<value=int64[2] {0,1}>() "
        "s = Constant<value=int64[2] {2,-2}>() y = Slice(x, b, e, a, s) }",
        None,
    ),
    "slice_negative_end": (
        "(float[3,8] x) => (float[3,5] y) { b = Constant<value=int64[1] {2}>() "
        "e = Constant<value=int64[1] {-1}>() a = Constant<value=int64[1] {-1}>() y = Slice(x, b, e, a) }",
        None,
    ),
    "slice_backwards_from_before_the_start": (  # ONNX clamps start to 0 (Python's slice would be empty)
        "(float[3,8] x) => (float[3,1] y) { b = Constant<value=int64[1] {-100}>() "
        "e = Constant<value=int64[1] {-200}>() a = Constant<value=int64[1] {1}>() "
        "s = Constant<value=int64[1] {-1}>() y = Slice(x, b, e, a, s) }",
        None,
    ),
    "slice_flip": (  # torch.flip: through index 0, backwards
        "(float[3,8] x) => (float[3,8] y) { b = Constant<value=int64[1] {-1}>() "
        "e = Constant<value=int64[1] {-9223372036854775807}>() a = Constant<value=int64[1] {1}>() "
        "s = Constant<value=int64[1] {-1}>() y = Slice(x, b, e, a, s) }",
        None,
    ),
    "split": (
        "(float[2,7,3] x) => (float[2,3,3] y, float[2,4,3] z) "
        "{ s = Constant<value=int64[2] {3,4}>() y, z = Split<axis=1>(x, s) }",
        None,
    ),
    "squeeze": (
        "(float[2,1,3,1] x) => (float[2,3,1] y) { a = Constant<value=int64[1] {1}>() y = Squeeze(x, a) }",
        None,
    ),
    "squeeze_all": ("(float[2,1,3,1] x) => (float[2,3] y) { y = Squeeze(x) }", None),
    "unsqueeze": (
        "(float[2,3] x) => (float[1,2,3,1] y) { a = Constant<value=int64[2] {-1,0}>() y = Unsqueeze(x, a) }",
        None,
    ),
    "concat_one_input": ("(float[2,3] x) => (float[2,3] y) { z = Relu(x) y = Concat<axis=0>(z) }", None),
}


def _case(name: str):
    """The case's graph as the passes leave it (constants folded) and its feeds."""
    graph = graph_from_text(f"{HEAD}\nagraph {CASES[name][0]}")
    caps = capabilities_for("iOS27")
    for node in graph.nodes:
        if node.op != "Constant":
            assert caps.unsupported_reason(node) is None, (node.op, caps.unsupported_reason(node))
    graph.fold_constants().cleanup()  # Constant nodes -> gs.Constant inputs, as the passes leave them
    rng = np.random.default_rng(0)
    feeds = {t.name: rng.standard_normal(t.shape).astype(np.float32) for t in graph.inputs}
    if name == "div":
        feeds["w"] = np.where(np.abs(feeds["w"]) < 0.1, 1.0, feeds["w"]).astype(np.float32)
    return graph, feeds


@pytest.fixture(scope="module")
def apple(tmp_path_factory) -> dict[str, object]:
    """Every case built and saved, then run by Apple's runtime in one child process (run_batch)."""
    folder = tmp_path_factory.mktemp("emitters")
    target = capabilities_for("iOS27").target
    jobs = []
    for name in sorted(CASES):
        graph, feeds = _case(name)
        path = folder / f"{name}.aimodel"
        build_program(graph, target, "case.onnx").save(path)
        jobs.append((path, feeds))
    return dict(zip(sorted(CASES), run_batch(jobs), strict=True))


@pytest.mark.parametrize("name", sorted(CASES))
def test_emitter_matches_onnxruntime(name: str, apple) -> None:
    graph, feeds = _case(name)
    got = apple[name]
    if isinstance(got, Exception):
        raise got
    want = run_graph(graph, feeds)
    for tensor, expected in zip(graph.outputs, want, strict=True):
        assert_matches(got[tensor.name], expected, what=name)
