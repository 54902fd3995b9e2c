"""lower::rank: chains of views through rank-6 tensors (swin's window partition and its reverse,
mobilevit's unfold, DepthToSpace/SpaceToDepth written out) on merged axes. Per case: the op types
after the pass, bit-equal numbers to onnxruntime on the original graph, every node legal, and the
emitted model run by the reference executor, in both formats; a chain that cannot be merged to a
legal rank stays refused, and a chain the target runs as it is stays as it is."""

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
from bridgec.passes.lower.rank import coalesce
from tests.helpers import assert_io_kept, graph_from_text, op_types, run_graph

NN, MLP = "neuralnetwork", "mlprogram"
KEY = "lower::rank/merge_view_axes"


def chain(x: str, y: str, *views: str) -> str:
    """A graph of views: each ``"Reshape 2,3,4"`` or ``"Transpose 0,2,1"``, from x to y."""
    body, prev = [], "x"
    for i, view in enumerate(views):
        op, values = view.split()
        out = "y" if i == len(views) - 1 else f"v{i}"
        if op == "Reshape":
            n = len(values.split(","))
            body.append(f"s{i} = Constant <value = int64[{n}] {{{values}}}> ()")
            body.append(f"{out} = Reshape ({prev}, s{i})")
        else:
            body.append(f"{out} = Transpose <perm = [{values}]> ({prev})")
        prev = out
    text = "\n ".join(body)
    return f'<ir_version: 8, opset_import: ["" : 17]> g (float[{x}] x) => (float[{y}] y) {{\n {text}\n}}'


# name: (graph, op types after the pass)
CASES = {
    # x.view(B, H/w, w, W/w, w, C).permute(0, 1, 3, 2, 4, 5).reshape(-1, w, w, C), B=2, H=W=8, w=4
    "swin_window_partition": (
        chain("2,8,8,3", "8,4,4,3", "Reshape 2,2,4,2,4,3", "Transpose 0,1,3,2,4,5", "Reshape -1,4,4,3"),
        ["Reshape", "Reshape", "Transpose"],
    ),
    # windows.view(B, H/w, W/w, w, w, C).permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, C)
    "swin_window_reverse": (
        chain("8,4,4,3", "2,8,8,3", "Reshape 2,2,2,4,4,3", "Transpose 0,1,3,2,4,5", "Reshape 2,8,8,3"),
        ["Reshape", "Reshape", "Transpose"],
    ),
    # x.reshape(B, C, h, ph, w, pw).permute(0, 3, 5, 2, 4, 1).reshape(B, ph * pw, h * w, C)
    "unfold_patches": (
        chain("1,4,8,6", "1,4,12,4", "Reshape 1,4,4,2,3,2", "Transpose 0,3,5,2,4,1", "Reshape 1,4,12,4"),
        ["Reshape", "Reshape", "Transpose"],
    ),
    # DepthToSpace's expanded forms, blocksize 2 (ONNX's function bodies)
    "depthtospace_dcr": (
        chain("1,8,2,3", "1,2,4,6", "Reshape 1,2,2,2,2,3", "Transpose 0,3,4,1,5,2", "Reshape 1,2,4,6"),
        ["Reshape", "Reshape", "Transpose"],
    ),
    "depthtospace_crd": (
        chain("1,8,2,3", "1,2,4,6", "Reshape 1,2,2,2,2,3", "Transpose 0,1,4,2,5,3", "Reshape 1,2,4,6"),
        ["Reshape", "Reshape", "Transpose"],
    ),
    "spacetodepth": (
        chain("1,2,4,6", "1,8,2,3", "Reshape 1,2,2,2,3,2", "Transpose 0,3,5,1,2,4", "Reshape 1,8,2,3"),
        ["Reshape", "Reshape", "Transpose"],
    ),
    # two transposes compose into one; one of a chain that moves nothing
    "two_transposes": (
        chain(
            "2,8,8,3",
            "8,4,4,3",
            "Reshape 2,2,4,2,4,3",
            "Transpose 0,1,3,2,5,4",
            "Transpose 0,1,2,3,5,4",
            "Reshape -1,4,4,3",
        ),
        ["Reshape", "Reshape", "Transpose"],
    ),
    "reshape_reshape": (chain("2,3,4,5", "6,20", "Reshape 2,3,2,2,5,1", "Reshape 6,20"), ["Reshape"]),
    "transpose_of_size_one_axes": (
        chain("2,3,4,5", "3,2,20", "Reshape 1,2,1,3,4,5", "Transpose 2,3,0,1,4,5", "Reshape 3,2,20"),
        ["Reshape", "Transpose"],  # the merged transpose's output is y's shape already
    ),
}


def _feeds(graph) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(22)
    return {t.name: rng.standard_normal(t.shape).astype(np.float32) for t in graph.inputs}


def _emit_and_run(graph, fmt: str, feeds: dict) -> np.ndarray:
    if fmt == NN:
        return run_neuralnetwork(build_spec(graph, "iOS15"), feeds)["y"]
    return run_mlprogram(build_mlprogram(graph, Target.parse("iOS15", format=MLP)), feeds)["y"]


def _run(graph, fmt: str) -> passes.PassContext:
    context = passes.PassContext(capabilities=capabilities_for("iOS15", format=fmt))
    passes.Pipeline([passes.create("lower::rank")]).run(graph, context=context)
    return context


@pytest.mark.parametrize("fmt", [NN, MLP])
@pytest.mark.parametrize("case", CASES)
def test_chain_on_merged_axes(case, fmt):
    text, expected = CASES[case]
    graph = graph_from_text(text)
    feeds = _feeds(graph)
    want = run_graph(graph, feeds)[0]
    before = graph.copy()
    caps = capabilities_for("iOS15", format=fmt)
    assert any(caps.unsupported_reason(n) for n in graph.nodes)  # a rank-6 tensor
    context = _run(graph, fmt)
    assert op_types(graph) == expected
    assert context.rule_hits[KEY] == 1
    assert all(created == KEY for created in context.created_by.values())
    (rewrite,) = context.rewrites
    assert rewrite.pass_id == "lower::rank" and rewrite.rule == "merge_view_axes"
    assert_io_kept(before, graph)
    assert not [n.name for n in graph.nodes if caps.unsupported_reason(n)]
    assert max(len(t.shape) for n in graph.nodes for t in n.outputs) <= 5
    np.testing.assert_array_equal(run_graph(graph, feeds)[0], want)  # a view: the same elements
    np.testing.assert_array_equal(_emit_and_run(graph, fmt, feeds), want)


def test_a_chain_that_cannot_be_merged_stays_refused():
    # every axis moves on its own: merging leaves rank 6
    text = chain(
        "2,3,4,5,6", "6,5,4,3,2", "Reshape 2,3,4,5,2,3", "Transpose 5,4,3,2,1,0", "Reshape 6,5,4,3,2"
    )
    for fmt in (NN, MLP):
        graph = graph_from_text(text)
        before = op_types(graph)
        context = _run(graph, fmt)
        assert op_types(graph) == before
        assert context.rule_hits[KEY] == 0
        miss = context.near_misses[KEY]
        assert "rank-6" in miss.reason and "\n" not in miss.reason
        with pytest.raises(ConversionError) as error:
            passes.create("check::target_legal")(graph, context)
        message = str(error.value)
        assert "\n" not in message and "rank-6 tensor" in message and "Transpose" in message


def test_a_chain_the_target_runs_is_left_alone():
    text = chain("2,3,4,5", "2,5,3,4", "Reshape 2,3,4,5,1", "Transpose 0,3,1,2,4", "Reshape 2,5,3,4")
    for fmt in (NN, MLP):
        graph = graph_from_text(text)
        before = op_types(graph)
        context = _run(graph, fmt)
        assert op_types(graph) == before
        assert not context.rule_hits[KEY] and not context.rewrites


def test_every_pipeline_runs_it():
    for name, ids in passes.PIPELINES.items():
        assert "lower::rank" in ids, name


@pytest.mark.parametrize(
    "shape, perm, merged",
    [
        ((2, 2, 4, 2, 4, 3), (0, 1, 3, 2, 4, 5), ((4, 4, 2, 12), (0, 2, 1, 3), (4, 2, 4, 12))),
        ((1, 2, 1, 3), (3, 2, 1, 0), ((2, 3), (1, 0), (3, 2))),  # size-1 axes move nothing
        ((2, 3, 4), (0, 1, 2), ((24,), (0,), (24,))),
        (
            (2, 3, 4, 5, 2, 3),
            (5, 4, 3, 2, 1, 0),
            ((2, 3, 4, 5, 2, 3), (5, 4, 3, 2, 1, 0), (3, 2, 5, 4, 3, 2)),
        ),
    ],
)
def test_coalesce(shape, perm, merged):
    got = coalesce(shape, perm)
    assert (got.in_shape, got.perm, got.out_shape) == merged
    x = np.arange(np.prod(shape)).reshape(shape)
    np.testing.assert_array_equal(
        x.reshape(got.in_shape).transpose(got.perm).reshape(-1), x.transpose(perm).reshape(-1)
    )


def _window_partition():
    import torch

    class WindowPartition(torch.nn.Module):
        """swin's window partition, then its reverse, around a per-window op (4x4 windows)."""

        def forward(self, x):
            b, h, w, c = x.shape
            windows = x.view(b, h // 4, 4, w // 4, 4, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, 4, 4, c)
            windows = torch.relu(windows) * 2.0
            y = windows.view(b, h // 4, w // 4, 4, 4, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
            return y - x

    return WindowPartition(), (1, 8, 12, 6)


def _pixel_unshuffle():
    import torch

    class PixelUnshuffle(torch.nn.Module):
        """pixel unshuffle by 2 written as views, then a 1x1 convolution."""

        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(12, 4, 1)

        def forward(self, x):
            b, c, h, w = x.shape
            x = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(b, c * 4, h // 2, w // 2)
            return self.conv(x)

    return PixelUnshuffle(), (1, 3, 8, 6)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", [NN, MLP])
@pytest.mark.parametrize("make", [_window_partition, _pixel_unshuffle])
def test_torch_module_converts(make, fmt, tmp_path):
    import torch

    from bridgec.driver.convert import convert

    module, shape = make()
    path = tmp_path / "m.pt"
    torch.jit.trace(module.eval(), torch.randn(*shape)).save(str(path))
    # the conversion's own check compares the emitted model with PyTorch, and raises on a mismatch
    result = convert(path, inputs={"x": shape}, format=fmt, write=False)
    assert result.check.status == "checked" and result.check.reference == "PyTorch", result.check
    assert result.format == fmt
    assert max(len(t.shape) for n in result.graph.nodes for t in n.outputs) <= 5
    assert "merge_view_axes" in {r.rule for r in result.context.rewrites}


@pytest.mark.parametrize("fmt", [NN, MLP])
def test_expanded_depthtospace_and_spacetodepth_node_tests_pass(fmt):
    """ONNX's function bodies compute the rank-6 shape with Shape/Slice/Div, which shape inference
    cannot see through: the pass reads the folded constant instead."""
    from bridgec.driver.node_tests import load_node_tests, run_node_test

    cases = load_node_tests(r"^test_(depthtospace|spacetodepth).*_expanded$")
    assert len(cases) == 6
    assert {case.name: run_node_test(case, format=fmt) for case in cases} == {
        case.name: ("passed", "") for case in cases
    }
