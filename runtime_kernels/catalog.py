"""Which Core ML custom-layer classes bridgec can ship kernels for, and the files that implement them.

A kernel registers against an op declaration (``bridgec.core.ops``): the declaration gives its
parameters (the op's attributes), its description (the op's semantics) and its numpy reference;
the catalog adds only what is the kernel's own — class name, Swift/Metal sources in this folder,
tolerances and Metal function names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bridgec.core import ops

ROOT = Path(__file__).resolve().parent


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
    # The values a "string" parameter may take (the adapter rejects others); with several Metal
    # functions, the i-th value picks metal_functions[i].
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def has_cpu(self) -> bool:
        return bool(self.cpu_sources) and all((ROOT / p).is_file() for p in self.cpu_sources)

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpu_sources) and all((ROOT / p).is_file() for p in self.gpu_sources)

    @property
    def files(self) -> tuple[str, ...]:
        return self.extra + self.cpu_sources + self.gpu_sources


# Shared by every kernel: the SIMD driver and vector exp / log1p / erf.
VECTOR_MATH = "Sources/BridgecKernels/VectorMath.swift"
LAYER_SUPPORT = "Sources/BridgecCoreMLLayers/LayerSupport.swift"
# Copied next to the kernels as README.md: how to add them to an app.
APP_README = "Docs/README.md"


# CustomLayerParams value kind of each attribute kind
_PARAMETER_KINDS = {"float": "double", "string": "string"}


def _declared(decl: ops.OpDecl) -> dict:
    """The fields a kernel takes from the op it implements."""
    return {
        "op": (decl.domain, decl.name),
        "parameters": {a.name: _PARAMETER_KINDS[a.kind] for a in decl.attributes},
        "description": f"{decl.name.lower()}(x) = {decl.semantics}, elementwise",
        "reference": decl.numpy,
        "choices": {a.name: a.choices for a in decl.attributes if a.choices},
    }


def _activation(
    name: str,
    *,
    metal_functions: tuple[str, ...] | None = None,
    float32_tolerance: tuple[float, float] = (1e-7, 1e-6),
    float16_tolerance: tuple[float, float] = (1e-6, 1e-3),
) -> KernelSpec:
    """The kernel of the declared elementwise op ``name``, standard file layout (class name = op name)."""
    return KernelSpec(
        class_name=name,
        **_declared(ops.get(name)),
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
        _activation("HardTanh", float32_tolerance=(0.0, 0.0), float16_tolerance=(0.0, 0.0)),
        _activation("HardSwish"),
        _activation("HardSigmoid"),
        _activation("Gelu", metal_functions=("gelu", "gelu_tanh"), float32_tolerance=(1e-6, 1e-5)),
        _activation("Silu"),
        _activation("Mish"),
        _activation("Elu"),
        _activation("Selu"),
        _activation("Celu"),
        _activation("Softplus"),
        _activation("LeakyRelu"),
        _activation("Erf", float32_tolerance=(1e-6, 1e-6)),
    )
}


def kernel_for_op(domain: str, op_type: str) -> KernelSpec | None:
    for spec in KERNELS.values():
        if spec.op == (domain, op_type):
            return spec
    return None


def files_for(class_names: Iterable[str]) -> list[str]:
    """The files (relative to this folder) that the given custom layer classes need, each once,
    the app README first. They are copied into one folder (``app_package``): every file name is
    unique in the catalog."""
    files = [APP_README]
    for name in sorted(set(class_names)):
        files += [rel for rel in KERNELS[name].files if rel not in files]
    return files
