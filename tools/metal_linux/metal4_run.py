"""Compile bridgec's Metal 4 tensor kernels (runtime_kernels/metal4.py, Core AI's adapter) as C++
with metal_shim.h and run them on the CPU: the Linux check of a ``coreai.metal4_kernel``'s source,
which Apple's runtime cannot run on Linux (docs/coreai-groundwork.md §4).

    exe = build(cxx, workdir, kernels)           # one executable, every kernel its own translation unit
    outputs = run(exe, [(kernel, params, x)])    # params: {catalog parameter: value}; x: float32
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from bridgec.core.words import plural

HERE = Path(__file__).resolve().parent
FLAGS = ["-std=c++17", "-O1", "-Wall", "-Wno-attributes", "-Wno-unused-function"]


def compiler() -> str | None:
    for name in ("g++", "clang++", "c++"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _wrapper(kernel, source: Path) -> str:
    """A translation unit holding ``kernel`` and a runner that binds its scalars as the Metal
    signature declares them (``constant half&`` / ``constant float&``)."""
    scalars = "".join(
        f"    const {kind} s{i} = {kind}(p[{i}]);\n" for i, (_, kind) in enumerate(kernel.scalars)
    )
    args = ", ".join(["x", *(f"s{i}" for i in range(len(kernel.scalars))), "y", "tid"])
    return (
        f'#include "{source}"\n#include "metal4_harness.h"\n'
        f"static void run_{kernel.name}(const std::vector<double>& p, bridgec_metal4::Tensor x, "
        f"bridgec_metal4::Tensor y, unsigned tid) {{\n{scalars}    (void)p;\n    {kernel.name}({args});\n}}\n"
        f'static const bool registered = bridgec_metal4::add("{kernel.name}", {len(kernel.scalars)}, '
        f"run_{kernel.name});\n"
    )


def compile_object(cxx: str, source: Path, obj: Path) -> None:
    """Compile one translation unit (a .metal file wrapped as C++) with the shim on the include path."""
    cmd = [cxx, *FLAGS, "-I", str(HERE / "include"), "-I", str(HERE), "-c", str(source), "-o", str(obj)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"compiling {source.name} failed:\n{' '.join(cmd)}\n{done.stderr}")


def build(cxx: str, workdir: Path, kernels) -> Path:
    """One executable holding every Metal4Kernel of ``kernels`` (each name once)."""
    sources = [HERE / "metal4_main.cpp"]
    for kernel in {k.name: k for k in kernels}.values():
        metal = workdir / f"{kernel.name}.metal"
        metal.write_text(kernel.source)
        wrapper = workdir / f"wrap_{kernel.name}.cpp"
        wrapper.write_text(_wrapper(kernel, metal))
        sources.append(wrapper)
    objects = [workdir / f"{src.stem}.o" for src in sources]
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        list(pool.map(compile_object, [cxx] * len(sources), sources, objects))
    exe = workdir / "metal4_harness"
    done = subprocess.run([cxx, *map(str, objects), "-o", str(exe)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return exe


def run(exe: Path, cases) -> list[np.ndarray]:
    """cases: (Metal4Kernel, {parameter: value}, float32 array) -> the kernel's float32 outputs."""
    lines = []
    for kernel, params, x in cases:
        flat = np.ascontiguousarray(x, np.float32).reshape(-1)
        values = " ".join(float(params[name]).hex() for name, _ in kernel.scalars)
        lines.append(f"{kernel.name} {flat.size} {values}".rstrip())
        lines.append(" ".join(f"{int(b):08x}" for b in flat.view(np.uint32)))
    done = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"metal4 harness failed ({done.returncode}): {done.stderr.strip()}")
    out = done.stdout.splitlines()
    results = []
    for (_, _, x), status, data in zip(cases, out[::2], out[1::2], strict=True):
        if not status.startswith("ok "):
            raise RuntimeError(f"metal4 harness: {status}")
        bits = np.array([int(word, 16) for word in data.split()], dtype=np.uint32)
        results.append(bits.view(np.float32).reshape(np.shape(x)))
    return results


def assert_close(got: np.ndarray, ref: np.ndarray, tolerance: tuple[float, float], what: str) -> None:
    """|got - ref| <= atol + rtol * |ref| elementwise, NaN exactly where the reference is NaN and the
    same infinities (the catalog's tolerance convention, ``KernelSpec.float16_tolerance``)."""
    g, r = got.astype(np.float64), ref.astype(np.float64)
    nan = np.isnan(r)
    assert np.array_equal(np.isnan(g), nan), f"{what}: NaN positions differ"
    inf = np.isinf(r)
    assert np.array_equal(g[inf], r[inf]), f"{what}: infinities differ"
    atol, rtol = tolerance
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(g - r) <= atol + rtol * np.abs(r)) & ~nan & ~inf
    if bad.any():
        i = np.flatnonzero(bad.reshape(-1))[:5]
        raise AssertionError(
            f"{what}: {plural(int(bad.sum()), 'element')} off, e.g. got {g.reshape(-1)[i]} expected {r.reshape(-1)[i]}"
        )
