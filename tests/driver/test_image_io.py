"""--image-input / --image-output from the command line: PyTorch models converted to both formats,
their numbers checked with the same pixels fed to PyTorch through the same preprocessing, and the
mistakes one line with exit 2."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec.backends.coreml.executor import run as run_coreml
from bridgec.backends.coreml.executor.model_io import load_spec
from bridgec.driver.cli import main


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def denoiser(path, channels):
    """An image-to-image model: the input plus a small conv correction, back in pixel units (0..255)."""
    import torch

    class Denoiser(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(channels, channels, 3, padding=1)

        def forward(self, x):
            return (x + 0.1 * torch.tanh(self.conv(x))) * 127.5 + 127.5

    torch.manual_seed(0)
    torch.jit.trace(Denoiser().eval(), torch.randn(1, channels, 8, 10)).save(str(path))
    return path


def described(path):
    spec = load_spec(str(path))
    spaces = {}
    for feature in [*spec.description.input, *spec.description.output]:
        image = feature.type.imageType
        kind = feature.type.WhichOneof("Type")
        spaces[feature.name] = image.ColorSpace.Name(image.colorSpace) if kind == "imageType" else kind
    return spec, spaces


@pytest.mark.parametrize(
    "layout, channels, bias, space",
    [("RGB", 3, "-1", "RGB"), ("BGR", 3, "-1,-0.9,-0.8", "BGR"), ("G", 1, "-1", "GRAYSCALE")],
)
@pytest.mark.parametrize("suffix", [".mlpackage", ".mlmodel"])
def test_image_to_image_model_converts_and_checks(layout, channels, bias, space, suffix, tmp_path, capsys):
    model = denoiser(tmp_path / "denoise.pt", channels)
    out = tmp_path / f"denoise{suffix}"
    args = [model, "--input", f"x:1x{channels}x8x10", "--image-input", "x", "--scale", str(1 / 127.5)]
    args += ["--bias", bias, "--color-layout", layout, "--image-output", "output", "-o", out]
    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    last = stdout.strip().splitlines()[-1]
    assert (
        last.startswith("checked: 1 output")
        and "image output output: the tensor checked, before Core ML makes 8-bit pixels" in last
    )
    assert "Core ML" in last and "near-black" not in last
    spec, spaces = described(out)
    assert spec.WhichOneof("Type") == ("mlProgram" if suffix == ".mlpackage" else "neuralNetwork")
    assert spaces == {"x": space, "output": space}
    pixels = np.random.default_rng(1).integers(0, 256, (8, 10) if channels == 1 else (8, 10, 3))
    assert run_coreml(str(out), {"x": pixels.astype(np.float32)})["output"].shape == (1, channels, 8, 10)


def test_format_auto_makes_an_ml_program_with_an_image_input(tmp_path, capsys):
    model = denoiser(tmp_path / "denoise.pt", 3)
    pixels = np.random.default_rng(2).integers(0, 256, (8, 10, 3)).astype(np.float32)
    np.save(tmp_path / "pixels.npy", pixels)
    args = [model, "--input", "x:1x3x8x10", "--image-input", "x", "--scale", "0.0078", "--bias", "-1"]
    code, stdout, err = run_cli([*args, "--check-input", f"x={tmp_path / 'pixels.npy'}"], capsys)
    assert code == 0, err
    assert stdout.strip().splitlines()[-1].endswith("on --check-input")
    spec, spaces = described(tmp_path / "denoise.mlpackage")
    assert spec.WhichOneof("Type") == "mlProgram" and spaces == {"x": "RGB", "output": "multiArrayType"}


def test_an_output_in_0_to_1_is_said_to_make_near_black_pixels(tmp_path, capsys):
    import torch

    class Sigmoid(torch.nn.Module):
        def forward(self, x):
            return torch.sigmoid(x)

    model = tmp_path / "s.pt"
    torch.jit.trace(Sigmoid(), torch.randn(1, 3, 4, 4)).save(str(model))
    code, stdout, err = run_cli([model, "--input", "x:1x3x4x4", "--image-output", "output"], capsys)
    assert code == 0, err
    assert "make near-black pixels: scale it by 255 in the model" in stdout


def test_faceseg_with_an_image_input_is_an_ml_program_checked_through_the_preprocessing(
    faceseg_path, tmp_path, capsys
):
    out = tmp_path / "faceseg.mlpackage"
    args = [faceseg_path, "--input", "x:1x3x256x256", "--image-input", "x", "--scale", "0.0078431", "--bias"]
    code, stdout, err = run_cli([*args, "-1,-1,-1", "--color-layout", "BGR", "-o", out], capsys)
    assert code == 0, err
    assert stdout.strip().splitlines()[-1].startswith("checked: 1 output")
    spec, spaces = described(out)
    assert spec.WhichOneof("Type") == "mlProgram" and spaces["x"] == "BGR"


@pytest.mark.parametrize("fmt", ["mlprogram", "neuralnetwork"])
@pytest.mark.parametrize(
    "shape, extra, message",
    [
        ("1x8x10x3", ["--image-input", "x"], "1x3xHxW, the model's is 1x8x10x3 (channels last?"),
        (
            "1x3x8x10",
            ["--image-input", "x", "--bias", "1,2"],
            "--bias: give 1 or 3 values for a RGB image, not 2",
        ),
        (
            "1x3x8x10",
            ["--image-input", "x", "--color-layout", "GRAY"],
            "a GRAY image input must have shape 1x1xHxW, the model's is 1x3x8x10 (three channels: --color-layout RGB or BGR)",
        ),
        (
            "1x3x8x10",
            ["--image-output", "z"],
            "--image-output z: not an output of the model (its outputs: output)",
        ),
        (
            "1x2x8x10",
            ["--image-output", "output"],
            "an image output must have shape 1x3xHxW (RGB/BGR) or 1x1xHxW",
        ),
        (
            "1x3x8x10",
            ["--image-output", "output", "--image-output", "output"],
            "--image-output: name each output once",
        ),
        ("1x3x8x10", ["--bias", "1"], "--scale and --bias describe an image input: add --image-input NAME"),
    ],
)
def test_what_cannot_be_an_image_is_one_line_and_exit_2(fmt, shape, extra, message, tmp_path, capsys):
    import torch

    class Relu(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x)

    model = tmp_path / "r.pt"
    dims = tuple(int(d) for d in shape.split("x"))
    torch.jit.trace(Relu(), torch.randn(*dims)).save(str(model))
    code, _, err = run_cli([model, "--input", f"x:{shape}", "--format", fmt, "-q", *extra], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert not list(tmp_path.glob("r.ml*"))
