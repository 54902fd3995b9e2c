"""--image-input / --labels: a Core ML image input with scale and per-channel bias, and a
classifier with labels; the reference executor runs both, checked against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from bridgec.backends.coreml.executor import run as run_coreml
from bridgec.backends.coreml.neuralnetwork import ImageInput, build_spec
from bridgec.core.errors import BridgecError
from bridgec.driver.cli import main
from tests.helpers import assert_matches, graph_from_text, run_graph

TEXT = (
    '<ir_version: 8, opset_import: ["" : 17]> g (float[1,{c},4,6] x) => (float[1,{c}] y) '
    "{{ m = ReduceMean <axes = [2, 3], keepdims = 0> (x)\n w = Mul (m, k)\n y = Softmax <axis = 1> (w) }}"
)
PIXELS = np.random.default_rng(0).integers(0, 256, size=(4, 6, 3)).astype(np.float32)


def graph(channels=3):
    text = TEXT.format(c=channels).replace("{ m", "{ k = Constant <value = float {50.0}> ()\n m", 1)
    return graph_from_text(text)


def network_input(pixels, layout, scale, bias):
    """What Core ML hands the network: channels in the model's order, scale * pixel + bias (R, G, B)."""
    chw = np.moveaxis(pixels, -1, 0)
    rgb_bias = np.asarray(bias, np.float32).reshape(3, 1, 1)
    if layout == "BGR":
        chw, rgb_bias = chw[::-1], rgb_bias[::-1]
    return (np.float32(scale) * chw + rgb_bias)[None]


@pytest.mark.parametrize("layout", ["RGB", "BGR"])
def test_image_input_and_classifier_match_onnxruntime(layout):
    g = graph()
    bias = (-0.485, -0.456, -0.406)
    labels = ["cat", "dog", "eel"]
    spec = build_spec(g.copy(), "iOS14", image=ImageInput("x", 1 / 255, bias, layout), labels=labels)
    assert spec.WhichOneof("Type") == "neuralNetworkClassifier"
    image = spec.description.input[0].type.imageType
    assert (image.width, image.height, image.ColorSpace.Name(image.colorSpace)) == (6, 4, layout)
    assert [o.name for o in spec.description.output] == ["y", "classLabel"]
    got = run_coreml(spec, {"x": PIXELS})
    want = run_graph(g, {"x": network_input(PIXELS, layout, 1 / 255, bias)})[0]
    # Core ML gives the app the probabilities as a dictionary label -> probability
    assert_matches(np.array([[got["y"][label] for label in labels]], np.float32), want, tolerance=1e-6)
    assert str(got["classLabel"]) == labels[int(np.argmax(want))]


def test_grayscale_input_with_one_bias():
    g = graph(channels=1)
    spec = build_spec(g.copy(), "iOS14", image=ImageInput("x", 0.5, (-1.0,), "GRAY"))
    gray = PIXELS[..., 0]
    got = run_coreml(spec, {"x": gray})["y"]
    want = run_graph(g, {"x": (0.5 * gray - 1.0)[None, None]})[0]
    assert_matches(got, want, tolerance=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image": ImageInput("nope")}, "--image-input nope: not an input of the model"),
        ({"image": ImageInput("x", color_layout="GRAY")}, "a GRAY image input must have shape 1x1xHxW"),
        ({"image": ImageInput("x", bias=(1.0, 2.0))}, "--bias: give 1 or 3 values"),
        ({"labels": ["a", "b"]}, "--labels: 2 labels for the 3 classes of output 'y'"),
        ({"labels": ["a", "a", "b"]}, "'a' is given twice"),
    ],
)
def test_mistakes_are_one_line_errors(kwargs, message):
    with pytest.raises(BridgecError, match=message):
        build_spec(graph(), "iOS14", **kwargs)


def test_cli_makes_an_image_classifier(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    onnx.save(
        onnx.shape_inference.infer_shapes(
            onnx.parser.parse_model(
                TEXT.format(c=3).replace("{ m", "{ k = Constant <value = float {50.0}> ()\n m", 1)
            )
        ),
        model,
    )
    (tmp_path / "labels.txt").write_text("cat\ndog\n\neel\n")
    out = tmp_path / "m.mlmodel"
    args = [
        str(model),
        "-q",
        "-o",
        str(out),
        "--image-input",
        "x",
        "--scale",
        "0.00392",
        "--bias",
        "-0.485,-0.456,-0.406",
    ]
    assert main([*args, "--color-layout", "BGR", "--labels", str(tmp_path / "labels.txt")]) == 0
    got = run_coreml(str(out), {"x": PIXELS})
    assert set(got) == {"y", "classLabel"}
    assert main([str(model), "-q", "-o", str(tmp_path / "b.mlmodel"), "--scale", "0.5"]) == 2
    assert "add --image-input NAME" in capsys.readouterr().err
    assert not (tmp_path / "b.mlmodel").exists()


def test_executor_names_a_wrongly_shaped_image():
    from bridgec.backends.coreml.executor.errors import InputError

    spec = build_spec(graph(), "iOS14", image=ImageInput("x"))
    with pytest.raises(InputError, match=r"image input 'x' has shape \(6, 4, 3\), expected \(4, 6, 3\)"):
        run_coreml(spec, {"x": np.zeros((6, 4, 3), np.float32)})
