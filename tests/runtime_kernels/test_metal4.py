"""The Metal 4 adapter (runtime_kernels/metal4.py): Core AI's ``coreai.metal4_kernel`` source for every
catalog kernel, generated from the same Metal file as the Core ML adapter, compiled as C++ with
tools/metal_linux and run on the CPU (a dispatch of whole 32-thread groups, so threads past the end
must return early), against the numpy reference in float16 within the catalog's float16 tolerance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bridgec.runtime_kernels import catalog, metal4
from tests.helpers import load_tool

# Lengths: shorter than one thread's 4 lanes, not a multiple of 4, and more than one 32-thread group.
LENGTHS = (1, 3, 8, 37, 130, 1001)
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 65504.0, -65504.0, 1e5, -1e5, 6e-8, 1e-4, 3.0, -3.0])


run4 = load_tool("tools/metal_linux/metal4_run.py")
goldens = load_tool("tools/gen_kernel_goldens.py")


def every_kernel() -> list[tuple[catalog.KernelSpec, dict, metal4.Metal4Kernel]]:
    """(spec, parameters, kernel) for every parameter set of every catalog kernel."""
    out = []
    for name, spec in sorted(catalog.KERNELS.items()):
        for params in goldens.ACTIVATION_PARAMS[name]:
            out.append((spec, params, metal4.metal4_kernel(spec, metal4.function_for(spec, params))))
    return out


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    cxx = run4.compiler()
    if cxx is None:
        pytest.skip("no C++ compiler (g++ or clang++) to compile the Metal kernels as C++")
    return run4.build(cxx, tmp_path_factory.mktemp("metal4"), [k for _, _, k in every_kernel()])


def make_input(n: int, rng: np.random.Generator) -> np.ndarray:
    x = (rng.standard_normal(n) * 4.0).astype(np.float32)
    k = min(len(SPECIALS), n // 3)
    x[rng.choice(n, size=k, replace=False)] = SPECIALS[:k]
    return x


def test_every_kernel_matches_its_reference(harness):
    rng = np.random.default_rng(19)
    cases, expected = [], []
    for spec, params, kernel in every_kernel():
        for n in LENGTHS:
            x = make_input(n, rng)
            cases.append((kernel, params, x))
            with np.errstate(all="ignore"):  # the kernel rounds its input to float16, then computes
                expected.append((spec, spec.reference(x.astype(np.float16), **params)))
    for (kernel, params, x), got, (spec, ref) in zip(cases, run4.run(harness, cases), expected, strict=True):
        assert got.dtype == np.float32
        # float32 out, but every value one float16 can hold: the kernel writes half results
        assert np.array_equal(got.astype(np.float16).astype(np.float32), got, equal_nan=True), kernel.name
        run4.assert_close(got, ref, spec.float16_tolerance, f"{kernel.name}{params} on {x.size} elements")


def test_a_kernel_is_wrong_when_its_body_is(tmp_path):
    """The check can fail: the adapter of a kernel whose math is off does not match the reference."""
    cxx = run4.compiler()
    if cxx is None:
        pytest.skip("no C++ compiler")
    spec = catalog.KERNELS["LeakyRelu"]
    kernel = metal4.metal4_kernel(spec, "leakyrelu")
    broken = metal4.Metal4Kernel(
        kernel.name,
        kernel.source.replace("params.alpha * x", "params.alpha * x * 2.0f"),
        kernel.scalars,
        kernel.element,
    )
    assert broken.source != kernel.source
    exe = run4.build(cxx, tmp_path, [broken])
    x = -np.arange(1, 9, dtype=np.float32)
    (got,) = run4.run(exe, [(broken, {"alpha": 0.1}, x)])
    with pytest.raises(AssertionError, match="off"):
        run4.assert_close(
            got, spec.reference(x.astype(np.float16), alpha=0.1), spec.float16_tolerance, "broken"
        )


def test_source_is_deterministic_and_names_its_origin():
    spec = catalog.KERNELS["HardTanh"]
    first, second = (metal4.metal4_kernel(spec, "hardtanh") for _ in range(2))
    assert first == second and first.name == "bridgec_hardtanh_float"
    assert "runtime_kernels/Metal/hardtanh.metal" in first.source
    # Core ML's texture I/O is gone; the tensor signature is Core AI's (constant half& for the bounds)
    assert "texture2d_array" not in first.source.split("[[kernel]]")[1]
    assert first.scalars == (("min_value", "half"), ("max_value", "half"))
    assert (
        "tensor<device float, metal::dextents<int, 1>, tensor_handle> bridgec_x [[buffer(0)]]" in first.source
    )


def test_function_follows_the_string_choice():
    spec = catalog.KERNELS["Gelu"]
    assert metal4.function_for(spec, {"approximate": "none"}) == "gelu"
    assert metal4.function_for(spec, {"approximate": "tanh"}) == "gelu_tanh"
    tanh = metal4.metal4_kernel(spec, "gelu_tanh")
    assert tanh.name == "bridgec_gelu_tanh_float" and "exp(-2.0f * u)" in tanh.source


def test_a_kernel_out_of_pattern_is_refused(tmp_path, monkeypatch):
    """A Metal file whose kernel does not read and write one texel the usual way gets no adapter."""
    spec = catalog.KERNELS["Silu"]
    (rel,) = spec.gpu_sources
    text = (catalog.ROOT / rel).read_text()
    edited = tmp_path / "Metal" / Path(rel).name
    edited.parent.mkdir()
    edited.write_text(
        text.replace("output.write(select(half4(y), xh, bridgec_silu_is_nan(xh)), gid.xy, gid.z);", "")
    )
    monkeypatch.setattr(metal4, "ROOT", tmp_path)
    with pytest.raises(metal4.Metal4AdapterError, match="must end with output.write"):
        metal4.metal4_kernel(spec, "silu")
