"""Both Core ML formats from the command line: which one ``--format auto`` picks and why, the
errors for impossible combinations, precision, metadata, and ML Program packages that are whole,
deterministic and numerically right (through the reference executor)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from bridgec.backends.coreml import load_spec
from bridgec.backends.coreml.executor import run as run_coreml
from bridgec.driver.cli import main

SHAPE = "x:1x3x64x64"


@pytest.fixture(scope="module")
def small_input() -> np.ndarray:
    return np.random.default_rng(3).standard_normal((1, 3, 64, 64)).astype(np.float32)


@pytest.fixture(scope="module")
def small_reference(faceseg_path, small_input) -> np.ndarray:
    import torch

    with torch.no_grad():
        return torch.jit.load(str(faceseg_path))(torch.from_numpy(small_input)).numpy()


def _convert(capsys, *args: str) -> tuple[int, str, str]:
    code = main([*map(str, args), "--input", SHAPE])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def _tree_digest(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_auto_writes_an_ml_program_when_nothing_is_custom(
    faceseg_path, small_input, small_reference, tmp_path, capsys
):
    model = tmp_path / "faceseg.pt"
    model.write_bytes(faceseg_path.read_bytes())
    code, out, err = _convert(capsys, model, "-O", "lower-custom")
    assert code == 0, err
    package = tmp_path / "faceseg.mlpackage"  # the default output name follows the format
    assert (package / "Manifest.json").is_file() and not (tmp_path / "faceseg.mlmodel").exists()
    assert "format: mlprogram (no custom layer remains)" in out
    spec = load_spec(package)
    assert spec.WhichOneof("Type") == "mlProgram" and spec.specificationVersion >= 6
    got = run_coreml(package, {"x": small_input})["output"]
    assert np.abs(got - small_reference).max() <= 1e-3 * np.abs(small_reference).max()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing staged is left


# hardtanh as a custom layer whatever the format: no lowering rule for it, and its op avoided
KEEP_HARDTANH = ("--disable-pass", "lower::hardtanh", "--avoid-op", "HardTanh")


def test_auto_falls_back_to_neuralnetwork_for_custom_layers(faceseg_path, tmp_path, capsys):
    model = tmp_path / "faceseg.pt"
    model.write_bytes(faceseg_path.read_bytes())
    # An ML Program computes hardtanh natively (MIL clip); avoiding that op with its lowering rules
    # left out leaves a custom layer.
    code, out, err = _convert(capsys, model, *KEEP_HARDTANH)
    assert code == 0, err
    # stdout says which format and why (stderr's stage lines are progress: none when piped)
    assert "format: neuralnetwork (custom layer HardTanh remains," in out
    assert (tmp_path / "faceseg.mlmodel").is_file() and (tmp_path / "bridgec_kernels").is_dir()
    assert not (tmp_path / "faceseg.mlpackage").exists()


def test_custom_pipeline_writes_a_neuralnetwork_and_says_why(faceseg_path, tmp_path, capsys):
    """-O custom promises custom layers: never an ML Program that quietly computes them natively."""
    model = tmp_path / "faceseg.pt"
    model.write_bytes(faceseg_path.read_bytes())
    code, out, err = _convert(capsys, model, "-O", "custom")
    assert code == 0, err
    assert (
        "format: neuralnetwork (-O custom asks for custom layers, which only NeuralNetwork models carry)"
        in out
    )
    kinds = {
        layer.WhichOneof("layer") for layer in load_spec(tmp_path / "faceseg.mlmodel").neuralNetwork.layers
    }
    assert "custom" in kinds and not (tmp_path / "faceseg.mlpackage").exists()


def test_mlmodel_output_asks_for_a_neuralnetwork(faceseg_path, tmp_path, capsys):
    code, out, _ = _convert(capsys, faceseg_path, "-o", tmp_path / "m.mlmodel", "-q")
    assert code == 0
    assert load_spec(tmp_path / "m.mlmodel").WhichOneof("Type") == "neuralNetwork"


@pytest.mark.parametrize(
    "args, message",
    [
        ([*KEEP_HARDTANH, "--format", "mlprogram"], "an ML Program cannot hold custom layers"),
        (
            ["-O", "custom", "--format", "mlprogram"],
            "-O custom makes custom layers, which an ML Program cannot hold",
        ),
        (["--format", "mlprogram", "--target", "iOS14"], "--format mlprogram needs --target iOS15"),
        (["--format", "mlprogram", "-o", "{tmp}/m.mlmodel"], "an ML Program is a .mlpackage folder"),
        (
            ["--format", "neuralnetwork", "-o", "{tmp}/m.mlpackage"],
            "a NeuralNetwork model is a .mlmodel file",
        ),
        (["-O", "custom", "-o", "{tmp}/m.mlpackage"], "name OUT.mlmodel"),
        (["-o", "{tmp}/m.coreml"], "name a .mlpackage (ML Program) or .mlmodel"),
        (["--input-description", "nope=x", "-o", "{tmp}/m.mlmodel"], "the model has no input 'nope'"),
    ],
)
def test_impossible_combinations_are_one_line_errors(faceseg_path, tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, _, err = _convert(capsys, faceseg_path, *args)
    assert code in (1, 2)
    lines = [line for line in err.splitlines() if line.startswith("bridgec: error:")]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, nothing staged


def test_custom_layers_in_an_ml_program_name_the_ops_and_the_fix(faceseg_path, tmp_path, capsys):
    code, _, err = _convert(
        capsys,
        faceseg_path,
        *(*KEEP_HARDTANH, "--format", "mlprogram", "-o", tmp_path / "m.mlpackage"),
    )
    assert code == 1
    assert "HardTanh" in err and "--format neuralnetwork" in err and "-O lower" in err


def test_metadata_and_provenance_in_both_formats(faceseg_path, tmp_path, capsys):
    for suffix in (".mlmodel", ".mlpackage"):
        out = tmp_path / f"m{suffix}"
        code, _, err = _convert(
            capsys, faceseg_path, "-q", "-o", out, "--author", "Ada", "--license", "MIT",
            "--model-version", "1.2", "--description", "segments faces",
            "--input-description", "x=RGB image, normalised", "--output-description", "output=class scores",
        )  # fmt: skip
        assert code == 0, err
        spec = load_spec(out)
        meta = spec.description.metadata
        assert (meta.author, meta.license, meta.versionString, meta.shortDescription) == (
            "Ada", "MIT", "1.2", "segments faces",
        )  # fmt: skip
        assert spec.description.input[0].shortDescription == "RGB image, normalised"
        assert spec.description.output[0].shortDescription == "class scores"
        user = dict(meta.userDefined)
        assert user["bridgec.source"] == "faceseg.pt" and user["bridgec.pipeline"] == "lower-custom"
        assert user["bridgec.format"] == ("mlprogram" if suffix == ".mlpackage" else "neuralnetwork")
        assert "lower::hardtanh" in user["bridgec.passes"].split(",") and user["bridgec.target"] == "iOS15"
        assert "bridgec.version" in user


def test_metadata_from_a_json_file_in_both_formats_and_the_flags_win(faceseg_path, tmp_path, capsys):
    given = {
        "author": "Ada",
        "license": "MIT",
        "version": "2.0",
        "description": "segments faces",
        "inputs": {"x": "RGB image"},
        "outputs": {"output": "class scores"},
    }
    (tmp_path / "meta.json").write_text(json.dumps(given))
    for suffix in (".mlmodel", ".mlpackage"):
        out = tmp_path / f"m{suffix}"
        code, _, err = _convert(
            capsys, faceseg_path, "-q", "-o", out, "--metadata", tmp_path / "meta.json", "--author", "Grace"
        )
        assert code == 0, err
        spec = load_spec(out)
        meta = spec.description.metadata
        assert (meta.author, meta.license, meta.versionString, meta.shortDescription) == (
            "Grace", "MIT", "2.0", "segments faces",
        )  # fmt: skip
        assert spec.description.input[0].shortDescription == "RGB image"
        assert spec.description.output[0].shortDescription == "class scores"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[1]", "expected a JSON object"),
        ("{", "not JSON"),
        ('{"autor": "x"}', "unknown key 'autor'"),
        ('{"version": 2}', "'version' must be a string"),
        ('{"inputs": {"x": 1}}', "'inputs' must be an object of NAME: TEXT"),
        ('{"inputs": {"nope": "x"}}', "the model has no input 'nope'"),
    ],
)
def test_a_bad_metadata_file_is_one_line(faceseg_path, tmp_path, capsys, text, message):
    (tmp_path / "meta.json").write_text(text)
    out = tmp_path / "out"
    code, _, err = _convert(
        capsys, faceseg_path, "-o", out / "m.mlpackage", "--metadata", tmp_path / "meta.json"
    )
    lines = [line for line in err.splitlines() if line.startswith("bridgec: error:")]
    assert code in (1, 2) and len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err and not out.exists()


def test_ml_program_packages_are_deterministic(faceseg_path, tmp_path, capsys):
    digests = []
    for name in ("a", "b"):
        out = tmp_path / name / "m.mlpackage"
        assert _convert(capsys, faceseg_path, "-q", "-o", out)[0] == 0
        digests.append(_tree_digest(out))
    assert digests[0] == digests[1]
    assert any(path.endswith("weight.bin") for path in digests[0])
    manifest = json.loads((tmp_path / "a" / "m.mlpackage" / "Manifest.json").read_text())
    assert manifest["rootModelIdentifier"] in manifest["itemInfoEntries"]


def test_a_second_conversion_replaces_the_package_whole(faceseg_path, tmp_path, capsys):
    out = tmp_path / "m.mlpackage"
    assert _convert(capsys, faceseg_path, "-q", "-o", out)[0] == 0
    first = _tree_digest(out)
    assert _convert(capsys, faceseg_path, "-q", "-o", out, "--author", "someone else")[0] == 0
    second = _tree_digest(out)
    assert first != second and set(first) == set(second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mlpackage"]


def test_a_folder_that_is_not_a_package_is_not_replaced(faceseg_path, tmp_path, capsys):
    out = tmp_path / "m.mlpackage"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    code, _, err = _convert(capsys, faceseg_path, "-o", out)
    assert code == 2 and "is not a Core ML package" in err
    assert (out / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize("suffix", [".mlmodel", ".mlpackage"])
def test_fp16(faceseg_path, small_input, small_reference, tmp_path, capsys, suffix):
    sizes = {}
    for precision in ("fp32", "fp16"):
        out = tmp_path / f"{precision}{suffix}"
        # README: bridgec faceseg.pt --input x:1x3x256x256 --precision fp16 --target iOS17
        code, _, err = _convert(
            capsys, faceseg_path, "-q", "-o", out, "--precision", precision, "--target", "iOS17"
        )
        assert code == 0, err
        files = [out] if out.is_file() else [p for p in out.rglob("*") if p.is_file()]
        sizes[precision] = sum(p.stat().st_size for p in files)
        if suffix == ".mlmodel":  # fp16 storage keeps the specification version: iOS14's, loadable from there
            assert load_spec(out).specificationVersion == 5
        got = run_coreml(out, {"x": small_input})["output"]
        error = np.abs(got - small_reference).max() / np.abs(small_reference).max()
        assert error <= (1e-3 if precision == "fp32" else 2e-2), (precision, error)
    assert sizes["fp16"] < 0.6 * sizes["fp32"]


@pytest.mark.parametrize(
    "args, described",
    [
        ([], "Core ML ML Program for iOS15"),
        (["-O", "custom", "--avoid-op", "HardTanh"], "Core ML NeuralNetwork for iOS15 without HardTanh"),
    ],
)
def test_report_picks_the_format_a_conversion_would(faceseg_path, capsys, args, described):
    code = main(["report", str(faceseg_path), "--input", SHAPE, *args])
    out = capsys.readouterr().out
    assert code == 0 and f"— {described} possible" in out, out


@pytest.mark.parametrize("op", ["Selu", "Mish", "HardSwish"])
@pytest.mark.parametrize("fmt", ["neuralnetwork", "mlprogram"])
def test_none_refuses_what_needs_lowering_in_both_formats(op, fmt, tmp_path, capsys):
    """-O none means no rewriting: an op no single Core ML layer or MIL op computes is an error in
    either format, and -O lower lowers it by a named rule that the report shows."""
    import onnx

    model = tmp_path / "m.onnx"
    onnx.save(
        onnx.parser.parse_model(
            f'<ir_version: 8, opset_import: ["" : 18]> g (float[1,3,64,64] x) => (float[1,3,64,64] y) {{ y = {op} (x) }}'
        ),
        str(model),
    )
    out = tmp_path / ("m.mlmodel" if fmt == "neuralnetwork" else "m.mlpackage")
    code, _, err = _convert(capsys, model, "-O", "none", "--format", fmt, "-o", out, "-q")
    assert code == 1 and "-O none" in err and f"ai.bridgec::{op} x1" in err, err
    assert not out.exists()
    code, stdout, err = _convert(capsys, model, "-O", "lower", "--format", fmt, "-o", out)
    assert code == 0, err
    row = next(line for line in stdout.splitlines() if line.startswith(f"ai.bridgec::{op}"))
    assert "lowered  lower::kept_activations/" in row, row
    assert stdout.strip().splitlines()[-1].startswith("checked: 1 output")
