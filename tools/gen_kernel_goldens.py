#!/usr/bin/env python3
"""Generate the Swift golden vectors the runtime-kernel tests compare against.

The numpy references of the op declarations (``bridgec.core.ops``, ``OpDecl.numpy``) define what
each custom-layer kernel computes. This script runs them on deterministic (seeded) inputs and writes
the inputs and expected outputs as a Swift source file, so that ``swift test`` needs neither
Python nor resource bundles:

    runtime_kernels/Tests/BridgecKernelsTests/Goldens.swift               (HardTanh)
    runtime_kernels/Tests/BridgecCoreMLLayersTests/ActivationGoldens.swift (every layer, adapters)

Values are stored as IEEE 754 bit patterns (UInt32 for float32, UInt16 for float16), which keeps
NaN / infinity exact and keeps the Swift compiler fast (typed integer literals).

Usage::

    python tools/gen_kernel_goldens.py           # (re)write Goldens.swift
    python tools/gen_kernel_goldens.py --check   # exit 1 if the checked-in file is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bridgec.core import ops

REPO = Path(__file__).resolve().parent.parent
GOLDENS = REPO / "runtime_kernels" / "Tests" / "BridgecKernelsTests" / "Goldens.swift"
# Every catalog class, tested through its adapter.
ACTIVATION_GOLDENS = (
    REPO / "runtime_kernels" / "Tests" / "BridgecCoreMLLayersTests" / "ActivationGoldens.swift"
)

SEED = 20240607
# Lengths chosen around the kernels' vector widths (SIMD16 body, one SIMD8 step, scalar tail):
# 1 and 7 are tail only, 8 one SIMD8 step, 17 = 16 + 1, 31 = 16 + 8 + 7, 1000 = 62 * 16 + 8.
LENGTHS = (1, 7, 8, 17, 31, 1000)
# (name, min_value, max_value); the last pair is not exactly representable in float32/float16,
# which checks that the bounds are rounded like numpy rounds them.
BOUNDS = (
    ("relu6", 0.0, 6.0),
    ("sym2", -2.0, 2.0),
    ("relu", 0.0, float("inf")),
    ("upper1p5", float("-inf"), 1.5),
    ("inexact", -0.1, 0.3),
)
# Parameter sets per activation class (catalog.KERNELS), with the catalog's parameter names:
# torch's defaults first, then a non-default set where there are parameters.
ACTIVATION_PARAMS: dict[str, list[dict[str, float | str]]] = {
    "HardSwish": [{}],
    "HardSigmoid": [ops.get("HardSigmoid").defaults, {"alpha": 0.2, "beta": 0.5}],
    "Gelu": [{"approximate": "none"}, {"approximate": "tanh"}],
    "Silu": [{}],
    "Mish": [{}],
    "Elu": [{"alpha": 1.0}, {"alpha": 0.3}],
    "Selu": [ops.get("Selu").defaults],
    "Celu": [{"alpha": 1.0}, {"alpha": 2.5}],
    "Softplus": [{"beta": 1.0, "threshold": 20.0}, {"beta": 2.0, "threshold": 3.0}],
    "LeakyRelu": [{"alpha": 0.01}, {"alpha": 0.2}],
    "Erf": [{}],
    # Bit-exact, also at the kernel level (GOLDENS); here through the adapter: open sides, and bounds
    # that float16 rounds (straight from the double, as numpy does).
    "HardTanh": [
        {"min_value": 0.0, "max_value": 6.0},
        {"min_value": float("-inf"), "max_value": 1.5},
        {"min_value": -0.1, "max_value": 0.3},
    ],
}
DTYPES = (
    # (numpy dtype, Swift bit-pattern type, hex digits, Swift array name)
    (np.float32, "UInt32", 8, "hardtanhFloat32Goldens"),
    (np.float16, "UInt16", 4, "hardtanhFloat16Goldens"),
)


def make_input(
    n: int, dtype: type[np.floating], rng: np.random.Generator, lo: float, hi: float
) -> np.ndarray:
    """Normal values spread over both sides of the bounds, with special values sprinkled in.

    NaN goes to the last element (scalar tail / last vector) and the first (vector body for n >= 8),
    then +/-inf, signed zeros and the bounds themselves (as rounded to ``dtype``) go to distinct
    random positions in between; at most about half the elements are specials.
    """
    x = (rng.standard_normal(n) * 4.0).astype(dtype)
    specials = [np.nan, np.nan, np.inf, -np.inf, -0.0, 0.0] + [b for b in (lo, hi) if np.isfinite(b)]
    specials = np.array(specials, dtype=np.float64).astype(dtype)[: max(1, n // 2 + 1)]
    if n == 1:
        return x
    k = min(n - 2, len(specials) - 2)
    middle = [int(p) for p in rng.choice(np.arange(1, n - 1), size=k, replace=False)] if k > 0 else []
    for value, pos in zip(specials, [n - 1, 0, *middle], strict=False):
        x[pos] = value
    return x


def cases() -> list[tuple[type[np.floating], str, float, float, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(SEED)
    out = []
    for dtype, *_ in DTYPES:
        for name, lo, hi in BOUNDS:
            for n in LENGTHS:
                x = make_input(n, dtype, rng, lo, hi)
                with np.errstate(invalid="ignore"):
                    y = ops.get("HardTanh").numpy(x, lo, hi)
                assert y.dtype == dtype and y.shape == x.shape
                out.append((dtype, f"{name}_n{n}", lo, hi, x, y))
    return out


def swift_double(v: float) -> str:
    if v == float("inf"):
        return ".infinity"
    if v == float("-inf"):
        return "-.infinity"
    return repr(float(v))


def swift_bits(a: np.ndarray, bits_dtype: type[np.unsignedinteger], digits: int, indent: str) -> str:
    words = [f"0x{int(w):0{digits}X}" for w in a.view(bits_dtype)]
    per_line = 8 if digits == 8 else 12
    lines = [", ".join(words[i : i + per_line]) for i in range(0, len(words), per_line)]
    return ("[\n" + "".join(f"{indent}    {line},\n" for line in lines) + f"{indent}]") if lines else "[]"


def render() -> str:
    all_cases = cases()
    parts = [
        "// GENERATED by tools/gen_kernel_goldens.py from the numpy references of bridgec.core.ops — do not edit.\n",
        "// Regenerate: python tools/gen_kernel_goldens.py   (check: --check)\n",
        "//\n",
        "// Values are IEEE 754 bit patterns: UInt32 for float32, UInt16 for float16.\n",
        f"// Seed {SEED}.\n",
        "\n",
        "struct HardTanhGolden<Bits: FixedWidthInteger & Sendable>: Sendable {\n",
        "    let name: String\n",
        "    let minValue: Double\n",
        "    let maxValue: Double\n",
        "    let input: [Bits]\n",
        "    let expected: [Bits]\n",
        "}\n",
    ]
    for dtype, swift_type, digits, array_name in DTYPES:
        bits_dtype = np.uint32 if swift_type == "UInt32" else np.uint16
        parts.append(f"\nlet {array_name}: [HardTanhGolden<{swift_type}>] = [\n")
        for case_dtype, name, lo, hi, x, y in all_cases:
            if case_dtype is not dtype:
                continue
            ind = "        "
            parts.append(
                "    HardTanhGolden(\n"
                f'        name: "{name}",\n'
                f"        minValue: {swift_double(lo)},\n"
                f"        maxValue: {swift_double(hi)},\n"
                f"        input: {swift_bits(x, bits_dtype, digits, ind)},\n"
                f"        expected: {swift_bits(y, bits_dtype, digits, ind)}\n"
                "    ),\n"
            )
        parts.append("]\n")
    return "".join(parts)


# Activation goldens: per class, parameter set and dtype, a sweep over the interesting range with
# the special values (its length, 16 * 12 + 7, also exercises the SIMD tail), a short random vector
# and a tail-only one.
SWEEP = np.concatenate(
    [
        np.linspace(-10.0, 10.0, 161),
        [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-6, -1e-6, 1e-3, -1e-3, 0.3, -0.3, 3.0, -3.0],
        [20.0, -20.0, 30.0, -30.0, 88.5, -88.5, 89.0, -89.0, 100.0, -100.0, -104.0, -120.0],
        [1e30, -1e30, 65504.0, -65504.0, 3.5, -3.5, 5.5, -5.5, 7.0, -7.0, 1e-8, -1e-8],
    ]
)
assert len(SWEEP) == 16 * 12 + 6


def activation_cases() -> list[tuple[str, dict, type[np.floating], str, np.ndarray, np.ndarray]]:
    from bridgec.runtime_kernels.catalog import KERNELS

    rng = np.random.default_rng(SEED + 1)
    out = []
    for layer, param_sets in ACTIVATION_PARAMS.items():
        spec = KERNELS[layer]
        for k, params in enumerate(param_sets):
            for dtype, *_ in DTYPES:
                with np.errstate(over="ignore"):  # 1e30 is inf in float16
                    sweep = np.append(SWEEP, 0.125).astype(dtype)
                inputs = {
                    "sweep": sweep,
                    "random_n37": (rng.standard_normal(37) * 4.0).astype(dtype),
                    "n5": (rng.standard_normal(5) * 2.0).astype(dtype),
                }
                for label, x in inputs.items():
                    with np.errstate(all="ignore"):
                        y = spec.reference(x, **params)
                    assert y.dtype == dtype and y.shape == x.shape
                    out.append((layer, params, dtype, f"{layer}_p{k}_{label}", x, y))
    return out


def swift_parameters(params: dict) -> str:
    if not params:
        return "[:]"
    items = []
    for key, value in params.items():
        if isinstance(value, str):
            items.append(f'"{key}": "{value}"')
        else:  # Double.infinity: a bare .infinity has no type to resolve against in a [String: Any]
            items.append(f'"{key}": {swift_double(value).replace(".infinity", "Double.infinity")}')
    return "[" + ", ".join(items) + "]"


def render_activations() -> str:
    from bridgec.runtime_kernels.catalog import KERNELS

    all_cases = activation_cases()
    parts = [
        "// GENERATED by tools/gen_kernel_goldens.py from the numpy references of bridgec.core.ops — do not edit.\n",
        "// Regenerate: python tools/gen_kernel_goldens.py   (check: --check)\n",
        "//\n",
        "// Values are IEEE 754 bit patterns: UInt32 for float32, UInt16 for float16. A kernel passes if,\n",
        "// elementwise, NaN matches NaN, infinities match, and |got - expected| <= atol + rtol * |expected|\n",
        "// (the tolerances of catalog.py for the layer and data type).\n",
        f"// Seed {SEED + 1}.\n",
        "\n",
        "struct ActivationGolden<Bits: FixedWidthInteger & Sendable>: @unchecked Sendable {\n",
        "    let layer: String\n",
        "    let name: String\n",
        "    let parameters: [String: Any]\n",
        "    let atol: Float\n",
        "    let rtol: Float\n",
        "    let input: [Bits]\n",
        "    let expected: [Bits]\n",
        "}\n",
    ]
    for dtype, swift_type, digits, array_name in DTYPES:
        bits_dtype = np.uint32 if swift_type == "UInt32" else np.uint16
        array_name = array_name.replace("hardtanh", "activation")
        parts.append(f"\nlet {array_name}: [ActivationGolden<{swift_type}>] = [\n")
        for layer, params, case_dtype, name, x, y in all_cases:
            if case_dtype is not dtype:
                continue
            spec = KERNELS[layer]
            atol, rtol = spec.float32_tolerance if dtype is np.float32 else spec.float16_tolerance
            ind = "        "
            parts.append(
                "    ActivationGolden(\n"
                f'        layer: "{layer}",\n'
                f'        name: "{name}",\n'
                f"        parameters: {swift_parameters(params)},\n"
                f"        atol: {atol!r},\n"
                f"        rtol: {rtol!r},\n"
                f"        input: {swift_bits(x, bits_dtype, digits, ind)},\n"
                f"        expected: {swift_bits(y, bits_dtype, digits, ind)}\n"
                "    ),\n"
            )
        parts.append("]\n")
    return "".join(parts)


def outputs() -> dict[Path, str]:
    return {GOLDENS: render(), ACTIVATION_GOLDENS: render_activations()}


def is_fresh(path: Path | None = None) -> bool:
    """True if the checked-in golden files (or just ``path``, if given, as Goldens.swift) hold
    exactly what the renderers make."""
    if path is not None:
        return path.is_file() and path.read_text(encoding="utf-8") == render()
    return all(p.is_file() and p.read_text(encoding="utf-8") == text for p, text in outputs().items())


def _shown(path: Path) -> Path:
    try:
        return path.relative_to(REPO)
    except ValueError:
        return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the checked-in file is stale")
    args = parser.parse_args(argv)
    files = outputs()
    if args.check:
        stale = [
            p for p, text in files.items() if not (p.is_file() and p.read_text(encoding="utf-8") == text)
        ]
        for path in files:
            if path not in stale:
                print(f"{_shown(path)} is up to date")
        for path in stale:
            print(
                f"{_shown(path)} is stale or missing; run: python tools/gen_kernel_goldens.py",
                file=sys.stderr,
            )
        return 1 if stale else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {_shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
