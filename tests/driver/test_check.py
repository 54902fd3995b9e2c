"""The numbers check in every conversion: a wrong model is never written, what could not be checked is
said, and the last line says what was proven."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import onnx
import pytest

from bridgec.backends.coreml import mlprogram_ops as mil
from bridgec.backends.coreml import neuralnetwork_layers as ops
from bridgec.driver import check as check_mod
from bridgec.driver.cli import main
from bridgec.driver.convert import convert


def save_onnx(path, text):
    onnx.save(onnx.parser.parse_model(text), str(path))
    return path


def tiny_onnx(tmp_path, name="tiny.onnx"):
    return save_onnx(
        tmp_path / name,
        '<ir_version: 8, opset_import: ["" : 13]> g (float[1,3,4,4] x) => (float[1,3,4,4] y) '
        "<float lo = {0.0}, float hi = {6.0}> { a = Mul (x, x) b = Clip (a, lo, hi) c = Relu (x) y = Sub (b, c) }",
    )


def save_torch(path, module, shape):
    import torch

    traced = torch.jit.trace(module.eval(), torch.randn(*shape))
    traced.save(str(path))
    return path


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def plant_wrong_relu(monkeypatch):
    """Both formats' Relu emitters compute sigmoid instead: a plausible-looking, wrong model."""
    table = ops.table()

    def wrong(ctx, node):
        ctx.builder.add_activation(node.name, "SIGMOID", ctx.blob(node.inputs[0]), node.outputs[0].name)

    monkeypatch.setitem(table, ("", "Relu"), dataclasses.replace(table[("", "Relu")], emit=wrong))
    mtable = mil.table()
    monkeypatch.setitem(
        mtable, ("", "Relu"), dataclasses.replace(mtable[("", "Relu")], emit=mil.unary("sigmoid"))
    )


def test_last_line_says_what_was_proven(tmp_path, capsys):
    code, out, _ = run_cli([tiny_onnx(tmp_path)], capsys)
    assert code == 0
    last = out.strip().splitlines()[-1]
    assert last.startswith("checked: 1 output, max rel err ") and last.endswith(
        "(fp32 tolerance 1e-4) against onnxruntime"
    ), last
    rel = float(last.split("max rel err ")[1].split()[0])
    assert rel <= 1e-6


@pytest.mark.parametrize("format", ["neuralnetwork", "mlprogram"])
def test_a_wrong_model_is_never_written(format, tmp_path, capsys, monkeypatch):
    plant_wrong_relu(monkeypatch)
    model = tiny_onnx(tmp_path)
    out_path = tmp_path / ("y.mlmodel" if format == "neuralnetwork" else "y.mlpackage")
    code, out, err = run_cli([model, "--format", format, "-o", out_path, "-q"], capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    message = lines[0]
    assert message.startswith(
        "bridgec: error: check failed: output 'y' differs from onnxruntime by max rel err"
    )
    # the first diverging node is found by comparing intermediate tensors: the planted Relu, tensor c
    assert "first diverging node 'node" in message or "(Relu" in message, message
    assert "tensor 'c'" in message, message
    assert listing(tmp_path) == ["tiny.onnx"]  # nothing written, nothing staged left behind


def test_a_wrong_model_keeps_the_earlier_output(tmp_path, capsys, monkeypatch):
    model = tiny_onnx(tmp_path)
    assert run_cli([model, "-o", tmp_path / "y.mlmodel", "-q"], capsys)[0] == 0
    before = (tmp_path / "y.mlmodel").read_bytes()
    plant_wrong_relu(monkeypatch)
    assert run_cli([model, "-o", tmp_path / "y.mlmodel", "-q"], capsys)[0] == 1
    assert (tmp_path / "y.mlmodel").read_bytes() == before


def test_python_api_raises_and_writes_nothing(tmp_path, monkeypatch):
    plant_wrong_relu(monkeypatch)
    with pytest.raises(check_mod.CheckFailed) as caught:
        convert(tiny_onnx(tmp_path), output=tmp_path / "y.mlpackage")
    assert caught.value.check.status == "failed"
    assert caught.value.check.outputs[0].name == "y" and not caught.value.check.outputs[0].passed
    assert listing(tmp_path) == ["tiny.onnx"]


def test_a_pass_that_changes_numbers_is_named(tmp_path, monkeypatch):
    from bridgec.passes.lower import hardtanh

    def wrong_clip(op, x, lo, hi):  # the bounds are ignored
        return op.Clip(x, op.const(0.5), op.const(1.0))

    swapped = tuple(
        dataclasses.replace(r, replacement=wrong_clip) if r.name == "hardtanh_to_relu" else r
        for r in hardtanh.LowerHardTanh.rules
    )
    monkeypatch.setattr(hardtanh.LowerHardTanh, "rules", swapped)
    path = save_onnx(
        tmp_path / "relu_clip.onnx",
        '<ir_version: 8, opset_import: ["" : 13]> g (float[1,3,4,4] x) => (float[1,3,4,4] y) '
        "<float lo = {0.0}> { a = Mul (x, x) b = Clip (a, lo) y = Sub (b, x) }",
    )
    with pytest.raises(check_mod.CheckFailed) as caught:
        convert(path, write=False)
    assert "a pass changed the numbers first at node" in str(caught.value)
    assert "lower::hardtanh/hardtanh_to_relu" in str(caught.value)


def test_no_check_says_not_checked(tmp_path, capsys, monkeypatch):
    plant_wrong_relu(monkeypatch)
    code, out, _ = run_cli([tiny_onnx(tmp_path), "--no-check"], capsys)
    assert code == 0
    assert out.strip().splitlines()[-1] == "NOT checked: --no-check was given"
    assert (tmp_path / "tiny.mlpackage").is_dir()


def test_strict_and_no_check_contradict(tmp_path, capsys):
    code, _, err = run_cli([tiny_onnx(tmp_path), "--no-check", "--strict"], capsys)
    assert code == 2 and "--strict" in err and len(err.strip().splitlines()) == 1


def unknown_op_model(tmp_path):
    """An op bridgec has no layer, lowering or kernel for (defined by a model-local function, so
    onnxruntime runs it): with -O custom --allow-missing-kernels it becomes a custom layer the app
    implements, and the reference executor has no semantics for it."""
    return save_onnx(
        tmp_path / "swish.onnx",
        """<ir_version: 8, opset_import: ["" : 17, "com.example" : 1]>
g (float[1,3,4,4] x) => (float[1,3,4,4] y) { a = Relu (x) y = com.example.Swish <beta = 1.5> (a) }
<domain: "com.example", opset_import: ["" : 17]>
Swish <beta> (x) => (y) {
  b = Constant <value_float: float = @beta> ()
  bx = Mul (x, b)
  s = Sigmoid (bx)
  y = Mul (x, s)
}""",
    )


def test_executor_gap_writes_but_says_not_checked(tmp_path, capsys):
    model = unknown_op_model(tmp_path)
    code, out, _ = run_cli(
        [model, "-O", "custom", "--allow-missing-kernels", "--report-json", tmp_path / "r.json"], capsys
    )
    assert code == 0, out
    last = out.strip().splitlines()[-1]
    assert last.startswith("NOT checked: the reference executor lacks custom layer Swish (nodes "), last
    assert (tmp_path / "swish.mlmodel").is_file()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["check"]["status"] == "not checked" and "Swish" in report["check"]["reason"]


def test_strict_refuses_what_cannot_be_checked(tmp_path, capsys):
    model = unknown_op_model(tmp_path)
    code, _, err = run_cli([model, "-O", "custom", "--allow-missing-kernels", "--strict", "-q"], capsys)
    assert code == 1
    (line,) = err.strip().splitlines()
    assert line.startswith(
        "bridgec: error: --strict: NOT checked: the reference executor lacks custom layer Swish"
    )
    assert line.endswith("; nothing was written")
    assert listing(tmp_path) == ["swish.onnx"]


def test_quiet_warns_when_not_checked(tmp_path, capsys):
    code, out, err = run_cli([tiny_onnx(tmp_path), "--no-check", "-q"], capsys)
    assert code == 0 and out == ""
    assert (
        err.strip() == f"bridgec: warning: {tmp_path / 'tiny.mlpackage'}: NOT checked: --no-check was given"
    )


def test_check_input_is_used(tmp_path, capsys):
    x = np.linspace(-3, 3, 48, dtype=np.float32).reshape(1, 3, 4, 4)
    np.save(tmp_path / "x.npy", x)
    code, out, _ = run_cli([tiny_onnx(tmp_path), "--check-input", f"x={tmp_path / 'x.npy'}"], capsys)
    assert code == 0
    assert out.strip().splitlines()[-1].endswith("against onnxruntime on --check-input")


def test_check_input_reaches_both_sides(tmp_path, monkeypatch):
    """A Clip planted to pass its input through is right on data inside the bounds and wrong above
    them: only the user's data that reaches the bound exposes it, so both runtimes must see it."""
    path = save_onnx(
        tmp_path / "clip.onnx",
        '<ir_version: 8, opset_import: ["" : 13]> g (float[1,4] x) => (float[1,4] y) '
        "<float lo = {-100.0}, float hi = {6.0}> { y = Clip (x, lo, hi) }",
    )
    table = mil.table()
    monkeypatch.setitem(
        table, ("", "Clip"), dataclasses.replace(table[("", "Clip")], emit=mil.unary("identity"))
    )
    inside = np.array([[0.1, -0.2, 0.3, 1.0]], np.float32)
    result = convert(path, write=False, format="mlprogram", check_inputs={"x": inside})
    assert result.check.status == "checked" and result.check.user_inputs
    above = np.array([[10.0, 20.0, -3.0, 7.0]], np.float32)
    with pytest.raises(check_mod.CheckFailed, match="output 'y' differs from onnxruntime"):
        convert(path, write=False, format="mlprogram", check_inputs={"x": above})


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda d: np.save(d / "a.npy", np.zeros((1, 3, 5, 5), np.float32)),
            "--check-input x: shape (1, 3, 5, 5), but the model's input x has shape (1, 3, 4, 4)",
        ),
        (
            lambda d: np.save(d / "a.npy", np.array(["a"] * 48).reshape(1, 3, 4, 4)),
            "holds <U1 values; the model's inputs take float, integer or bool arrays",
        ),
        (lambda d: (d / "a.npy").write_bytes(b"not numpy"), "not a readable .npy array"),
        (lambda d: None, "no such file"),
    ],
)
def test_bad_check_input_is_one_line_exit_2(make, message, tmp_path, capsys):
    model = tiny_onnx(tmp_path)
    make(tmp_path)
    code, _, err = run_cli([model, "--check-input", f"x={tmp_path / 'a.npy'}", "-q"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bridgec: error: ") and message in lines[0], err
    assert "tiny.mlpackage" not in listing(tmp_path)


def test_check_input_names_an_input(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.zeros((1, 3, 4, 4), np.float32))
    code, _, err = run_cli([tiny_onnx(tmp_path), "--check-input", f"image={tmp_path / 'a.npy'}"], capsys)
    assert code == 2 and "--check-input image: not an input of the model (its inputs: x)" in err
    code, _, _ = run_cli([tiny_onnx(tmp_path), "--check-input", str(tmp_path / "a.npy"), "-q"], capsys)
    assert code == 0  # one input: the name may be left out


def test_partly_nonfinite_reference_is_matched_and_said(tmp_path, capsys):
    import torch

    class Log(torch.nn.Module):
        def forward(self, x):
            return torch.log(x) * 2

    path = save_torch(tmp_path / "log.pt", Log(), (1, 3, 4, 4))
    code, out, _ = run_cli([path, "--input", "x:1x3x4x4"], capsys)
    assert code == 0
    last = out.strip().splitlines()[-1]
    assert last.startswith("checked: 1 output") and "against PyTorch" in last
    assert "'output' is NaN/inf in PyTorch at " in last and "of 48 elements (matched there)" in last


def test_all_nonfinite_reference_is_not_checked(tmp_path, capsys):
    import torch

    class Dead(torch.nn.Module):
        def forward(self, x):
            return torch.log(-(x * x) - 1.0)

    path = save_torch(tmp_path / "dead.pt", Dead(), (1, 3, 4, 4))
    code, out, _ = run_cli([path, "--input", "x:1x3x4x4"], capsys)
    assert code == 0
    last = out.strip().splitlines()[-1]
    assert last.startswith(
        "NOT checked: PyTorch itself computes output 'output' as NaN or infinity everywhere"
    )
    assert run_cli([path, "--input", "x:1x3x4x4", "--strict", "-q"], capsys)[0] == 1


@pytest.mark.parametrize(("bias", "shown"), [(0.0, "0"), (0.5, "0.5")])
def test_constant_reference_output_is_checked_with_a_warning(bias, shown, tmp_path, capsys):
    """An untrained network with a zero-initialised head (torchvision's vit_b_16) outputs one value
    whatever its backbone computes: max rel err 0 proves nothing about the backbone, and the line
    says so without failing the conversion."""
    import torch

    class ZeroHead(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.head = torch.nn.Linear(4, 5)
            torch.nn.init.zeros_(self.head.weight)
            torch.nn.init.constant_(self.head.bias, bias)

        def forward(self, x):
            return self.head(torch.relu(self.conv(x)).mean((2, 3)))

    path = save_torch(tmp_path / "zero.pt", ZeroHead(), (1, 3, 8, 8))
    code, out, _ = run_cli([path, "--input", "x:1x3x8x8"], capsys)
    assert code == 0
    last = out.strip().splitlines()[-1]
    assert last.startswith("checked: 1 output, max rel err 0 ") and "against PyTorch" in last
    assert (
        f"; warning: output 'output' is {shown} everywhere in PyTorch on the check input, so the comparison "
        "cannot tell a wrong network from a right one for it; pass --check-input NAME=FILE.npy" in last
    )
    code, out, err = run_cli(
        [path, "--input", "x:1x3x8x8", "--strict", "-q", "-o", tmp_path / "s.mlpackage"], capsys
    )
    assert code == 0 and out == ""
    # -q keeps the warning: it is the one line that says the check proved little
    assert err.startswith("bridgec: warning: ") and "cannot tell a wrong network from a right one" in err
    result = convert(path, inputs={"x": (1, 3, 8, 8)}, write=False)
    assert result.check.status == "checked" and any(
        "warning: output 'output'" in n for n in result.check.notes
    )
    assert "warning" not in convert(tiny_onnx(tmp_path), write=False).check.line()  # outputs that vary


def test_fp16_is_judged_like_fp16(tmp_path):
    result = convert(tiny_onnx(tmp_path), write=False, precision="fp16", format="mlprogram")
    assert result.check.status == "checked"
    assert (result.check.precision, result.check.tolerance) == ("fp16", 5e-2)
    assert 1e-5 < result.check.max_rel < 5e-2  # float16's honest error shows


def test_tolerance_option(tmp_path, capsys):
    with pytest.raises(check_mod.CheckFailed, match=r"fp16 tolerance 1e-7\)"):
        convert(tiny_onnx(tmp_path), write=False, precision="fp16", format="mlprogram", tolerance=1e-7)
    code, _, err = run_cli([tiny_onnx(tmp_path), "--tolerance", "0"], capsys)
    assert code == 2 and "--tolerance 0.0: give a positive number" in err


def test_report_json_carries_the_check(tmp_path, capsys):
    code, _, _ = run_cli([tiny_onnx(tmp_path), "--report-json", tmp_path / "r.json", "-q"], capsys)
    assert code == 0
    from bridgec.driver.report_schema import validate

    report = json.loads((tmp_path / "r.json").read_text())
    assert validate(report) == []
    assert report["check"]["status"] == "checked" and report["check"]["reference"] == "onnxruntime"
    assert report["check"]["line"].startswith("checked: 1 output")


@pytest.mark.parametrize("layout", ["RGB", "BGR"])
def test_image_classifier_is_checked_through_the_preprocessing(layout, tmp_path, capsys):
    """Core ML gets pixels and applies scale and per-channel bias; PyTorch gets the tensor that makes.
    A bias applied to the wrong channel would show as a mismatch."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("weights", torch.tensor([1.0, -2.0, 3.0]).reshape(1, 3, 1, 1))

        def forward(self, x):
            return torch.nn.functional.softmax((x * self.weights).mean(dim=(2, 3)) * 50, dim=1)

    path = save_torch(tmp_path / "net.pt", Net(), (1, 3, 4, 6))
    (tmp_path / "labels.txt").write_text("cat\ndog\neel\n")
    args = [
        path,
        "--input",
        "x:1x3x4x6",
        "--image-input",
        "x",
        "--scale",
        "0.0039",
        "--bias",
        "-0.5,-0.1,-0.9",
    ]
    args += ["--color-layout", layout, "--labels", tmp_path / "labels.txt", "-o", tmp_path / "net.mlmodel"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0, out
    assert out.strip().splitlines()[-1].startswith("checked: 2 outputs")  # the probabilities and classLabel
    pixels = np.random.default_rng(3).integers(0, 256, (4, 6, 3)).astype(np.float32)
    np.save(tmp_path / "pixels.npy", pixels)
    code, out, _ = run_cli([*args, "--check-input", f"x={tmp_path / 'pixels.npy'}"], capsys)
    assert code == 0 and out.strip().splitlines()[-1].endswith("on --check-input"), out
    np.save(tmp_path / "tensor.npy", np.zeros((1, 3, 4, 6), np.float32))
    code, _, err = run_cli([*args, "--check-input", f"x={tmp_path / 'tensor.npy'}", "-q"], capsys)
    assert code == 2 and "takes (4, 6, 3) pixels" in err


def test_flexible_shapes_are_checked_at_every_corner_and_between(tmp_path, capsys):
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return torch.relu(self.conv(x))

    path = save_torch(tmp_path / "net.pt", Net(), (1, 3, 8, 8))
    code, out, _ = run_cli([path, "--input", "x:1x3x(8..16)x(8..16)"], capsys)
    assert code == 0, out
    last = out.strip().splitlines()[-1]
    assert "at 3 shapes (x:1x3x8x8; x:1x3x13x13; x:1x3x16x16)" in last, last


@pytest.mark.parametrize("format", ["neuralnetwork", "mlprogram"])
def test_fractional_bilinear_is_never_silently_wrong(format, tmp_path, capsys):
    """The issue's example: bilinear by 1.5 from 5x5. Whatever the emitters do with it, the conversion
    either writes a model whose numbers match PyTorch or fails without writing one."""
    import torch

    class Up(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=1.5, mode="bilinear")

    path = save_torch(tmp_path / "up.pt", Up(), (1, 3, 5, 5))
    out_path = tmp_path / ("up.mlmodel" if format == "neuralnetwork" else "up.mlpackage")
    code, out, err = run_cli([path, "--input", "x:1x3x5x5", "--format", format, "-o", out_path], capsys)
    if code == 0:
        assert out.strip().splitlines()[-1].startswith("checked: 1 output")
    else:
        assert code == 1 and len(err.strip().splitlines()[-1:]) == 1
        assert not out_path.exists()


def test_an_onnx_file_onnxruntime_refuses_is_not_converted(tmp_path, capsys):
    """A damaged .onnx whose Conv weights do not fit its input (found by the fuzzer): the emitters
    would write something, but the ONNX reference says the model is broken, so nothing is written."""
    path = save_onnx(
        tmp_path / "bad.onnx",
        '<ir_version: 8, opset_import: ["" : 13]> g (float[1,1,4,4] x) => (float[1,2,4,4] y) '
        "<float[2,3,1,1] w = {1.0, 2.0, 3.0, 4.0, 5.0, 6.0}> { y = Conv (x, w) }",
    )
    code, out, err = run_cli([path, "-q", "--format", "neuralnetwork"], capsys)
    assert code == 1 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("bridgec: error: bad.onnx: onnxruntime, the ONNX reference, fails on the model (")
    assert line.endswith("nothing was written (--no-check converts it unchecked)")
    assert listing(tmp_path) == ["bad.onnx"]


def test_an_op_onnxruntime_lacks_is_not_checked_rather_than_refused(tmp_path, capsys):
    """A user's op without a function definition, lowered by a user pass: onnxruntime cannot run the
    source, which is not the model's fault; the model is written and the line says why it is unproven."""
    from tests.conftest import ROOT

    path = save_onnx(
        tmp_path / "swish.onnx",
        '<ir_version: 8, opset_import: ["" : 17, "com.example" : 1]> g (float[1,3,4,4] x) => (float[1,3,4,4] y) '
        "{ y = com.example.Swish <beta = 1.0> (x) }",
    )
    code, out, _ = run_cli([path, "--load-passes", ROOT / "examples" / "user_pass.py", "-O", "lower"], capsys)
    assert code == 0, out
    assert out.strip().splitlines()[-1] == (
        "NOT checked: onnxruntime cannot run the source model (onnxruntime has no implementation of "
        "com.example::Swish)"
    )
