"""The main job on the bundled example, through the CLI, in every -O mode — numbers checked three ways.

PyTorch (the truth) vs onnxruntime on the rewritten graph vs the reference executor on the .mlmodel.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bridgec.backends.coreml import load_spec
from bridgec.backends.coreml.executor import run as run_coreml
from bridgec.core import ir
from bridgec.driver.cli import main
from bridgec.driver.convert import convert
from bridgec.driver.files import KERNELS_FOLDER
from bridgec.runtime_kernels.app_package import TARGET
from tests.helpers import assert_matches, run_graph

pytestmark = pytest.mark.slow

EXPECTED_LAYERS = {  # the faceseg example's Core ML layers, by kind (hardtanh aside)
    "convolution": 22,
    "addBroadcastable": 4,
    "upsample": 4,
    "pooling": 3,
    "concatND": 3,
    "batchedMatmul": 2,
    "reshapeStatic": 2,
    "flattenTo2D": 1,
    "multiplyBroadcastable": 1,
    "batchnorm": 1,
    "softmaxND": 1,
}


@pytest.mark.parametrize(
    "mode, hardtanh_layer", [("lower", "clip"), ("lower-custom", "clip"), ("custom", "custom")]
)
def test_cli_converts_the_example(
    mode, hardtanh_layer, faceseg_path, faceseg_input, faceseg_reference, tmp_path, capsys
):
    out = tmp_path / f"faceseg_{mode}.mlmodel"
    report = tmp_path / "report.json"
    code = main(
        [
            str(faceseg_path),
            "--input",
            "x:1x3x256x256",
            "-O",
            mode,
            "-o",
            str(out),
            "--report-json",
            str(report),
        ]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "67 nodes:" in printed.out and f"-O {mode}" in printed.out

    spec = load_spec(out)
    kinds = {}
    for layer in spec.neuralNetwork.layers:
        kinds[layer.WhichOneof("layer")] = kinds.get(layer.WhichOneof("layer"), 0) + 1
    assert kinds.pop(hardtanh_layer) == 14  # 13 ReLU6 + 1 Hardtanh(-2, 2)
    kinds.pop("activation")  # relu, sigmoid
    kinds.pop("loadConstantND", None)
    assert kinds == EXPECTED_LAYERS
    customs = [layer.custom for layer in spec.neuralNetwork.layers if layer.WhichOneof("layer") == "custom"]
    kernels = tmp_path / KERNELS_FOLDER
    if mode == "custom":
        assert {c.className for c in customs} == {"HardTanh"}
        bounds = sorted(
            {(c.parameters["min_value"].doubleValue, c.parameters["max_value"].doubleValue) for c in customs}
        )
        assert bounds == [(-2.0, 2.0), (0.0, 6.0)]
        files = sorted(str(p.relative_to(kernels)) for p in kernels.rglob("*") if p.is_file())
        sources = f"Sources/{TARGET}/"
        assert files == [
            ".bridgec-kernels",
            "KERNELS.md",
            "Package.swift",
            "README.md",
            *(
                sources + name
                for name in (
                    "HardTanh.swift",
                    "HardTanhLayer.swift",
                    "LayerSupport.swift",
                    "VectorMath.swift",
                    "hardtanh.metal",
                )
            ),
            "Sources/CoreMLStandIn/CoreMLStandIn.swift",
        ]
        assert "@objc(HardTanh)" in (kernels / sources / "HardTanhLayer.swift").read_text()
        assert "kernel void hardtanh" in (kernels / sources / "hardtanh.metal").read_text()
    else:
        assert customs == [] and not kernels.exists()

    rows = json.loads(report.read_text())
    counts = rows["counts"]
    assert counts["custom"] == (14 if mode == "custom" else 0)
    assert counts["lowered"] == (0 if mode == "custom" else 14)
    assert counts["unsupported"] == 0

    # Core ML model (reference executor) vs PyTorch
    got = run_coreml(out, {"x": faceseg_input})["output"]
    assert_matches(got, faceseg_reference)


@pytest.mark.parametrize("mode", ["lower", "custom", "lower-custom"])
def test_rewritten_graph_matches_pytorch_in_onnxruntime(mode, faceseg_path, faceseg_input, faceseg_reference):
    # a NeuralNetwork: the format whose custom layers -O custom makes (an ML Program has MIL clip)
    result = convert(
        faceseg_path, inputs={"x": (1, 3, 256, 256)}, pipeline=mode, write=False, format="neuralnetwork"
    )
    (got,) = run_graph(result.graph, {"x": faceseg_input})
    assert np.abs(got - faceseg_reference).max() <= 1e-4
    custom = [n for n in result.graph.nodes if ir.op_key(n)[0] == ir.CUSTOM_DOMAIN]
    assert len(custom) == (14 if mode == "custom" else 0)


def test_relu_only_form_when_clip_is_avoided(faceseg_path, faceseg_input, faceseg_reference, tmp_path):
    out = tmp_path / "relus.mlmodel"
    assert (
        main(
            [
                str(faceseg_path),
                "-i",
                "1x3x256x256",
                "-O",
                "lower",
                "--avoid-op",
                "Clip",
                "-o",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    kinds = [layer.WhichOneof("layer") for layer in load_spec(out).neuralNetwork.layers]
    assert "clip" not in kinds and "custom" not in kinds
    got = run_coreml(out, {"x": faceseg_input})["output"]
    assert_matches(got, faceseg_reference)


def test_none_mode_lists_the_hardtanh_nodes_and_writes_nothing(faceseg_path, tmp_path, capsys):
    out = tmp_path / "none.mlmodel"
    assert main([str(faceseg_path), "-i", "x:1x3x256x256", "-O", "none", "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("bridgec: error: -O none:") and "ai.bridgec::HardTanh x14" in err[-1]
    assert "Traceback" not in "\n".join(err)
    assert list(tmp_path.iterdir()) == []


def test_failed_run_keeps_the_previous_output(faceseg_path, tmp_path):
    out = tmp_path / "m.mlmodel"
    assert main([str(faceseg_path), "-i", "x:1x3x256x256", "-O", "custom", "-o", str(out), "-q"]) == 0
    before = out.read_bytes()
    assert main([str(faceseg_path), "-i", "x:1x3x256x256", "-O", "none", "-o", str(out), "-q"]) == 1
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [KERNELS_FOLDER, "m.mlmodel"]
    # a later run without custom layers removes the now-stale kernels folder it wrote
    assert main([str(faceseg_path), "-i", "x:1x3x256x256", "-O", "lower", "-o", str(out), "-q"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mlmodel"]


def test_same_input_same_bytes(faceseg_path, tmp_path):
    a, b = tmp_path / "a.mlmodel", tmp_path / "b.mlmodel"
    for path in (a, b):
        assert main([str(faceseg_path), "-i", "x:1x3x256x256", "-o", str(path), "-q"]) == 0
    spec_a, spec_b = load_spec(a), load_spec(b)
    assert spec_a == spec_b
