"""--image-input and --image-output in both formats: the description the app sees, the ops an ML
Program gets for the scale and bias, and the executor's numbers against values worked out by hand
(so a swapped channel order or a bias added before the scale fails)."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec.backends.coreml.image import ImageInput, ImageOutput
from bridgec.backends.coreml.model import build
from bridgec.backends.coreml.targets import Target
from bridgec.core.errors import UsageError
from tests.helpers import graph_from_text

# y = x * 1: the network's view of the image comes straight out
ECHO = (
    '<ir_version: 8, opset_import: ["" : 17]> g (float[1,{c},2,3] x) => (float[1,{c},2,3] y) '
    "{{ one = Constant <value = float {{1.0}}> ()\n y = Mul (x, one) }}"
)
# every pixel (R, G, B) = (100, 50, 2)
PIXELS = np.broadcast_to(np.array([100.0, 50.0, 2.0], np.float32), (2, 3, 3)).copy()
FORMATS = [("neuralnetwork", "iOS14"), ("mlprogram", "iOS15"), ("mlprogram", "iOS17")]


def built(fmt, target, channels=3, **options):
    return build(graph_from_text(ECHO.format(c=channels)), Target.parse(target, format=fmt), **options)


def planes(got):
    """The value of each channel plane (each plane is constant here)."""
    got = np.asarray(got)
    assert got.shape[:2] == (1, got.shape[1]) and got.ndim == 4
    for c in range(got.shape[1]):
        assert np.all(got[0, c] == got[0, c, 0, 0])
    return [float(got[0, c, 0, 0]) for c in range(got.shape[1])]


@pytest.mark.parametrize("fmt, target", FORMATS)
@pytest.mark.parametrize(
    "layout, want",
    [
        # 0.5 * pixel + bias, the bias given as R, G, B = 10, 20, 30
        ("RGB", [0.5 * 100 + 10, 0.5 * 50 + 20, 0.5 * 2 + 30]),  # 60, 45, 31
        ("BGR", [0.5 * 2 + 30, 0.5 * 50 + 20, 0.5 * 100 + 10]),  # blue first: 31, 45, 60
    ],
)
def test_image_input_is_scaled_then_biased_in_the_models_channel_order(fmt, target, layout, want):
    model = built(fmt, target, image=ImageInput("x", 0.5, (10.0, 20.0, 30.0), layout))
    feature = model.spec.description.input[0].type.imageType
    assert (feature.width, feature.height, feature.ColorSpace.Name(feature.colorSpace)) == (3, 2, layout)
    assert planes(model.run_reference({"x": PIXELS})["y"]) == want


@pytest.mark.parametrize("fmt, target", FORMATS)
def test_gray_image_input_takes_one_bias(fmt, target):
    model = built(fmt, target, channels=1, image=ImageInput("x", 0.25, (-1.0,), "G"))
    feature = model.spec.description.input[0].type.imageType
    assert feature.ColorSpace.Name(feature.colorSpace) == "GRAYSCALE"
    assert planes(model.run_reference({"x": PIXELS[..., 0]})["y"]) == [0.25 * 100 - 1]


def test_ml_program_carries_the_scale_and_bias_as_mul_then_add_after_the_input():
    model = built("mlprogram", "iOS15", image=ImageInput("x", 0.5, (10.0, 20.0, 30.0), "BGR"))
    program = model.spec.mlProgram.functions["main"]
    assert program.inputs[0].name == "x" and program.inputs[0].type.tensorType.rank == 4
    ops = [op for op in program.block_specializations[program.opset].operations if op.type != "const"]
    mul, add = ops[0], ops[1]
    assert (mul.type, mul.inputs["x"].arguments[0].name) == ("mul", "x")
    assert (add.type, add.inputs["x"].arguments[0].name) == ("add", mul.outputs[0].name)


@pytest.mark.parametrize("fmt, target", FORMATS)
@pytest.mark.parametrize(
    "channels, layout, space", [(3, "RGB", "RGB"), (3, "BGR", "BGR"), (1, "RGB", "GRAYSCALE")]
)
def test_image_output_is_described_as_an_image_and_returned_as_the_tensor(
    fmt, target, channels, layout, space
):
    model = built(fmt, target, channels=channels, image_outputs=(ImageOutput("y", layout),))
    feature = model.spec.description.output[0].type.imageType
    assert (feature.width, feature.height, feature.ColorSpace.Name(feature.colorSpace)) == (3, 2, space)
    x = np.arange(channels * 6, dtype=np.float32).reshape(1, channels, 2, 3)
    np.testing.assert_array_equal(model.run_reference({"x": x})["y"], x)


NHWC = '<ir_version: 8, opset_import: ["" : 17]> g (float[1,2,3,3] x) => (float[1,2,3,3] y) { y = Relu (x) }'
RANK3 = '<ir_version: 8, opset_import: ["" : 17]> g (float[3,2,3] x) => (float[3,2,3] y) { y = Relu (x) }'
TWO = '<ir_version: 8, opset_import: ["" : 17]> g (float[1,2,2,3] x) => (float[1,2,2,3] y) { y = Relu (x) }'


@pytest.mark.parametrize("fmt, target", FORMATS[:2])
@pytest.mark.parametrize(
    "text, options, message",
    [
        (
            NHWC,
            {"image": ImageInput("x")},
            r"must have shape 1x3xHxW, the model's is 1x2x3x3 \(channels last\?",
        ),
        (RANK3, {"image": ImageInput("x")}, "must have shape 1x3xHxW, the model's is 3x2x3$"),
        (TWO, {"image": ImageInput("x")}, "must have shape 1x3xHxW, the model's is 1x2x2x3"),
        (ECHO.format(c=3), {"image": ImageInput("x", bias=(1.0, 2.0))}, "--bias: give 1 or 3 values"),
        (ECHO.format(c=3), {"image": ImageInput("x", color_layout="CMYK")}, "--color-layout CMYK: choose"),
        (ECHO.format(c=3), {"image_outputs": (ImageOutput("z"),)}, "--image-output z: not an output"),
        (TWO, {"image_outputs": (ImageOutput("y"),)}, "must have shape 1x3xHxW .* the model's is 1x2x2x3"),
        (RANK3, {"image_outputs": (ImageOutput("y"),)}, "the model's is 3x2x3"),
    ],
)
def test_what_cannot_be_an_image_is_a_one_line_error(fmt, target, text, options, message):
    with pytest.raises(UsageError, match=message) as caught:
        build(graph_from_text(text), Target.parse(target, format=fmt), **options)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("fmt, target", FORMATS[:2])
def test_executor_names_wrongly_shaped_pixels(fmt, target):
    from bridgec.backends.coreml.executor.errors import InputError

    model = built(fmt, target, image=ImageInput("x"))
    with pytest.raises(
        InputError, match=r"image input 'x' has shape \(3, 2, 3\), expected \(2, 3, 3\) \(RGB"
    ):
        model.run_reference({"x": np.zeros((3, 2, 3), np.float32)})
