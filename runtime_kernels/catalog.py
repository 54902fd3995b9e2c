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

    @property
    def has_cpu(self) -> bool:
        return bool(self.cpu_sources) and all((ROOT / p).is_file() for p in self.cpu_sources)

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpu_sources) and all((ROOT / p).is_file() for p in self.gpu_sources)

    @property
    def files(self) -> tuple[str, ...]:
        return self.extra + self.cpu_sources + self.gpu_sources


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
            extra=("Sources/BridgecCoreMLLayers/LayerSupport.swift",),
        ),
    )
}


def kernel_for_op(domain: str, op_type: str) -> KernelSpec | None:
    for spec in KERNELS.values():
        if spec.op == (domain, op_type):
            return spec
    return None


def write_kernels(class_names: Iterable[str], dest: Path) -> list[Path]:
    """Copy the sources of the given custom layer classes into ``dest`` (flat), plus a README."""
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    seen: set[str] = set()
    for name in sorted(set(class_names)):
        spec = KERNELS[name]
        for rel in spec.files:
            if rel in seen:
                continue
            seen.add(rel)
            target = dest / Path(rel).name
            shutil.copyfile(ROOT / rel, target)
            written.append(target)
    return written
