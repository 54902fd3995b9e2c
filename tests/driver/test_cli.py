"""Command-line contract: one-line errors, exit 2 for usage and 1 for conversion, nothing left behind."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bridgec.driver.cli import main


def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["missing.pt"], 2, "missing.pt: no such file"),
        ([], 2, "the following arguments are required: model"),
        (["{model}", "-O", "fast"], 2, "unknown pipeline -O 'fast'"),
        (["{model}", "--input", "x:1by3"], 2, "malformed --input 'x:1by3'"),
        (["{model}", "--input", "x:0x3"], 2, "every dimension must be a positive integer"),
        (["{model}", "--input", "x:1x2:int8"], 2, "unknown dtype 'int8'; choose fp32 (float32)"),
        (["{model}", "--input", "x:1x2:int64", "-q"], 2, "tiny.onnx declares input x as float32"),
        (["{model}", "--target", "iOS9"], 2, "unknown --target 'iOS9'"),
        (["{model}", "-o", "out.onnx"], 2, "name a .mlpackage (ML Program) or .mlmodel"),
        (["{notmodel}"], 2, "not a model bridgec can read"),
        (["{model}", "--bogus"], 2, "unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_is_one_line_and_exit_status(args, code, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "tiny.onnx"
    import onnx

    onnx.save(
        onnx.parser.parse_model(
            '<ir_version: 8, opset_import: ["" : 17]> g (float[1,2] x) => (float[1,2] y) { y = Relu (x) }'
        ),
        str(model),
    )
    notmodel = tmp_path / "notes.txt"
    notmodel.write_text("hello")
    args = [a.format(model=model, notmodel=notmodel) for a in args]
    got, out, err = run_cli(args, capsys)
    assert got == code
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bridgec: error: ") and message in lines[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "tiny.onnx"]


def test_onnx_file_converts_without_importing_torch(tmp_path):
    model = tmp_path / "tiny.onnx"
    import onnx

    onnx.save(
        onnx.parser.parse_model(
            '<ir_version: 8, opset_import: ["" : 11]> g (float[1,2,3,3] x) => (float[1,2,3,3] y) '
            "<float lo = {0.0}, float hi = {6.0}> { y = Clip (x, lo, hi) }"
        ),
        str(model),
    )
    code = (
        "import sys; from bridgec.driver.cli import main; rc = main([sys.argv[1], '-q']); "
        "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "tiny.mlpackage" / "Manifest.json").exists()  # an ML Program, by default


def test_help_and_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "bridgec", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "convert" in done.stdout and "coverage" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "bridgec", "convert", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "-O PIPELINE" in done.stdout and "lower-custom" in done.stdout
    code = "import sys; from bridgec.driver.cli import main; main(['--help'])"
    done = subprocess.run(
        [sys.executable, "-c", code + "\nassert 'torch' not in sys.modules"], capture_output=True
    )
    assert b"torch" not in done.stderr


def test_passes_listing(capsys):
    code, out, _ = run_cli(["passes"], capsys)
    assert code == 0
    assert "lower::hardtanh" in out and "hardtanh(x, 0, inf) -> relu(x)" in out
    assert "lower-custom" in out and "custom::tag_custom_layers" in out


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["running -O", "building a Core ML", "writing"])
def test_killed_run_leaves_nothing_half_written(stage, faceseg_path, tmp_path):
    """SIGTERM at each stage: afterwards there is no temporary file, and any model present is whole."""
    import signal
    import time

    out = tmp_path / "out" / "faceseg.mlmodel"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bridgec",
            str(faceseg_path),
            "-i",
            "x:1x3x256x256",
            "-O",
            "custom",
            "-o",
            str(out),
            "--progress",  # stage lines on the pipe, which shows none without it
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        if stage in line or time.monotonic() > deadline:
            proc.send_signal(signal.SIGTERM)
            break
    proc.wait(timeout=120)
    leftovers = [p.name for p in out.parent.glob(".*")] if out.parent.exists() else []
    assert leftovers == []
    if out.exists():  # the signal came after the final rename: the model must be complete
        from bridgec.backends.coreml import load_spec

        assert len(load_spec(out).neuralNetwork.layers) > 50
    else:
        assert proc.returncode == 130


def test_custom_layer_without_kernel_needs_allow_missing_kernels(tmp_path, capsys):
    import onnx

    model = tmp_path / "round.onnx"
    onnx.save(
        onnx.parser.parse_model(
            '<ir_version: 8, opset_import: ["" : 17]> g (float[1,3,4,4] x) => '
            "(float[1,3,4,4] y) { a = Round (x) y = Relu (a) }"
        ),
        str(model),
    )
    for mode in ("custom", "lower-custom"):
        # a NeuralNetwork (the format with custom layers); Round is no Core ML layer
        code, _, err = run_cli([str(model), "-O", mode, "-q", "--format", "neuralnetwork"], capsys)
        assert (
            code == 1
            and "no bundled kernel for custom layer Round x1 (no Core ML layer for this op; no rule of this "
            "pipeline matches Round: it needs one that lowers it into ops the target has; nodes: Round_0)"
            in err
        )
        assert "--allow-missing-kernels" in err and not (tmp_path / "round.mlmodel").exists()
    code, out, _ = run_cli([str(model), "--allow-missing-kernels", "--format", "neuralnetwork"], capsys)
    assert code == 0
    assert "Round  1      custom  Round (no bundled kernel" in out
    from bridgec.backends.coreml import load_spec

    (custom,) = [
        layer
        for layer in load_spec(tmp_path / "round.mlmodel").neuralNetwork.layers
        if layer.WhichOneof("layer") == "custom"
    ]
    assert custom.custom.className == "Round"
    assert not (tmp_path / "bridgec_kernels").exists()
