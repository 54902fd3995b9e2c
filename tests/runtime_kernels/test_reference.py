"""The numpy references against torch.nn.functional, the semantics BRIDGEC_OPS promises.

Finite inputs and NaN are compared with torch in float32 and float16. At +-infinity torch is not
consistent with itself (e.g. float32 gelu(inf) is NaN, float16 gelu(inf) is inf), so the reference
pins the IEEE value of the formula instead; that is checked separately.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bridgec.core.ops import activations as reference
from bridgec.runtime_kernels import catalog

torch = pytest.importorskip("torch")
F = torch.nn.functional

# (class, catalog parameters, the torch call)
CASES = [
    ("HardTanh", {"min_value": -2.0, "max_value": 2.0}, lambda t: F.hardtanh(t, -2.0, 2.0)),
    ("HardTanh", {"min_value": 0.0, "max_value": 6.0}, F.relu6),
    ("HardSwish", {}, F.hardswish),
    ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}, F.hardsigmoid),
    ("Gelu", {"approximate": "none"}, F.gelu),
    ("Gelu", {"approximate": "tanh"}, lambda t: F.gelu(t, approximate="tanh")),
    ("Silu", {}, F.silu),
    ("Mish", {}, F.mish),
    ("Elu", {"alpha": 1.0}, F.elu),
    ("Elu", {"alpha": 0.3}, lambda t: F.elu(t, alpha=0.3)),
    (
        "Selu",
        {"alpha": 1.6732632423543772848170429916717, "gamma": 1.0507009873554804934193349852946},
        F.selu,
    ),
    ("Celu", {"alpha": 1.0}, F.celu),
    ("Celu", {"alpha": 2.5}, lambda t: F.celu(t, alpha=2.5)),
    ("Softplus", {"beta": 1.0, "threshold": 20.0}, F.softplus),
    ("Softplus", {"beta": 2.0, "threshold": 3.0}, lambda t: F.softplus(t, beta=2.0, threshold=3.0)),
    ("LeakyRelu", {"alpha": 0.01}, F.leaky_relu),
    ("LeakyRelu", {"alpha": 0.2}, lambda t: F.leaky_relu(t, 0.2)),
    ("Erf", {}, torch.erf),
]


def test_cases_cover_the_catalog():
    assert {c for c, _, _ in CASES} == set(catalog.KERNELS)


def _inputs(dtype) -> np.ndarray:
    rng = np.random.default_rng(7)
    x = np.concatenate(
        [
            np.linspace(-12, 12, 2401),
            rng.standard_normal(2000) * 5,
            [
                np.nan,
                0.0,
                -0.0,
                1e-30,
                -1e-30,
                1e-6,
                -1e-6,
                25.0,
                -25.0,
                90.0,
                -90.0,
                1e4,
                -1e4,
                60000.0,
                -60000.0,
            ],
        ]
    )
    return x.astype(dtype)


@pytest.mark.parametrize("dtype, atol, rtol", [(np.float32, 1e-6, 1e-5), (np.float16, 1e-5, 2e-3)])
@pytest.mark.parametrize("case", CASES, ids=[f"{c}{p}" for c, p, _ in CASES])
def test_reference_matches_torch(case, dtype, atol, rtol):
    class_name, params, torch_fn = case
    x = _inputs(dtype)
    with np.errstate(all="ignore"):
        got = catalog.KERNELS[class_name].reference(x, **params)
    expected = torch_fn(torch.from_numpy(x)).numpy()
    assert got.dtype == x.dtype and got.shape == x.shape
    np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64), atol=atol, rtol=rtol)


INF = np.array([np.inf, -np.inf], dtype=np.float32)


@pytest.mark.parametrize(
    "class_name, params, expected",
    [
        ("HardSwish", {}, [np.inf, np.nan]),
        ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}, [1.0, 0.0]),
        ("Gelu", {"approximate": "none"}, [np.inf, np.nan]),
        ("Gelu", {"approximate": "tanh"}, [np.inf, np.nan]),
        ("Silu", {}, [np.inf, np.nan]),
        ("Mish", {}, [np.inf, np.nan]),
        ("Elu", {"alpha": 0.5}, [np.inf, -0.5]),
        ("Selu", {"alpha": 2.0, "gamma": 3.0}, [np.inf, -6.0]),
        ("Celu", {"alpha": 2.0}, [np.inf, -2.0]),
        ("Softplus", {"beta": 1.0, "threshold": 20.0}, [np.inf, 0.0]),
        ("LeakyRelu", {"alpha": 0.1}, [np.inf, -np.inf]),
        ("Erf", {}, [1.0, -1.0]),
    ],
)
def test_reference_at_infinity(class_name, params, expected):
    for dtype in (np.float32, np.float16):
        with np.errstate(all="ignore"):
            got = catalog.KERNELS[class_name].reference(INF.astype(dtype), **params)
        np.testing.assert_array_equal(got, np.array(expected, dtype=dtype))


def test_nan_in_nan_out():
    x = np.array([np.nan], np.float32)
    for spec in catalog.KERNELS.values():
        params = {"approximate": "tanh"} if spec.class_name == "Gelu" else dict.fromkeys(spec.parameters, 1.0)
        with np.errstate(all="ignore"):
            assert np.isnan(spec.reference(x, **params)).all(), spec.class_name


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        reference.gelu(np.zeros(2, np.float32), approximate="erf")


def test_gelu_exact_has_no_cancellation_for_negative_inputs():
    # 0.5 x erfc(-x / sqrt 2): full relative precision where 1 + erf(...) would cancel.
    x = np.array([-8.0, -10.0], np.float32)
    expected = [0.5 * v * math.erfc(-v / math.sqrt(2)) for v in (-8.0, -10.0)]
    np.testing.assert_allclose(reference.gelu(x, "none"), expected, rtol=1e-6)
