"""The kernels folder is a Swift package an app takes as it is: the models of one output folder share
it (one copy of each custom layer class, however many models use it), converting another model or
the same model to another format never drops a class a model needs, and `swift build` builds it alone
and as the dependency of an app that uses the layers of two models (docs/kernels-package.md)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest

from bridgec.driver.cli import main
from bridgec.driver.files import KERNELS_FOLDER, KERNELS_MARKER
from bridgec.runtime_kernels.app_package import TARGET
from bridgec.runtime_kernels.catalog import KERNELS

SWIFT = next((s for s in ("/opt/swift/usr/bin/swift", shutil.which("swift")) if s and Path(s).exists()), None)
FACESEG = ["--input", "x:1x3x256x256"]
# Two more kept activations than faceseg's HardTanh; -O custom makes both custom layers.
ACTIVATIONS = """<ir_version: 8, opset_import: ["" : 18]>
g (float[1,8] x) => (float[1,8] y) { t = Mish (x)
y = Selu (t) }"""
SELU = '<ir_version: 8, opset_import: ["" : 17]> g (float[1,2] x) => (float[1,2] y) { y = Selu (x) }'


def convert(*args) -> None:
    assert main([str(a) for a in (*args, "-q")]) == 0


def onnx_model(path: Path, text: str) -> Path:
    path.write_bytes(onnx.parser.parse_model(text).SerializeToString())
    return path


def tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".build" not in p.relative_to(folder).parts
    }


def needs(models: Path) -> dict[str, list[str]]:
    marker = json.loads((models / KERNELS_FOLDER / KERNELS_MARKER).read_text())
    return {name: need["classes"] for name, need in marker["models"].items()}


def swift_build(package: Path, *options: str) -> None:
    done = subprocess.run(
        [SWIFT, "build", "--package-path", str(package), *options], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "warning:" not in done.stdout + done.stderr, done.stdout + done.stderr


@pytest.fixture(scope="module")
def models(faceseg_path, tmp_path_factory) -> Path:
    """An app's model folder: faceseg.mlmodel (HardTanh) and activations.mlmodel (Mish, Selu)."""
    folder = tmp_path_factory.mktemp("app") / "Models"
    sources = tmp_path_factory.mktemp("sources")
    convert(faceseg_path, *FACESEG, "-O", "custom", "-o", folder / "faceseg.mlmodel")
    convert(
        onnx_model(sources / "activations.onnx", ACTIVATIONS),
        "-O",
        "custom",
        "-o",
        folder / "activations.mlmodel",
    )
    return folder


def test_the_models_of_a_folder_share_one_package_with_every_class_they_need(models):
    assert needs(models) == {"activations.mlmodel": ["Mish", "Selu"], "faceseg.mlmodel": ["HardTanh"]}
    kernels = models / KERNELS_FOLDER
    layers = sorted(p.name for p in (kernels / "Sources" / TARGET).glob("*Layer.swift"))
    assert layers == ["HardTanhLayer.swift", "MishLayer.swift", "SeluLayer.swift"]
    package = (kernels / "Package.swift").read_text()
    for metal in ("hardtanh.metal", "mish.metal", "selu.metal"):
        assert f'.process("{metal}")' in package
    # activations.mlmodel needs only iOS14's Core ML; the package is at the oldest release of its models
    assert ".iOS(.v14)" in package and ".macOS(.v11)" in package


def test_the_same_model_in_another_format_and_back_leaves_the_kernels_as_they_were(faceseg_path, models):
    before = tree(models / KERNELS_FOLDER)
    convert(faceseg_path, *FACESEG, "-o", models / "faceseg.mlpackage")  # an ML Program: no custom layer
    assert tree(models / KERNELS_FOLDER) == before
    convert(faceseg_path, *FACESEG, "-O", "custom", "-o", models / "faceseg.mlmodel")
    assert tree(models / KERNELS_FOLDER) == before  # the same conversion again: the same bytes
    assert sorted(p.name for p in models.iterdir()) == [
        "activations.mlmodel",
        KERNELS_FOLDER,
        "faceseg.mlmodel",
        "faceseg.mlpackage",
    ]


def test_the_package_does_not_depend_on_the_order_of_conversions(models, tmp_path):
    """A then B and B then A write the same bytes (models are recorded by name, classes sorted)."""
    a = onnx_model(tmp_path / "a.onnx", ACTIVATIONS)
    b = onnx_model(tmp_path / "b.onnx", SELU)
    for folder, order in (("ab", (a, b)), ("ba", (b, a))):
        for source in order:
            convert(source, "-O", "custom", "-o", tmp_path / folder / f"{source.stem}.mlmodel")
    assert tree(tmp_path / "ab" / KERNELS_FOLDER) == tree(tmp_path / "ba" / KERNELS_FOLDER)
    assert needs(tmp_path / "ab") == {"a.mlmodel": ["Mish", "Selu"], "b.mlmodel": ["Selu"]}


APP = """\
// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "App",
    dependencies: [.package(path: "{kernels}")],
    targets: [.executableTarget(name: "App", dependencies: [.product(name: "{target}", package: "{identity}")])]
)
"""
# The classes of both models, linked once each into one executable, run on the CPU.
PARAMETERS = {
    "HardTanh": {"min_value": 0.0, "max_value": 6.0},
    "Mish": {},
    "Selu": {"alpha": 1.5, "gamma": 1.25},
}
INPUT = [-2.0, 0.5, 7.0]
MAIN = """\
import {target}

let layers: [BridgecElementwiseLayer] = [
{layers}
]
let input: [Float] = {input}
for layer in layers {{
    var output = [Float](repeating: .nan, count: input.count)
    output.withUnsafeMutableBufferPointer {{ out in layer.run(input, out.baseAddress!, count: input.count) }}
    print(String(describing: type(of: layer)), output.map {{ String(format: "%.4f", $0) }}.joined(separator: " "))
}}
"""


def _swift(parameters: dict[str, float]) -> str:
    """A Swift dictionary literal of CustomLayerParams values."""
    return "[" + (", ".join(f'"{k}": {v!r}' for k, v in parameters.items()) or ":") + "]"


@pytest.mark.skipif(SWIFT is None, reason="no Swift toolchain")
def test_swift_builds_the_package_alone_and_in_an_app_with_both_models(models, tmp_path):
    kernels = models / KERNELS_FOLDER
    swift_build(kernels)  # in the folder, as a developer would: SwiftPM leaves .build/ there
    # converting a model of the folder again rewrites the package and keeps SwiftPM's state
    convert(
        onnx_model(tmp_path / "activations.onnx", ACTIVATIONS),
        "-O",
        "custom",
        "-o",
        models / "activations.mlmodel",
    )
    assert (kernels / ".build").is_dir()

    app = tmp_path / "App"
    (app / "Sources" / "App").mkdir(parents=True)
    (app / "Package.swift").write_text(APP.format(kernels=kernels, target=TARGET, identity=KERNELS_FOLDER))
    layers = ",\n".join(f"    try {name}(parameters: {_swift(p)})" for name, p in PARAMETERS.items())
    main_swift = MAIN.format(target=TARGET, layers=layers, input=INPUT)
    (app / "Sources" / "App" / "main.swift").write_text(main_swift)
    swift_build(app)
    done = subprocess.run([app / ".build" / "debug" / "App"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    expected = []
    for name, parameters in PARAMETERS.items():
        got = KERNELS[name].reference(np.array(INPUT, dtype=np.float32), **parameters)
        expected.append(" ".join([name, *(f"{v:.4f}" for v in got)]))
    assert done.stdout.splitlines() == expected


def test_every_file_the_package_copies_is_shipped_with_bridgec():
    """pyproject's package-data: an installed bridgec has every file it copies into the package."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    from bridgec.runtime_kernels.app_package import package_files
    from bridgec.runtime_kernels.catalog import ROOT

    pyproject = tomllib.loads((ROOT.parent / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["bridgec.runtime_kernels"]
    shipped = {path for pattern in patterns for path in ROOT.glob(pattern)}
    needed = {*package_files(KERNELS).values(), ROOT / "Package.swift"}  # Package.swift: the platforms
    assert sorted(str(p.relative_to(ROOT)) for p in needed - shipped) == []


def test_a_class_this_bridgec_has_no_kernel_for_stops_only_a_conversion_that_rewrites(tmp_path, capsys):
    """A model recorded by another bridgec with a class this one lacks: rewriting the package would
    drop the class, so a conversion that needs the package stops; one that needs nothing leaves it."""
    selu = onnx_model(tmp_path / "s.onnx", SELU)
    convert(selu, "-O", "custom")
    marker_path = tmp_path / KERNELS_FOLDER / KERNELS_MARKER
    marker = json.loads(marker_path.read_text())
    marker["models"]["old.mlmodel"] = {"classes": ["Swish"], "releases": ["iOS14"]}
    marker_path.write_text(json.dumps(marker))
    before = tree(tmp_path / KERNELS_FOLDER)
    capsys.readouterr()
    assert main([str(selu), "-q", "-O", "custom"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("bridgec: error: ") and "old.mlmodel needs custom layer Swish" in line, line
    convert(selu, "-O", "lower", "-o", tmp_path / "s.mlmodel")
    assert tree(tmp_path / KERNELS_FOLDER) == before
