"""The Metal kernels (runtime_kernels/Metal/*.metal), compiled as C++ and run on the CPU.

There is no Metal on Linux. tools/metal_linux/metal_shim.h supplies the part of the Metal Shading
Language the kernels use; every .metal file is compiled as C++ with it into one harness
(tools/metal_linux/harness_main.cpp), which lays the input out as Core ML's custom-layer GPU
textures (texture2d_array<half>, .rgba16Float, channel c in slice c / 4, lane c % 4, batch items
one after another), runs the kernel for every thread of the grid BridgecMetalDispatch.threadgroups
dispatches (whole threadgroups, so some threads fall outside the texture and must return early;
any out-of-range texture access aborts the harness), and reads the output back. The results are
compared with the numpy reference in float16 within the catalog's float16 tolerance.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bridgec.runtime_kernels import catalog
from tests.helpers import load_tool

REPO = Path(__file__).resolve().parents[2]
SHIM = REPO / "tools" / "metal_linux"
METAL = REPO / "runtime_kernels" / "Metal"

# (N, C, H, W, threadExecutionWidth, maxTotalThreadsPerThreadgroup): channel counts that are not
# multiples of 4, batch > 1, textures smaller and larger than a threadgroup, and a pipeline that
# allows fewer threads per group than its SIMD width.
SHAPES = (
    (1, 3, 5, 7, 32, 1024),
    (2, 6, 3, 4, 32, 1024),
    (3, 5, 9, 33, 32, 1024),
    (1, 4, 1, 1, 32, 1024),
    (2, 9, 7, 5, 64, 48),
    (1, 13, 4, 6, 8, 16),
)

HALF_SPECIALS = np.array(
    [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 65504.0, -65504.0, 6e-8, -6e-8, 1e-4, -1e-4, 3.0, -3.0],
    dtype=np.float16,
)


def _gen():
    return load_tool("tools/gen_kernel_goldens.py")


# The compiler and compile step shared with the Metal 4 (Core AI) adapter's harness.
cxx_tools = load_tool("tools/metal_linux/metal4_run.py")
_compiler = cxx_tools.compiler


def kernel_functions(metal_file: Path) -> list[str]:
    return re.findall(r"^kernel\s+void\s+(\w+)\s*\(", metal_file.read_text(), flags=re.MULTILINE)


def build_harness(cxx: str, workdir: Path, metal_files: list[Path]) -> Path:
    """One executable holding every kernel of ``metal_files`` (each file its own translation unit)."""
    sources = [SHIM / "harness_main.cpp"]
    for metal in metal_files:
        wrapper = workdir / f"wrap_{metal.stem}.cpp"
        registrations = "".join(f"BRIDGEC_REGISTER({fn})\n" for fn in kernel_functions(metal))
        wrapper.write_text(f'#include "{metal}"\n#include "harness.h"\n{registrations}')
        sources.append(wrapper)
    objects = [workdir / f"{src.stem}.o" for src in sources]
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        list(pool.map(cxx_tools.compile_object, [cxx] * len(sources), sources, objects))
    exe = workdir / "metal_harness"
    done = subprocess.run([cxx, *map(str, objects), "-o", str(exe)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return exe


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    cxx = _compiler()
    if cxx is None:
        pytest.skip("no C++ compiler (g++ or clang++) to compile the Metal kernels as C++")
    return build_harness(cxx, tmp_path_factory.mktemp("metal_linux"), sorted(METAL.glob("*.metal")))


def run_cases(exe: Path, cases: list[tuple]) -> list[tuple[int, int, np.ndarray]]:
    """cases: (function, params bytes, x float16 NCHW, threadExecutionWidth, maxTotalThreads)."""
    lines = []
    for function, params, x, width, max_threads in cases:
        n, c, h, w = x.shape
        lines.append(f"{function} {n} {c} {h} {w} {width} {max_threads} {params.hex() or '-'}")
        lines.append(" ".join(f"{int(b):04x}" for b in x.reshape(-1).view(np.uint16)))
    done = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True)
    assert done.returncode == 0, f"harness failed ({done.returncode}): {done.stderr}"
    out = done.stdout.splitlines()
    assert len(out) == 2 * len(cases)
    results = []
    for (_, _, x, _, _), status, data in zip(cases, out[::2], out[1::2], strict=True):
        tag, dispatched, outside = status.split()
        assert tag == "ok"
        bits = np.array([int(word, 16) for word in data.split()], dtype=np.uint16)
        results.append((int(dispatched), int(outside), bits.view(np.float16).reshape(x.shape)))
    return results


def metal_call(spec: catalog.KernelSpec, params: dict) -> tuple[str, bytes]:
    """The kernel function and the setBytes block the Swift adapter uses for these parameters."""
    if spec.class_name == "HardTanh":
        return "hardtanh", np.array([params["min_value"], params["max_value"]], dtype=np.float16).tobytes()
    if spec.class_name == "Gelu":
        return {"none": "gelu", "tanh": "gelu_tanh"}[params["approximate"]], b""
    values = [params[name] for name in spec.parameters]
    return spec.metal_functions[0], np.array(values, dtype=np.float32).tobytes()


def parameter_sets(spec: catalog.KernelSpec) -> list[dict]:
    gen = _gen()
    if spec.class_name == "HardTanh":
        return [{"min_value": lo, "max_value": hi} for _, lo, hi in gen.BOUNDS]
    return gen.ACTIVATION_PARAMS[spec.class_name]


def make_input(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    x = (rng.standard_normal(int(np.prod(shape))) * 4.0).astype(np.float16)
    k = min(len(HALF_SPECIALS), x.size // 3)
    x[rng.choice(x.size, size=k, replace=False)] = HALF_SPECIALS[:k]
    return x.reshape(shape)


def assert_close(got: np.ndarray, ref: np.ndarray, tolerance: tuple[float, float], what: str) -> None:
    assert got.dtype == ref.dtype == np.float16
    cxx_tools.assert_close(got, ref, tolerance, what)


def test_every_catalog_gpu_source_defines_its_functions():
    for spec in catalog.KERNELS.values():
        assert spec.has_gpu, spec.class_name
        defined = [fn for rel in spec.gpu_sources for fn in kernel_functions(catalog.ROOT / rel)]
        assert defined == list(spec.metal_functions), spec.class_name
    assert sorted(METAL.glob("*.metal")) == sorted(
        catalog.ROOT / rel for spec in catalog.KERNELS.values() for rel in spec.gpu_sources
    )


@pytest.mark.parametrize("class_name", sorted(catalog.KERNELS))
def test_metal_kernel_matches_reference(harness, class_name):
    spec = catalog.KERNELS[class_name]
    rng = np.random.default_rng(sum(map(ord, class_name)))
    cases, expected = [], []
    for params in parameter_sets(spec):
        function, block = metal_call(spec, params)
        for n, c, h, w, width, max_threads in SHAPES:
            x = make_input((n, c, h, w), rng)
            cases.append((function, block, x, width, max_threads))
            with np.errstate(all="ignore"):
                expected.append((params, spec.reference(x, **params)))
    results = run_cases(harness, cases)
    for (function, _, x, width, max_threads), (dispatched, outside, got), (params, ref) in zip(
        cases, results, expected, strict=True
    ):
        n, c, h, w = x.shape
        slices = n * -(-c // 4)
        tg_w = max(1, min(width, max_threads))
        tg_h = max(1, min(max_threads // tg_w, h))
        assert dispatched == -(-w // tg_w) * tg_w * -(-h // tg_h) * tg_h * slices
        assert outside == dispatched - w * h * slices
        assert_close(got, ref, spec.float16_tolerance, f"{function}{params} on {x.shape}")


def test_dispatch_has_out_of_range_threads(harness):
    x = make_input((3, 5, 9, 33), np.random.default_rng(0))
    ((dispatched, outside, _),) = run_cases(harness, [("hardswish", b"", x, 32, 1024)])
    assert outside > 0 and dispatched > outside


def test_harness_rejects_wrong_parameter_block(harness):
    # elu takes one float (4 bytes); a 2-byte block means Swift and Metal disagree on the struct.
    done = subprocess.run(
        [str(harness)], input="elu 1 1 1 1 32 1024 0000\n0000\n", capture_output=True, text=True
    )
    assert done.returncode != 0 and "parameter block" in done.stderr


def test_shim_catches_a_kernel_without_bounds_check(tmp_path):
    """A kernel that forgets the early return reads outside the texture: the harness must abort."""
    cxx = _compiler()
    if cxx is None:
        pytest.skip("no C++ compiler")
    bad = tmp_path / "unguarded.metal"
    bad.write_text(
        "#include <metal_stdlib>\nusing namespace metal;\n"
        "kernel void unguarded(texture2d_array<half, access::read> input [[texture(0)]],\n"
        "                      texture2d_array<half, access::write> output [[texture(1)]],\n"
        "                      uint3 gid [[thread_position_in_grid]])\n"
        "{\n    output.write(input.read(gid.xy, gid.z), gid.xy, gid.z);\n}\n"
    )
    exe = build_harness(cxx, tmp_path, [bad])
    zeros = " ".join(["0000"] * (3 * 5 * 8))
    # 4 x 1 threadgroups tile an 8 x 5 texture exactly: no thread outside, so no failure.
    done = subprocess.run(
        [str(exe)], input=f"unguarded 1 3 5 8 4 4 -\n{zeros}\n", capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    # 32-wide threadgroups over 8 columns: 24 threads per row are outside and read out of range.
    done = subprocess.run(
        [str(exe)], input=f"unguarded 1 3 5 8 32 1024 -\n{zeros}\n", capture_output=True, text=True
    )
    assert done.returncode != 0 and "out-of-range" in done.stderr
