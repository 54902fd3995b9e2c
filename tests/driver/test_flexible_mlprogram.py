"""Flexible input shapes in an ML Program (backends/coreml/flexible.py): the model is converted at the
other corner shapes too, must come out the same but for the sizes of its values, and is written with
those sizes unknown, as coremltools writes a ``ct.RangeDim`` / ``ct.EnumeratedShapes`` input; the
check runs it at the smallest, the largest and one shape in between."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from bridgec.backends.coreml.executor import run as run_coreml
from bridgec.backends.coreml.executor.errors import InputError
from bridgec.backends.coreml.executor.model_io import read_mlpackage
from bridgec.driver.cli import main
from bridgec.driver.convert import convert
from bridgec.frontends.shapes import parse_flexible_specs, parse_input_specs
from tests.helpers import assert_matches


class Net(nn.Module):
    """Strided conv, a transposed conv back up (its output size follows the input) and a bilinear
    upsampling by 2: ops whose output size a program could bake in."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        y = self.up(torch.relu(self.down(x)))
        return nn.functional.interpolate(self.head(y), scale_factor=2, mode="bilinear")


class Baked(nn.Module):
    """A reshape to sizes read from the input's shape: folded into a constant at each shape."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        return y.reshape(1, 2, y.shape[2] * y.shape[3])


class BakedWeight(nn.Module):
    """A 16-value constant (kept in the weights file, not the program) computed from the height."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 1)

    def forward(self, x):
        y = self.conv(x)
        return y + torch.arange(16.0).reshape(1, 16, 1, 1) * y.shape[2]


def save(module, path, dynamic=False):
    module = module.eval()
    example = torch.randn(1, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if path.suffix == ".pt2":
            h, w = torch.export.Dim("h", min=8, max=128), torch.export.Dim("w", min=8, max=128)
            shapes = {"x": {2: h, 3: w}} if dynamic else None
            torch.export.save(torch.export.export(module, (example,), dynamic_shapes=shapes), str(path))
        else:
            torch.jit.save(torch.jit.trace(module, example), str(path))
    return path


def convert_flexible(path, spec, out):
    return convert(path, inputs=parse_input_specs([spec]), flexible=parse_flexible_specs([spec]), output=out)


def dims(value_type):
    return [
        d.constant.size if d.WhichOneof("dimension") == "constant" else None
        for d in value_type.tensorType.dimensions
    ]


@pytest.mark.parametrize(
    "suffix, spec, shapes",
    [
        (".pt", "x:1x3x(8..32)x(8..32)", ["x:1x3x8x8", "x:1x3x21x21", "x:1x3x32x32"]),
        (".pt2", "x:1x3x(8..32)x(8..32)", ["x:1x3x8x8", "x:1x3x21x21", "x:1x3x32x32"]),
        (".pt", "x:1x3x{8,16}x{8,24}", ["x:1x3x8x8", "x:1x3x8x24", "x:1x3x16x8", "x:1x3x16x24"]),
        (".pt2", "x:1x3x8x8,1x3x16x24", ["x:1x3x8x8", "x:1x3x16x24"]),
    ],
)
def test_an_ml_program_takes_every_shape(tmp_path, suffix, spec, shapes):
    path = save(Net(), tmp_path / f"net{suffix}", dynamic=True)
    out = tmp_path / "net.mlpackage"
    result = convert_flexible(path, spec, out)
    assert result.format == "mlprogram" and result.check.status == "checked"
    # the check ran the program at the smallest, the largest and (a range) one shape between
    assert result.check.shapes == shapes, result.check.shapes
    program, _ = read_mlpackage(str(out))
    main_fn = program.mlProgram.functions["main"]
    assert [dims(v.type) for v in main_fn.inputs] == [[1, 3, None, None]]
    for op in main_fn.block_specializations[main_fn.opset].operations:
        if op.type != "const":  # every value after the input follows its height and width
            assert all(dims(o.type)[2:] == [None, None] for o in op.outputs), op
    described = program.description
    flexibility = described.input[0].type.multiArrayType.WhichOneof("ShapeFlexibility")
    assert flexibility == ("shapeRange" if "(" in spec else "enumeratedShapes")
    assert not described.output[0].type.multiArrayType.shape
    module = torch.jit.load(str(path)) if suffix == ".pt" else torch.export.load(str(path)).module()
    for label in shapes:
        shape = tuple(int(d) for d in label.split(":")[1].split("x"))
        x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
        with torch.no_grad():
            want = module(torch.from_numpy(x)).numpy()
        assert_matches(run_coreml(str(out), {"x": x})["output"], want, tolerance=1e-4)
    with pytest.raises(InputError, match="expected shape"):
        run_coreml(str(out), {"x": np.zeros((1, 3, 8, 12 if "{" in spec else 40), np.float32)})


@pytest.mark.parametrize(
    "module, names",
    [
        (Baked(), "constant 'output_shape_0' of reshape 'output'"),
        (BakedWeight(), "constant 'const_0' of conv 'output'"),  # from the weights file
    ],
)
def test_a_shape_baked_into_the_program_is_refused_in_one_line(tmp_path, capsys, module, names):
    path = save(module, tmp_path / "baked.pt")
    out = tmp_path / "baked.mlpackage"
    assert main([str(path), "-q", "-i", "x:1x3x{8,16}x8", "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert names in err and "depends on the input shape: it differs at x:1x3x16x8" in err, err
    assert "convert each shape separately" in err and not out.exists()


@pytest.mark.slow
def test_the_readme_faceseg_example_is_an_ml_program(faceseg_path, tmp_path, capsys):
    path = tmp_path / "faceseg.pt"
    shutil.copy(faceseg_path, path)
    assert main([str(path), "--input", "x:1x3x{256,512}x{256,512}"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "at 4 shapes (x:1x3x256x256; x:1x3x256x512; x:1x3x512x256; x:1x3x512x512)" in last, last
    program, _ = read_mlpackage(str(tmp_path / "faceseg.mlpackage"))
    assert [dims(v.type) for v in program.mlProgram.functions["main"].inputs] == [[1, 3, None, None]]


# coremltools' torch converter, in a process of its own: bridgec imports coremltools with torch
# hidden (backends/coreml/_coremltools.py), which turns that converter off for the whole process.
_COREMLTOOLS = """
import sys, warnings
warnings.simplefilter("ignore")
import coremltools as ct, torch
path, out, kind, shape = sys.argv[1], sys.argv[2], sys.argv[3], eval(sys.argv[4])
if kind == "enumerated":
    given = ct.EnumeratedShapes(shapes=list(shape), default=shape[0])
else:
    given = tuple(ct.RangeDim(lo, hi, default=lo) if lo != hi else lo for lo, hi in shape)
model = ct.convert(
    torch.jit.load(path), inputs=[ct.TensorType(name="x", shape=given)], convert_to="mlprogram",
    minimum_deployment_target=ct.target.iOS15, compute_precision=ct.precision.FLOAT32,
    skip_model_load=True,
)
open(out, "wb").write(model.get_spec().SerializeToString())
"""


@pytest.mark.parametrize("spec", ["x:1x3x(8..32)x(8..24)", "x:1x3x8x8,1x3x16x24"])
def test_inputs_and_outputs_are_described_as_coremltools_describes_them(tmp_path, spec):
    """ct.convert of the same traced model with a ct.RangeDim / ct.EnumeratedShapes input."""
    import subprocess
    import sys

    from bridgec.backends.coreml import _coremltools

    path = save(Net(), tmp_path / "net.pt")
    ours = convert_flexible(path, spec, tmp_path / "net.mlpackage").spec
    shape = parse_flexible_specs([spec])["x"]
    kind, given = ("enumerated", shape.enumerated) if shape.enumerated else ("ranges", shape.ranges)
    out = tmp_path / "theirs.mlmodel"
    args = [sys.executable, "-c", _COREMLTOOLS, str(path), str(out), kind, repr(given)]
    subprocess.run(args, check=True, capture_output=True)
    theirs = _coremltools.load().proto.Model_pb2.Model.FromString(out.read_bytes())
    assert ours.description.input[0] == theirs.description.input[0]
    assert ours.description.output[0].type == theirs.description.output[0].type
    assert ours.mlProgram.functions["main"].inputs == theirs.mlProgram.functions["main"].inputs


@pytest.mark.parametrize("suffix", [".mlmodel", ".mlpackage"])
def test_fp16_models_are_compared_at_fp16(tmp_path, capsys, suffix):
    """The other corner shapes are built as the model is (float16 weights too), so that only the
    sizes differ."""
    path = save(Net(), tmp_path / "net.pt")
    out = tmp_path / f"net{suffix}"
    assert main([str(path), "-q", "-i", "x:1x3x(8..16)x8", "--precision", "fp16", "-o", str(out)]) == 0
    assert capsys.readouterr().err == ""
    assert out.exists()


@pytest.mark.parametrize("suffix", [".mlmodel", ".mlpackage"])
def test_an_image_input_is_not_made_flexible_through_the_python_api(tmp_path, suffix):
    """The command line refuses --image-input with a flexible --input; the API reaches the backend,
    which must not write multiarray ranges over the image type."""
    from bridgec.backends.coreml.image import ImageInput
    from bridgec.core.errors import ConversionError

    path = save(Net(), tmp_path / "net.pt")
    with pytest.raises(ConversionError, match="'x' is a Core ML imageType: flexible sizes are written for"):
        convert(
            path,
            inputs=parse_input_specs(["x:1x3x8x8"]),
            flexible=parse_flexible_specs(["x:1x3x8x8,1x3x16x16"]),
            image=ImageInput("x"),
            output=tmp_path / f"net{suffix}",
        )
    assert not (tmp_path / f"net{suffix}").exists()
