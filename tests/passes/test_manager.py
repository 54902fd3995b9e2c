"""Pass manager: ordering constraints, checks after every pass, instruments, CLI flags, user passes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import onnx_graphsurgeon as gs
import pytest

from bridgec import passes
from bridgec.backends.coreml import capabilities_for, load_spec
from bridgec.backends.coreml.executor import run as run_coreml
from bridgec.core import ir
from bridgec.core.errors import BridgecError, ConversionError
from bridgec.driver.cli import main
from bridgec.driver.pipeline import RunOptions
from tests.conftest import ROOT
from tests.helpers import assert_matches, graph_from_text, run_pipeline

RELU6 = (
    '<ir_version: 8, opset_import: ["" : 17, "ai.bridgec" : 1]> g (float[1,2,3,3] x) => (float[1,2,3,3] y) '
    "{ a = Identity (x) y = ai.bridgec.HardTanh <min_value = 0.0, max_value = 6.0> (a) }"
)


def test_pipelines_obey_declared_ordering():
    with pytest.raises(BridgecError, match="lower::hardtanh must run after canonicalize::clip_to_hardtanh"):
        passes.pipeline("lower", passes=["lower::hardtanh", "canonicalize::clip_to_hardtanh"])
    with pytest.raises(BridgecError, match="check::target_legal must run after custom::tag_custom_layers"):
        passes.Pipeline([passes.CheckTargetLegal(), passes.TagCustomLayers()])
    for name in passes.PIPELINES:
        passes.check_order(passes.pipeline_ids(name), name)


def test_registered_pass_extends_pipelines_where_its_constraints_allow():
    @passes.register
    class Probe(passes.Pass):
        """Test probe."""

        id = "test::probe"
        after = ("lower::*",)
        before = ("custom::*",)
        extends = ("lower-custom",)

        def call(self, graph, ctx):
            return passes.PassResult(graph, False)

    try:
        ids = passes.pipeline_ids("lower-custom")
        assert (
            ids.index("lower::hardtanh") < ids.index("test::probe") < ids.index("custom::tag_custom_layers")
        )
        assert "test::probe" not in passes.pipeline_ids("lower")
        assert "test::probe" not in passes.pipeline_ids("lower-custom", disable=("test::probe",))
    finally:
        passes.REGISTRY.pop("test::probe")


class BreaksTheGraph(passes.Pass):
    """Gives a Relu a second input: the ONNX checker refuses that."""

    id = "test::breaks_graph"

    def call(self, graph, ctx):
        relu = next(n for n in graph.nodes if n.op == "Relu")
        relu.inputs.append(relu.inputs[0])
        return passes.PassResult(graph, True)


class WrongNumbers(passes.Pass):
    """Replaces a Relu by a Sigmoid: valid ONNX, wrong numbers."""

    id = "test::wrong_numbers"

    def call(self, graph, ctx):
        next(n for n in graph.nodes if n.op == "Relu").op = "Sigmoid"
        return passes.PassResult(graph, True)


def relu_graph():
    return graph_from_text(
        '<ir_version: 8, opset_import: ["" : 17]> g (float[2,3] x) => (float[2,3] y) '
        "{ a = Relu (x) y = Sigmoid (a) }"
    )


def test_graph_is_checked_after_every_pass_and_the_message_names_it():
    ctx = passes.PassContext(capabilities=capabilities_for(), instruments=[passes.GraphCheck()])
    with pytest.raises(
        ConversionError,
        match=r"invalid graph after pass test::breaks_graph \(passes run before "
        r"it: cleanup::dead_nodes\)",
    ):
        passes.Pipeline([passes.DeadNodes(), BreaksTheGraph()]).run(relu_graph(), context=ctx)


class WrongWeightShape(passes.Pass):
    """Multiplies the Relu's output by a 4096-element weight whose rows do not match its columns:
    valid to the checker, refused by strict shape inference."""

    id = "test::wrong_weight_shape"

    def call(self, graph, ctx):
        sigmoid = next(n for n in graph.nodes if n.op == "Sigmoid")
        weight = gs.Constant("big_weight", np.ones((64, 64), np.float32))
        product = gs.Variable("product", np.float32)
        graph.nodes.append(
            gs.Node("MatMul", "bad_matmul", inputs=[sigmoid.inputs[0], weight], outputs=[product])
        )
        sigmoid.inputs[0] = product
        graph.toposort()
        return passes.PassResult(graph, True)


def test_graph_check_judges_large_weights_by_their_shape_and_leaves_them_constants():
    # The check hands large constants to the checker as typed inputs (passes/_instrument.py):
    # shape inference must still see their shape, and the graph the passes go on with keeps them.
    ctx = passes.PassContext(capabilities=capabilities_for(), instruments=[passes.GraphCheck()])
    with pytest.raises(ConversionError, match=r"invalid graph after pass test::wrong_weight_shape"):
        passes.Pipeline([WrongWeightShape()]).run(relu_graph(), context=ctx)

    graph = graph_from_text(
        '<ir_version: 8, opset_import: ["" : 17]> g (float[2,2048] x) => (float[2,2048] y) { y = Relu (x) }'
    )
    big = gs.Constant("big", np.arange(2 * 2048, dtype=np.float32).reshape(2, 2048))
    z = gs.Variable("z", np.float32, (2, 2048))
    graph.nodes.append(gs.Node("Add", "add_big", inputs=[graph.outputs[0], big], outputs=[z]))
    graph.outputs = [z]
    passes.GraphCheck().after_pass(WrongWeightShape(), passes.PassResult(graph, True), ctx)
    assert isinstance(big, gs.Constant) and big.values.shape == (2, 2048)
    assert [t.name for t in graph.inputs] == ["x"]


def test_verify_each_catches_a_pass_that_changes_the_numbers():
    graph = relu_graph()
    ctx = passes.PassContext(capabilities=capabilities_for(), instruments=[passes.VerifyEach(graph)])
    with pytest.raises(
        ConversionError, match=r"--verify-each: output 'y' changed after pass test::wrong_numbers"
    ):
        passes.Pipeline([passes.DeadNodes(), WrongNumbers()]).run(graph, context=ctx)
    ok = passes.VerifyEach(relu_graph())
    ctx = passes.PassContext(capabilities=capabilities_for(), instruments=[ok])
    passes.pipeline("lower").run(relu_graph(), context=ctx)


def test_dump_dir_writes_every_step_with_provenance(tmp_path):
    graph = graph_from_text(RELU6)
    run_pipeline(graph, "lower", None, options=RunOptions(dump_dir=tmp_path, dump_graphml=True))
    onnx_files = sorted(p.name for p in tmp_path.glob("*.onnx"))
    (hardtanh_step,) = [name for name in onnx_files if name.endswith("_lower.hardtanh.onnx")]
    assert onnx_files[0] == "00_input.onnx" and onnx_files.index(hardtanh_step) > 1
    assert len(list(tmp_path.glob("*.graphml"))) == len(onnx_files)
    lowered = onnx.load(str(tmp_path / hardtanh_step))
    (clip,) = [n for n in lowered.graph.node if n.op_type == "Clip"]
    assert clip.doc_string == "created by lower::hardtanh/hardtanh_to_clip"


def test_print_after(capsys):
    graph = graph_from_text(RELU6)
    run_pipeline(graph, "lower", None, options=RunOptions(print_after=("lower::hardtanh",)))
    err = capsys.readouterr().err
    assert err.count("// graph after") == 1 and "Clip (" in err


def test_networkx_view():
    import networkx as nx

    dag = ir.to_networkx(graph_from_text(RELU6))
    assert nx.is_directed_acyclic_graph(dag)
    assert list(nx.topological_sort(dag)) == ["Identity_0", "HardTanh_1"]


def test_cli_passes_and_disable_pass(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    onnx.save(onnx.parser.parse_model(RELU6), str(path))
    assert (
        main(
            [
                str(path),
                "--passes",
                "lower::hardtanh,check::target_legal",
                "--stats",
                "-o",
                str(tmp_path / "a.mlmodel"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "lower::hardtanh/hardtanh_to_clip                1" in out
    assert "cleanup::" not in out.split("rule")[0]
    kinds = [layer.WhichOneof("layer") for layer in load_spec(tmp_path / "a.mlmodel").neuralNetwork.layers]
    assert kinds == ["activation", "clip"]  # the Identity stayed: no cleanup ran
    # (a NeuralNetwork: an ML Program computes hardtanh natively, as MIL clip)
    argv = [str(path), "-O", "lower", "--disable-pass", "lower::hardtanh", "-q", "--format", "neuralnetwork"]
    assert main(argv) == 1
    assert "ai.bridgec::HardTanh x1" in capsys.readouterr().err
    assert main([str(path), "--passes", "nope::nothing"]) == 2
    assert "unknown pass 'nope::nothing'" in capsys.readouterr().err


SWISH = """
<ir_version: 8, opset_import: ["" : 17, "com.example" : 1]>
g (float[1,4,8,8] x) => (float[1,4,8,8] y)
<float[4,4,1,1] w = {1.0,0,0,0, 0,1.0,0,0, 0,0,1.0,0, 0,0,0,1.0}>
{ c = Conv (x, w) y = com.example.Swish <beta = 1.5> (c) }
<domain: "com.example", opset_import: ["" : 17]>
Swish <beta> (x) => (y) {
  b = Constant <value_float: float = @beta> ()
  bx = Mul (x, b)
  s = Sigmoid (bx)
  y = Mul (x, s)
}
"""


def test_user_pass_file_lowers_an_op_bridgec_does_not_know(tmp_path, capsys):
    model = tmp_path / "swish.onnx"
    onnx.save(onnx.parser.parse_model(SWISH), str(model))
    user_pass = tmp_path / "user_pass.py"
    shutil.copy(ROOT / "examples" / "user_pass.py", user_pass)
    try:
        # without the user pass: -O lower stops at the op it does not know
        assert main([str(model), "-O", "lower", "-q"]) == 1
        assert "com.example::Swish x1" in capsys.readouterr().err
        out = tmp_path / "swish.mlmodel"
        assert main([str(model), "-O", "lower", "--load-passes", str(user_pass), "-o", str(out), "-q"]) == 0
        kinds = sorted(layer.WhichOneof("layer") for layer in load_spec(out).neuralNetwork.layers)
        assert "custom" not in kinds and "activation" in kinds
        x = np.random.default_rng(0).standard_normal((1, 4, 8, 8)).astype(np.float32)
        assert_matches(run_coreml(out, {"x": x})["y"], x / (1 + np.exp(-1.5 * x)), tolerance=1e-7)
        assert main(["verify", str(model), "--load-passes", str(user_pass), "-q"]) == 0
        assert "all 2 comparisons PASS" in capsys.readouterr().out
    finally:
        passes.REGISTRY.pop("user::swish", None)


def test_user_passes_from_entry_points(monkeypatch, tmp_path):
    from importlib.metadata import EntryPoint

    from bridgec.passes import _plugins

    module = tmp_path / "acme_passes.py"
    module.write_text(Path(ROOT / "examples" / "user_pass.py").read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    point = EntryPoint(name="acme", value="acme_passes", group=_plugins.GROUP)
    monkeypatch.setattr(_plugins, "entry_points", lambda group: [point] if group == _plugins.GROUP else [])
    monkeypatch.setattr(_plugins, "_loaded_entry_points", False)
    try:
        assert _plugins.load_entry_points() == ["acme"]
        assert "user::swish" in passes.pipeline_ids("lower")
    finally:
        passes.REGISTRY.pop("user::swish", None)


def test_created_nodes_record_their_pass():
    graph = graph_from_text(RELU6)
    _, out, ctx = run_pipeline(graph, "lower", None)
    (clip,) = [n for n in out.nodes if n.op == "Clip"]
    # only what a pass created is recorded: not the source HardTanh, not the Identity cleanup removed
    assert ctx.created_by == {clip.name: "lower::hardtanh/hardtanh_to_clip"}
