"""The report's "what the app feeds and gets" lines: read from the built model's description
(``backends.coreml.interface``), in the text, Markdown, HTML and JSON reports."""

from __future__ import annotations

import html
import json

import numpy as np
import pytest

from bridgec.backends.coreml.image import ImageInput
from bridgec.backends.coreml.interface import describe
from bridgec.backends.coreml.neuralnetwork import build_spec
from bridgec.driver.report import Report
from bridgec.driver.report_schema import validate
from tests.helpers import graph_from_text

IMAGE_CLASSIFIER = (
    '<ir_version: 8, opset_import: ["" : 17]> g (float[1,3,4,6] x) => (float[1,3] y) '
    "{ k = Constant <value = float {50.0}> ()\n m = ReduceMean <axes = [2, 3], keepdims = 0> (x)\n"
    " w = Mul (m, k)\n y = Softmax <axis = 1> (w) }"
)
PLAIN = '<ir_version: 8, opset_import: ["" : 17]> g (float[1,3,8,8] x) => (float[1,3,8,8] y) { y = Relu (x) }'


def image_classifier_spec():
    graph = graph_from_text(IMAGE_CLASSIFIER)
    return build_spec(graph, "iOS14", image=ImageInput("x", 1 / 255), labels=["ant", "bee", "eel"])


def lines(spec):
    return [f"{f.role} {f.line}" for f in describe(spec)]


def test_an_image_classifier():
    assert lines(image_classifier_spec()) == [
        "input x: image RGB 6x4 (width x height)",
        "output y: dictionary string -> double, the probability of each of 3 labels",
        "output classLabel: string, the top class of 3 labels, probabilities in y",
    ]


def test_flexible_inputs_image_sizes_and_states():
    spec = build_spec(graph_from_text(PLAIN), "iOS14")
    array = spec.description.input[0].type.multiArrayType
    for lo, hi in ((1, 1), (3, 3), (128, 512), (64, -1)):
        size = array.shapeRange.sizeRanges.add()
        size.lowerBound, size.upperBound = lo, hi
    output = spec.description.output[0].type.multiArrayType
    for dims in ((1, 3, 8, 8), (1, 3, 16, 16)):
        output.enumeratedShapes.shapes.add().shape.extend(dims)
    state = spec.description.state.add()
    state.name = "cache"
    state.type.stateType.arrayType.dataType = state.type.stateType.arrayType.FLOAT16
    state.type.stateType.arrayType.shape.extend([1, 4])
    assert lines(spec) == [
        "input x: float64 1x3x8x8, flexible: 1x3x(128..512)x(64..)",
        "output y: float32 1x3x8x8, flexible: one of 1x3x8x8, 1x3x16x16",
        "state cache: float16 1x4 (MLState)",
    ]
    del output.shape[:]  # a flexible model's outputs: no fixed shape
    output.ClearField("enumeratedShapes")
    assert lines(spec)[1] == "output y: float32, shape set when run"
    image = image_classifier_spec()
    sizes = image.description.input[0].type.imageType.imageSizeRange
    sizes.widthRange.lowerBound, sizes.widthRange.upperBound = 6, 600
    sizes.heightRange.lowerBound, sizes.heightRange.upperBound = 4, -1
    assert lines(image)[0] == "input x: image RGB 6x4 (width x height), flexible: (6..600)x(4..)"
    enumerated = image_classifier_spec()
    for width, height in ((6, 4), (12, 8)):
        size = enumerated.description.input[0].type.imageType.enumeratedSizes.sizes.add()
        size.width, size.height = width, height
    assert lines(enumerated)[0] == "input x: image RGB 6x4 (width x height), flexible: one of 6x4, 12x8"


def test_every_report_format_says_it():
    interface = describe(image_classifier_spec())
    report = Report("Core ML NeuralNetwork for iOS14", "lower-custom", [], interface=interface)
    table = report.render("table").splitlines()
    assert "app input x: image RGB 6x4 (width x height)" in table
    assert "app output classLabel: string, the top class of 3 labels, probabilities in y" in table
    markdown = report.render("markdown")
    assert "- input `x`: image RGB 6x4 (width x height)" in markdown
    assert "- output `y`: dictionary string -> double, the probability of each of 3 labels" in markdown
    page = report.render("html")
    assert f"<li>output {html.escape('y: dictionary string -> double')}" in page
    data = json.loads(report.render("json"))
    assert validate(data) == []
    assert [(f["role"], f["name"], f["kind"]) for f in data["interface"]] == [
        ("input", "x", "image"),
        ("output", "y", "dictionary"),
        ("output", "classLabel", "string"),
    ]
    assert data["interface"][0] | {"line": ""} == {
        "role": "input",
        "name": "x",
        "kind": "image",
        "dtype": "",
        "shape": [],
        "color_space": "RGB",
        "width": 6,
        "height": 4,
        "flexibility": "",
        "classifier": "",
        "line": "",
    }
    assert Report("t", "p", []).to_dict()["interface"] == []  # no model built: nothing to say


@pytest.mark.parametrize("fmt", ["mlprogram", "neuralnetwork"])
def test_a_conversion_reports_the_model_it_built(tmp_path, fmt):
    import onnx

    from bridgec.driver.convert import convert

    text = (
        '<ir_version: 8, opset_import: ["" : 17]> g (float[1,3] x) => (float[1,3] scores) '
        "{ scores = Softmax <axis = 1> (x) }"
    )
    onnx.save(onnx.parser.parse_model(text), tmp_path / "m.onnx")
    result = convert(tmp_path / "m.onnx", labels=["0", "1", "2"], format=fmt, write=False)
    probabilities = result.model.spec.description.predictedProbabilitiesName
    report = result.report.render("table").splitlines()
    assert (
        f"app output classLabel: int64, the top class of 3 labels, probabilities in {probabilities}" in report
    )
    assert (
        f"app output {probabilities}: dictionary int64 -> double, the probability of each of 3 labels"
        in report
    )
    assert [f.name for f in result.report.interface] == [f.name for f in describe(result.model.spec)]
    assert np.all([f.role in ("input", "output") for f in result.report.interface])


@pytest.mark.parametrize("fmt", ["mlprogram", "neuralnetwork"])
def test_an_image_classifier_conversion_in_both_formats(tmp_path, fmt):
    import onnx

    from bridgec.driver.convert import convert

    onnx.save(onnx.parser.parse_model(IMAGE_CLASSIFIER), tmp_path / "m.onnx")
    image = ImageInput("x", 1 / 255, (-0.5, -0.5, -0.5))
    result = convert(tmp_path / "m.onnx", image=image, labels=["ant", "bee", "eel"], format=fmt, write=False)
    assert result.check.status == "checked", result.check.line()
    probabilities = "classLabel_probs" if fmt == "mlprogram" else "y"
    assert sorted(result.report.render("table").splitlines()[-3:]) == [
        "app input x: image RGB 6x4 (width x height)",
        f"app output classLabel: string, the top class of 3 labels, probabilities in {probabilities}",
        f"app output {probabilities}: dictionary string -> double, the probability of each of 3 labels",
    ]
