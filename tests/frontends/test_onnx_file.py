"""ONNX files: Clip in every opset form, shapes, and clear errors for what is not a model."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from bridgec import frontends, passes
from bridgec.backends.coreml import capabilities_for
from bridgec.core import ir
from bridgec.core.errors import UsageError
from tests.helpers import assert_matches, run_graph

CLIP_MODELS = {
    # opset 6: bounds are attributes; either may be absent
    "opset6_both": (
        '<ir_version: 7, opset_import: ["" : 6]> g (float[1,4,5,5] x) => (float[1,4,5,5] y) '
        "{ y = Clip <min = 0.0, max = 6.0> (x) }",
        (0.0, 6.0),
    ),
    "opset6_min_only": (
        '<ir_version: 7, opset_import: ["" : 6]> g (float[1,4,5,5] x) => (float[1,4,5,5] y) '
        "{ y = Clip <min = 0.0> (x) }",
        (0.0, np.inf),
    ),
    "opset6_max_only": (
        '<ir_version: 7, opset_import: ["" : 6]> g (float[1,4,5,5] x) => (float[1,4,5,5] y) '
        "{ y = Clip <max = 1.5> (x) }",
        (-np.inf, 1.5),
    ),
    # opset 11+: bounds are inputs; an omitted one is an empty name
    "opset11_both": (
        '<ir_version: 7, opset_import: ["" : 11]> g (float[1,4,5,5] x) => (float[1,4,5,5] y) '
        "<float lo = {-2.0}, float hi = {2.0}> { y = Clip (x, lo, hi) }",
        (-2.0, 2.0),
    ),
    "opset13_max_missing": (
        '<ir_version: 8, opset_import: ["" : 13]> g (float[1,4,5,5] x) => (float[1,4,5,5] y) '
        "<float lo = {0.0}> { y = Clip (x, lo) }",
        (0.0, np.inf),
    ),
    "opset13_min_missing": (
        '<ir_version: 8, opset_import: ["" : 13]> g (float[1,4,5,5] x) => (float[1,4,5,5] y) '
        '<float hi = {6.0}> { y = Clip (x, "", hi) }',
        (-np.inf, 6.0),
    ),
    "opset17_constant_node": (
        '<ir_version: 8, opset_import: ["" : 17]> g (float[1,4,5,5] x) => (float[1,4,5,5] y) '
        "{ hi = Constant <value_float = 6.0> () "
        'y = Clip (x, "", hi) }',
        (-np.inf, 6.0),
    ),
}


def write(tmp_path, text: str, name="m.onnx"):
    path = tmp_path / name
    onnx.save(onnx.parser.parse_model(text), str(path))
    return path


@pytest.mark.parametrize("case", CLIP_MODELS)
def test_clip_forms_canonicalise_to_hardtanh_and_lower_exactly(case, tmp_path):
    text, expected = CLIP_MODELS[case]
    graph = frontends.load(write(tmp_path, text))
    assert ir.default_opset(graph) >= 13  # old models are brought up to the IR's opset
    x = (np.random.default_rng(2).standard_normal((1, 4, 5, 5)) * 5).astype(np.float32)
    want = np.clip(x, expected[0], expected[1])
    assert_matches(run_graph(graph, {"x": x})[0], want, tolerance=0)

    # canonicalised where lowering would change it: here, a target without Clip
    no_clip = capabilities_for("iOS14", ("Clip",))
    canonical = passes.Pipeline([passes.ClipToHardTanh()]).run(graph.copy(), target=no_clip)
    (node,) = canonical.nodes
    assert ir.op_key(node) == (ir.BRIDGEC_DOMAIN, "HardTanh")
    assert (node.attrs["min_value"], node.attrs["max_value"]) == expected
    assert_matches(run_graph(canonical, {"x": x})[0], want, tolerance=0)

    for mode in ("lower", "lower-custom", "none", "custom"):
        lowered = passes.pipeline(mode).run(graph.copy(), target=capabilities_for())
        assert_matches(run_graph(lowered, {"x": x})[0], want, tolerance=0, what=mode)


def test_clip_with_runtime_bounds_is_left_alone(tmp_path):
    text = (
        '<ir_version: 8, opset_import: ["" : 13]> g (float[4] x, float[1] lo) => (float[4] y) '
        "{ y = Clip (x, lo) }"
    )
    path = tmp_path / "m.onnx"
    model = onnx.parser.parse_model(text)
    model.graph.input[1].type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(model, str(path))
    graph = frontends.load(path)
    out = passes.Pipeline([passes.ClipToHardTanh()]).run(graph, target=capabilities_for())
    assert [n.op for n in out.nodes] == ["Clip"]


def test_dynamic_input_needs_a_shape(tmp_path):
    path = write(
        tmp_path,
        '<ir_version: 8, opset_import: ["" : 13]> g (float[N,4] x) => (float[N,4] y) { y = Relu (x) }',
    )
    with pytest.raises(UsageError, match=r"dynamic shape.*--input x:Nx4"):
        frontends.load(path)
    graph = frontends.load(path, inputs={"x": (2, 4)})
    assert graph.inputs[0].shape == [2, 4]
    with pytest.raises(UsageError, match="rank 2, not 3"):
        frontends.load(path, inputs={"x": (2, 4, 1)})


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a model bridgec can read"),
        (b"hello world, certainly not a model", "not a model bridgec can read"),
        (b"\x08\x07\x12\x03abc\xff\xff", "not"),
    ],
)
def test_not_a_model(tmp_path, content, message):
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    with pytest.raises(UsageError, match=message):
        frontends.load(path)


def test_truncated_onnx_is_a_usage_error(tmp_path):
    good = write(tmp_path, CLIP_MODELS["opset11_both"][0])
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(good.read_bytes()[:-7])
    with pytest.raises(UsageError):
        frontends.load(bad)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        frontends.load(tmp_path / "nope.pt")
    with pytest.raises(UsageError, match="is a directory"):
        frontends.load(tmp_path)


def test_state_dict_needs_an_architecture(tmp_path):
    import torch

    torch.save({"weight": torch.zeros(2)}, str(tmp_path / "sd.pt"))
    with pytest.raises(UsageError, match=r"a state_dict .*pass --arch pkg.module:Class"):
        frontends.load(tmp_path / "sd.pt")
