"""Which Core ML custom-layer classes bridgec can ship kernels for, and the files that implement them.

The catalog is the one place that ties an IR op to its custom layer class, its parameter schema,
its Swift/Metal sources in this folder and its numpy reference.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bridgec.runtime_kernels import reference

ROOT = Path(__file__).resolve().parent

BRIDGEC_DOMAIN = "ai.bridgec"


@dataclass(frozen=True)
class KernelSpec:
    """One custom layer class: what Core ML calls it and what implements it."""

    class_name: str  # CustomLayerParams.className and the Swift @objc name
    op: tuple[str, str]  # (domain, op_type) of the IR node it implements
    parameters: dict[str, str]  # parameter name -> CustomLayerParams value kind ("double", "int", ...)
    description: str
    reference: Callable[..., np.ndarray]
    cpu_sources: tuple[
        str, ...
    ] = ()  # Swift files, relative to this folder: kernel math + MLCustomLayer adapter
    gpu_sources: tuple[str, ...] = ()  # Metal files, relative to this folder
    extra: tuple[str, ...] = field(default=())  # shared support files the sources need
    # How close the kernels are to ``reference``: |got - ref| <= atol + rtol * |ref| elementwise,
    # NaN where the reference is NaN, same infinities. (0, 0) means bit-exact (but for the sign
    # of zero). Float32 is the Swift CPU kernel; float16 the Swift CPU kernel and the Metal kernel.
    float32_tolerance: tuple[float, float] = (0.0, 0.0)
    float16_tolerance: tuple[float, float] = (0.0, 0.0)
    # Kernel functions in the Metal file(s), in the order the adapter may pick them.
    metal_functions: tuple[str, ...] = ()

    @property
    def has_cpu(self) -> bool:
        return bool(self.cpu_sources) and all((ROOT / p).is_file() for p in self.cpu_sources)

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpu_sources) and all((ROOT / p).is_file() for p in self.gpu_sources)

    @property
    def files(self) -> tuple[str, ...]:
        return self.extra + self.cpu_sources + self.gpu_sources


# Shared by every kernel but HardTanh: the SIMD driver and vector exp / log1p / erf.
VECTOR_MATH = "Sources/BridgecKernels/VectorMath.swift"
LAYER_SUPPORT = "Sources/BridgecCoreMLLayers/LayerSupport.swift"
# Copied next to the kernels as README.md: how to add them to an app.
APP_README = "Docs/README.md"


def _activation(
    name: str,
    parameters: dict[str, str],
    computes: str,
    ref: Callable[..., np.ndarray],
    *,
    metal_functions: tuple[str, ...] | None = None,
    float32_tolerance: tuple[float, float] = (1e-7, 1e-6),
    float16_tolerance: tuple[float, float] = (1e-6, 1e-3),
) -> KernelSpec:
    """An elementwise activation with the standard file layout (op name = class name)."""
    return KernelSpec(
        class_name=name,
        op=(BRIDGEC_DOMAIN, name),
        parameters=parameters,
        description=f"{name.lower()}(x) = {computes}, elementwise",
        reference=ref,
        cpu_sources=(
            f"Sources/BridgecKernels/{name}.swift",
            f"Sources/BridgecCoreMLLayers/{name}Layer.swift",
        ),
        gpu_sources=(f"Metal/{name.lower()}.metal",),
        extra=(LAYER_SUPPORT, VECTOR_MATH),
        float32_tolerance=float32_tolerance,
        float16_tolerance=float16_tolerance,
        metal_functions=metal_functions or (name.lower(),),
    )


KERNELS: dict[str, KernelSpec] = {
    spec.class_name: spec
    for spec in (
        KernelSpec(
            class_name="HardTanh",
            op=(BRIDGEC_DOMAIN, "HardTanh"),
            parameters={"min_value": "double", "max_value": "double"},
            description="hardtanh(x) = min(max(x, min_value), max_value), elementwise",
            reference=reference.hardtanh,
            cpu_sources=(
                "Sources/BridgecKernels/HardTanh.swift",
                "Sources/BridgecCoreMLLayers/HardTanhLayer.swift",
            ),
            gpu_sources=("Metal/hardtanh.metal",),
            extra=(LAYER_SUPPORT,),
            metal_functions=("hardtanh",),
        ),
        _activation("HardSwish", {}, "x * relu6(x + 3) / 6", reference.hardswish),
        _activation(
            "HardSigmoid",
            {"alpha": "double", "beta": "double"},
            "max(0, min(1, alpha * x + beta)) (torch: alpha 1/6, beta 0.5)",
            reference.hardsigmoid,
        ),
        _activation(
            "Gelu",
            {"approximate": "string"},
            'x * Phi(x) (approximate "none") or its tanh approximation (approximate "tanh")',
            reference.gelu,
            metal_functions=("gelu", "gelu_tanh"),
            float32_tolerance=(1e-6, 1e-5),
        ),
        _activation("Silu", {}, "x * sigmoid(x)", reference.silu),
        _activation("Mish", {}, "x * tanh(softplus(x))", reference.mish),
        _activation("Elu", {"alpha": "double"}, "x if x > 0 else alpha * (exp(x) - 1)", reference.elu),
        _activation(
            "Selu",
            {"alpha": "double", "gamma": "double"},
            "gamma * (x if x > 0 else alpha * (exp(x) - 1))",
            reference.selu,
        ),
        _activation(
            "Celu",
            {"alpha": "double"},
            "max(0, x) + min(0, alpha * (exp(x / alpha) - 1))",
            reference.celu,
        ),
        _activation(
            "Softplus",
            {"beta": "double", "threshold": "double"},
            "x if beta * x > threshold else log(1 + exp(beta * x)) / beta",
            reference.softplus,
        ),
        _activation("LeakyRelu", {"alpha": "double"}, "x if x > 0 else alpha * x", reference.leaky_relu),
        _activation("Erf", {}, "erf(x), the error function", reference.erf, float32_tolerance=(1e-6, 1e-6)),
    )
}


def kernel_for_op(domain: str, op_type: str) -> KernelSpec | None:
    for spec in KERNELS.values():
        if spec.op == (domain, op_type):
            return spec
    return None


def files_for(class_names: Iterable[str]) -> list[str]:
    """The files (relative to this folder) that the given custom layer classes need, each once,
    the app README first. They are copied flat: every file name is unique in the catalog."""
    files = [APP_README]
    for name in sorted(set(class_names)):
        files += [rel for rel in KERNELS[name].files if rel not in files]
    return files


def write_kernels(class_names: Iterable[str], dest: Path) -> list[Path]:
    """Copy the sources of the given custom layer classes into ``dest`` (flat), plus README.md."""
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for rel in files_for(class_names):
        target = dest / Path(rel).name
        shutil.copyfile(ROOT / rel, target)
        written.append(target)
    return written
