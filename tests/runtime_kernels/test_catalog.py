"""The kernel catalog: one entry per BRIDGEC_OPS op, files that exist, and exact copies."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from bridgec.core import ir
from bridgec.runtime_kernels import app_package, catalog

KIND = {"float": "double", "string": "string"}


# a kernel is optional for a new op (docs/adding-an-op.md); these have shipped one
SHIPPED = {"HardTanh", "HardSwish", "HardSigmoid", "Gelu", "Silu", "Mish", "Elu", "Selu", "Celu"}
SHIPPED |= {"Softplus", "LeakyRelu", "Erf"}


def test_every_kernel_implements_a_bridgec_op_with_its_attributes_as_parameters():
    assert SHIPPED <= set(catalog.KERNELS) <= set(ir.BRIDGEC_OPS)
    for op in catalog.KERNELS:
        attributes = ir.BRIDGEC_OPS[op]
        spec = catalog.KERNELS[op]
        assert spec.class_name == op
        assert spec.op == (ir.BRIDGEC_DOMAIN, op)
        assert catalog.kernel_for_op(ir.BRIDGEC_DOMAIN, op) is spec
        assert spec.parameters == {name: KIND[kind] for name, kind in attributes.items()}
        # The reference executor calls reference(x, **parameters).
        signature = inspect.signature(spec.reference)
        assert list(signature.parameters)[1:] == list(spec.parameters), op


def test_files_exist_and_have_unique_names():
    names = {}
    for spec in catalog.KERNELS.values():
        assert spec.has_cpu and spec.has_gpu, spec.class_name
        for rel in spec.files:
            assert (catalog.ROOT / rel).is_file(), rel
            name = rel.rsplit("/", 1)[-1]
            assert names.setdefault(name, rel) == rel, (
                f"two files named {name}: copied flat, they would collide"
            )
    assert (catalog.ROOT / catalog.APP_README).is_file()


@pytest.mark.parametrize("class_name", sorted(catalog.KERNELS))
def test_adapter_declares_the_objc_class_name(class_name):
    spec = catalog.KERNELS[class_name]
    adapter = next(rel for rel in spec.cpu_sources if rel.endswith("Layer.swift"))
    text = (catalog.ROOT / adapter).read_text()
    assert f"#if canImport(ObjectiveC)\n@objc({class_name})\n#endif\npublic final class {class_name}:" in text
    for name in spec.parameters:
        assert f'"{name}"' in text, f"{adapter} does not read parameter {name}"
    for function in spec.metal_functions:
        assert f'"{function}"' in text, function


def test_hardtanh_files():
    # tests/test_end_to_end.py relies on these.
    assert catalog.KERNELS["HardTanh"].files == (
        "Sources/BridgecCoreMLLayers/LayerSupport.swift",
        "Sources/BridgecKernels/VectorMath.swift",
        "Sources/BridgecKernels/HardTanh.swift",
        "Sources/BridgecCoreMLLayers/HardTanhLayer.swift",
        "Metal/hardtanh.metal",
    )


@pytest.mark.parametrize(
    "classes",
    [["HardTanh"], ["Gelu"], ["Silu", "HardTanh", "Silu"], sorted(catalog.KERNELS)],
    ids=["hardtanh", "gelu", "silu+hardtanh", "all"],
)
def test_the_package_holds_exactly_the_needed_files_byte_identical(tmp_path, classes):
    written = app_package.write_package(classes, [], tmp_path / "k")
    expected = {"Package.swift", "README.md", app_package.STAND_IN}
    for name in classes:
        expected |= {
            f"Sources/{app_package.TARGET}/{rel.rsplit('/', 1)[-1]}" for rel in catalog.KERNELS[name].files
        }
    found = sorted(str(p.relative_to(tmp_path / "k")) for p in (tmp_path / "k").rglob("*") if p.is_file())
    assert found == sorted(expected)
    assert sorted(str(p.relative_to(tmp_path / "k")) for p in written) == sorted(expected)
    sources = app_package.package_files(classes)
    assert sources["README.md"] == catalog.ROOT / catalog.APP_README
    for rel, source in sources.items():
        assert (tmp_path / "k" / rel).read_bytes() == source.read_bytes(), rel


def test_hardtanh_alone_gets_the_shared_driver():
    names = sorted(Path(rel).name for rel in app_package.package_files(["HardTanh"]))
    assert names == [
        "CoreMLStandIn.swift",
        "HardTanh.swift",
        "HardTanhLayer.swift",
        "LayerSupport.swift",
        "README.md",
        "VectorMath.swift",
        "hardtanh.metal",
    ]


def test_app_readme_explains_xcode_objc_names_and_gpu():
    text = (catalog.ROOT / catalog.APP_README).read_text()
    for phrase in ("app", "target", "Objective-C", "@objc(", "encode(commandBuffer", ".metal"):
        assert phrase in text, phrase
    assert len(text.splitlines()) < 60, "keep the app README short"


def test_swift_kernel_functions_exist_for_float32_and_float16():
    for name, spec in catalog.KERNELS.items():
        kernel = next(rel for rel in spec.cpu_sources if not rel.endswith("Layer.swift"))
        text = (catalog.ROOT / kernel).read_text()
        assert len(re.findall(r"^public func \w+\(\s*_ input: UnsafePointer<Float>", text, re.M)) == 1, name
        assert len(re.findall(r"^public func \w+\(\s*_ input: UnsafePointer<Float16>", text, re.M)) == 1, name


@pytest.mark.parametrize("class_name", sorted(catalog.KERNELS))
def test_gpu_parameter_structs_agree(class_name):
    """The Metal struct holds the double parameters in the catalog's order, all float (HardTanh: all
    half), and the adapter sends them so."""
    spec = catalog.KERNELS[class_name]
    doubles = [name for name, kind in spec.parameters.items() if kind == "double"]
    fields = ["".join(w.capitalize() if i else w for i, w in enumerate(n.split("_"))) for n in doubles]
    metal = (catalog.ROOT / spec.gpu_sources[0]).read_text()
    swift = (catalog.ROOT / f"Sources/BridgecCoreMLLayers/{class_name}Layer.swift").read_text()
    struct = re.search(rf"struct {class_name}Params {{(.*?)}};", metal, re.S)
    if not doubles:
        assert struct is None and "metalParameters" not in swift and "[[buffer(0)]]" not in metal
        return
    kind = "half" if class_name == "HardTanh" else "float"
    assert struct, class_name
    assert re.findall(rf"{kind} (\w+);", struct.group(1)) == fields
    encoder = {"half": "halves", "float": "floats"}[kind]
    assert f"metalParameters: [UInt8] {{ Self.{encoder}({', '.join(fields)}) }}" in swift
    assert f"constant {class_name}Params& params [[buffer(0)]]" in metal
