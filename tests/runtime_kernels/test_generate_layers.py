"""The MLCustomLayer adapters are generated from the kernel catalog, and --check catches drift.

runtime_kernels/generate_layers.py writes Sources/BridgecCoreMLLayers/<Name>Layer.swift for every
catalog class; tools/test.sh runs its --check mode, as these tests do.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridgec.runtime_kernels import catalog, generate_layers

COPIED = ("Sources", "Metal")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the kernel sources the generator reads and writes."""
    root = tmp_path / "runtime_kernels"
    for folder in COPIED:
        shutil.copytree(catalog.ROOT / folder, root / folder)
    return root


def test_committed_adapters_are_fresh():
    done = subprocess.run(
        [sys.executable, str(catalog.ROOT / "generate_layers.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert generate_layers.stale() == []


def test_check_names_an_altered_adapter_in_one_line(tree, capsys):
    assert generate_layers.main(["--root", str(tree)]) == 0
    assert generate_layers.main(["--check", "--root", str(tree)]) == 0
    adapter = tree / "Sources" / "BridgecCoreMLLayers" / "CeluLayer.swift"
    adapter.write_text(adapter.read_text().replace('"alpha"', '"alfa"'))
    capsys.readouterr()
    assert generate_layers.main(["--check", "--root", str(tree)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "runtime_kernels/Sources/BridgecCoreMLLayers/CeluLayer.swift is stale, missing or orphaned; "
        "run: python runtime_kernels/generate_layers.py"
    ]
    # Writing repairs exactly that file.
    assert generate_layers.main(["--root", str(tree)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "wrote runtime_kernels/Sources/BridgecCoreMLLayers/CeluLayer.swift"
    ]
    assert generate_layers.stale(tree) == []


def test_missing_and_orphaned_adapters_are_stale(tree):
    layers = tree / "Sources" / "BridgecCoreMLLayers"
    (layers / "ErfLayer.swift").unlink()
    orphan = layers / "SwishLayer.swift"
    orphan.write_text(generate_layers.MARK + "public final class Swish {}\n")
    hand_written = layers / "Notes.swift"
    hand_written.write_text("// not generated\n")
    assert generate_layers.stale(tree) == [layers / "ErfLayer.swift", orphan]
    assert generate_layers.main(["--root", str(tree)]) == 0
    assert (layers / "ErfLayer.swift").is_file() and not orphan.exists() and hand_written.is_file()


def test_every_adapter_is_one_small_generated_subclass():
    for spec in catalog.KERNELS.values():
        adapter = generate_layers.adapter_path(spec)
        text = (catalog.ROOT / adapter).read_text()
        assert text.startswith(generate_layers.MARK), spec.class_name
        assert f"public final class {spec.class_name}: BridgecElementwiseLayer {{" in text
        assert len(text.splitlines()) <= 50, spec.class_name
        # An app gets the adapter and everything it names.
        assert adapter in catalog.files_for([spec.class_name])
        for rel in spec.files:
            assert rel == adapter or Path(rel).name in text, (spec.class_name, rel)


def test_metal_function_is_picked_by_the_string_choice():
    gelu = (catalog.ROOT / "Sources/BridgecCoreMLLayers/GeluLayer.swift").read_text()
    assert 'approximate = try Self.string(parameters, "approximate", among: ["none", "tanh"])' in gelu
    assert 'override var metalFunction: String { approximate == "tanh" ? "gelu_tanh" : "gelu" }' in gelu
    hardtanh = (catalog.ROOT / "Sources/BridgecCoreMLLayers/HardTanhLayer.swift").read_text()
    assert "override var metalParameters: [UInt8] { Self.halves(minValue, maxValue) }" in hardtanh
    assert "hardtanh(input, output, count: count, minValue: minValue, maxValue: maxValue)" in hardtanh


def _fails(spec: catalog.KernelSpec, root: Path, message: str) -> None:
    with pytest.raises(generate_layers.LayerGenerationError, match=message) as caught:
        generate_layers.render(spec, root)
    assert "\n" not in str(caught.value)


def test_disagreements_are_one_line_errors_naming_the_class(tree):
    celu = catalog.KERNELS["Celu"]
    _fails(dataclasses.replace(celu, parameters={"beta": "double"}), tree, r"^Celu: kernel celu takes")
    metal = tree / "Metal" / "celu.metal"
    metal.write_text(metal.read_text().replace("float alpha;", "half alpha;\n    float beta;"))
    _fails(celu, tree, r"^Celu: struct CeluParams in Metal/celu.metal has")
    gelu = catalog.KERNELS["Gelu"]
    _fails(
        dataclasses.replace(gelu, choices={}), tree, r"^Gelu: string parameter approximate needs its choices"
    )
    only_none = dataclasses.replace(gelu, choices={"approximate": ("none",)})
    _fails(only_none, tree, r"^Gelu: 2 Metal functions need one string parameter")
    _fails(
        dataclasses.replace(gelu, metal_functions=("gelu", "gelu_erf")),
        tree,
        r"^Gelu: Metal function gelu_erf",
    )


def test_main_reports_a_disagreement_and_writes_nothing(tree, capsys):
    kernel = tree / "Sources" / "BridgecKernels" / "Elu.swift"
    kernel.write_text(kernel.read_text().replace("alpha: Double", "scale: Double"))
    adapter = tree / "Sources" / "BridgecCoreMLLayers" / "EluLayer.swift"
    before = adapter.read_text()
    assert generate_layers.main(["--root", str(tree)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("generate_layers: error: Elu: kernel elu takes"), err
    assert adapter.read_text() == before
