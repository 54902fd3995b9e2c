"""``bridgec verify ARTIFACT --against SOURCE``: a model that already exists, checked as it is against its
source — one coremltools wrote, bridgec's own with a custom layer, a Core AI model, a classifier with an
image input — and one from other weights caught; the errors are one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bridgec.driver.cli import main


def _net(seed: int):
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(seed)
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.fc = torch.nn.Linear(8, 5)

        def forward(self, x):
            y = torch.nn.functional.hardtanh(self.conv(x), -0.5, 0.5)
            return self.fc(y.mean((2, 3)))

    return Net().eval()


@pytest.fixture(scope="session")
def made(tmp_path_factory) -> Path:
    """a.pt and b.pt (one interface, other weights), and the artifacts of a.pt: coremltools' ML Program
    (fixed and flexible shapes), bridgec's NeuralNetwork with a HardTanh custom layer, its Core AI model."""
    import coremltools as ct
    import torch

    folder = tmp_path_factory.mktemp("against")
    for seed, name in ((0, "a"), (1, "b")):
        torch.jit.trace(_net(seed), torch.randn(1, 3, 16, 16)).save(str(folder / f"{name}.pt"))
    traced = torch.jit.load(str(folder / "a.pt"))
    flexible = (1, 3, ct.RangeDim(8, 32, default=16), ct.RangeDim(8, 32, default=16))
    for name, shape in (("ct_a", (1, 3, 16, 16)), ("ct_flex", flexible)):
        ct.convert(
            traced,
            inputs=[ct.TensorType(shape=shape)],
            convert_to="mlprogram",
            compute_precision=ct.precision.FLOAT32,
            minimum_deployment_target=ct.target.iOS15,
        ).save(str(folder / f"{name}.mlpackage"))
    a = str(folder / "a.pt")
    assert main([a, "-i", "x:1x3x16x16", "-O", "custom", "-q", "-o", str(folder / "a.mlmodel")]) == 0
    assert main([a, "-i", "x:1x3x16x16", "--format", "coreai", "-q", "-o", str(folder / "a.aimodel")]) == 0
    return folder


def _verify(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["verify", *argv, "-q"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_coremltools_mlpackage_is_checked_with_its_own_names(made, capsys):
    code, out, _ = _verify(capsys, str(made / "ct_a.mlpackage"), "--against", str(made / "a.pt"))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[2].split()[:2] == ["var_26", "output"] and lines[2].endswith(
        "PASS"
    )  # coremltools' name, then torch's
    assert "x_1 1x3x16x16 float32" in out  # the artifact's declared shape: no --input needed
    assert lines[-1].startswith("checked: 1 output, max rel err ")
    assert "(fp32 tolerance 1e-4) against PyTorch" in lines[-1]
    assert "matched by position (ct_a.mlpackage = a.pt: x_1 = x; var_26 = output)" in lines[-1]


def test_bridgecs_custom_layer_and_core_ai_models_pass(made, capsys):
    from bridgec.backends.coreml.executor import load_spec

    layers = load_spec(made / "a.mlmodel").neuralNetwork.layers
    assert [layer.custom.className for layer in layers if layer.WhichOneof("layer") == "custom"] == [
        "HardTanh"
    ]
    code, out, _ = _verify(capsys, str(made / "a.mlmodel"), "--against", str(made / "a.pt"))
    assert code == 0, out
    assert "a.mlmodel, NeuralNetwork fp32, run in bridgec's reference executor" in out
    assert "matched by" not in out  # bridgec kept the source's names
    code, out, _ = _verify(capsys, str(made / "a.aimodel"), "--against", str(made / "a.pt"))
    assert code == 0, out
    assert "a.aimodel, Core AI fp32, run in Apple's Core AI runtime (coreai-core)" in out
    assert out.splitlines()[-1].startswith("checked: 1 output")


def test_a_metal_kernel_aimodel_runs_in_bridgecs_executor_off_macos(made, capsys, tmp_path):
    artifact, source = tmp_path / "custom.aimodel", str(made / "a.pt")
    assert (
        main([source, "-i", "x:1x3x16x16", "-O", "custom", "--format", "coreai", "-q", "-o", str(artifact)])
        == 0
    )
    code, out, _ = _verify(capsys, str(artifact), "--against", source)
    assert code == 0, out
    assert (
        "custom.aimodel, Core AI fp16, run in bridgec's Core AI executor" in out
    )  # Metal computes in float16
    line = out.splitlines()[-1]
    assert "(fp16 tolerance 5e-2) against PyTorch; coreai.metal4_kernel (bridgec_hardtanh_float)" in line
    assert "Apple's runtime was not run: the model holds a coreai.metal4_kernel" in line


def test_an_artifact_of_other_weights_fails_naming_the_output(made, capsys):
    code, out, _ = _verify(capsys, str(made / "a.mlmodel"), "--against", str(made / "b.pt"), "--json")
    assert code == 1
    data = json.loads(out)  # stdout is the one object
    assert (data["command"], data["passed"], data["status"]) == ("verify", False, "failed")
    assert data["artifact"]["format"] == "neuralnetwork" and data["source"]["reference"] == "PyTorch"
    assert data["inputs"] == [{"name": "x", "source_name": "x", "shape": [1, 3, 16, 16], "dtype": "float32"}]
    (output,) = data["outputs"]
    assert output["name"] == "output" and output["max_rel"] > 0.1 > data["tolerance"] and not output["passed"]
    assert data["line"].startswith(
        f"check failed: output 'output' differs from PyTorch by max rel err {output['max_rel']:.3g}"
    )
    assert "first diverging node '/conv/Conv'" in data["line"]  # where the artifact leaves the source


def test_a_flexible_artifact_runs_at_its_default_or_the_shape_given(made, capsys):
    artifact, source = str(made / "ct_flex.mlpackage"), str(made / "a.pt")
    code, out, _ = _verify(capsys, artifact, "--against", source)
    assert code == 0, out
    assert "input x_1 is flexible (1x3x(8..32)x(8..32)): run at its default 1x3x16x16" in out
    code, out, _ = _verify(capsys, artifact, "--against", source, "--input", "x_1:1x3x24x8", "--seed", "3")
    assert code == 0, out
    assert "inputs (random, --seed 3): x_1 1x3x24x8 float32" in out
    code, out, err = _verify(capsys, artifact, "--against", source, "--input", "x_1:1x3x64x64")
    assert (code, out) == (2, "")
    assert err == "bridgec: error: --input x_1:1x3x64x64: ct_flex.mlpackage takes 1x3x(8..32)x(8..32) there\n"


def test_inputs_from_a_file_by_the_artifacts_names(made, capsys, tmp_path):
    feeds = tmp_path / "feeds.npz"
    np.savez(feeds, x_1=np.linspace(-1, 1, 768, dtype=np.float32).reshape(1, 3, 16, 16))
    code, out, _ = _verify(
        capsys,
        str(made / "ct_a.mlpackage"),
        "--against",
        str(made / "a.pt"),
        "--inputs",
        str(feeds),
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert (data["seed"], data["inputs_file"], data["passed"]) == (None, str(feeds), True)
    assert f"on --inputs {feeds}" in data["line"]


def test_a_classifier_with_an_image_input(made, capsys, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\nemu\nfox\ngnu\n")
    artifact = tmp_path / "cls.mlpackage"
    image = ["--image-input", "x", "--scale", "0.0039", "--bias=-0.5,-0.4,-0.3", "--color-layout", "BGR"]
    source = str(made / "a.pt")
    assert (
        main([source, "-i", "x:1x3x16x16", *image, "--labels", str(labels), "-q", "-o", str(artifact)]) == 0
    )
    code, out, _ = _verify(capsys, str(artifact), "--against", source)
    assert code == 0, out
    assert "x 1x3x16x16 image BGR pixels" in out
    assert "image input x: its scale 0.0039 and bias -0.5, -0.4, -0.3 (BGR) read from cls.mlpackage" in out
    rows = [line.split()[:2] for line in out.splitlines()[2:4]]
    assert rows == [["classLabel_probs", "output"], ["classLabel", "classLabel"]]  # dictionary, top label


@pytest.mark.parametrize(
    "case, error",
    [
        ("missing", "nothere.mlmodel: no such file or folder; give the model to check"),
        ("corrupt", "bad.mlmodel: not a readable .mlmodel model (DecodeError: "),
        ("no-against", "a.mlmodel is a model already written; to check it add --against SOURCE"),
        (
            "other-interface",
            "inputs differ: a.mlmodel has 1 (x), two.onnx has 2 (x, y); give --against the model",
        ),
        ("conversion-flag", "-O: not with --against, which runs a.mlmodel as it is written"),
    ],
)
def test_what_cannot_be_checked_is_one_line(made, capsys, tmp_path, case, error):
    import onnx

    artifact, source = made / "a.mlmodel", made / "a.pt"
    extra: list[str] = []
    if case == "missing":
        artifact = tmp_path / "nothere.mlmodel"
    elif case == "corrupt":
        artifact = tmp_path / "bad.mlmodel"
        artifact.write_bytes((made / "a.mlmodel").read_bytes()[:300])
    elif case == "other-interface":
        source = tmp_path / "two.onnx"
        text = '<ir_version: 8, opset_import: ["" : 13]> g (float[1,3,16,16] x, float[1,3,16,16] y) => (float[1,3,16,16] z) { z = Add (x, y) }'
        onnx.save(onnx.parser.parse_model(text), str(source))
    elif case == "conversion-flag":
        extra = ["-O", "lower"]
    argv = [str(artifact)] if case == "no-against" else [str(artifact), "--against", str(source), *extra]
    code, out, err = _verify(capsys, *argv)
    assert (code, out) == (2, "")
    err = err.replace(f"{made}/", "").replace(f"{tmp_path}/", "")  # the paths as given: read by name here
    assert err.startswith(f"bridgec: error: {error}") and err.count("\n") == 1, err


def test_an_fp16_program_is_judged_at_fp16s_tolerance_unless_told(made, capsys, tmp_path):
    artifact, source = tmp_path / "a16.mlpackage", str(made / "a.pt")
    assert (
        main(
            [
                source,
                "-i",
                "x:1x3x16x16",
                "--format",
                "mlprogram",
                "--precision",
                "fp16",
                "-q",
                "-o",
                str(artifact),
            ]
        )
        == 0
    )
    code, out, _ = _verify(capsys, str(artifact), "--against", source)
    assert code == 0, out
    assert "a16.mlpackage, ML Program fp16" in out and "(fp16 tolerance 5e-2) against PyTorch" in out
    code, out, _ = _verify(capsys, str(artifact), "--against", source, "--tolerance", "1e-7")
    assert code == 1  # float16's honest error is far above 1e-7
    assert out.splitlines()[-1].startswith(
        "check failed: output 'output' differs from PyTorch by max rel err "
    )


def test_verify_without_against_prints_json_too(made, capsys):
    code, out, _ = _verify(capsys, str(made / "a.pt"), "-i", "x:1x3x16x16", "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["command"], data["passed"], data["seed"]) == ("verify", True, 0)
    assert data["inputs"] == [{"name": "x", "shape": [1, 3, 16, 16], "dtype": "float32"}]
    runtimes = [(c["output"], c["runtime"], c["passed"]) for c in data["comparisons"]]
    assert runtimes == [("output", r, True) for r in ("onnx_before", "onnx_after", "coreml_reference")]
