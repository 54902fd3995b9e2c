"""The Gauss error function for whole arrays, in double precision.

The erf of Erf's declaration (its numpy reference) and of the executors' erf and exact gelu (Core ML:
"erf: the gauss error function", MIL elementwise_unary.py; ErfLayerParams "1/sqrt(pi) integral from
-x to x of e^(-t^2) dt"; Core AI's coreai.erf and coreai.gelu) was ``math.erf`` element by element, a
Python call per value (seconds for one vit_b_16 run). numpy has no erf ufunc, so this is the C
library's own algorithm -- Sun's fdlibm ``s_erf.c`` as glibc evaluates it (the same coefficients,
intervals and order of operations, its polynomials in glibc's split form) -- on arrays: it gives
``math.erf``'s doubles (tests/core/test_erf.py compares them bit for bit). It is a libm function,
no op's semantics: the executors sharing it with the declarations shares no reading of an op.
"""

from __future__ import annotations

import numpy as np

# fdlibm s_erf.c: erx = (float)0.84506291151, then the rational approximations per interval.
_ERX = 8.45062911510467529297e-01
_EFX = 1.28379167095512586316e-01
_PP = (
    1.28379167095512558561e-01,
    -3.25042107247001499370e-01,
    -2.84817495755985104766e-02,
    -5.77027029648944159157e-03,
    -2.37630166566501626084e-05,
)
_QQ = (
    3.97917223959155352819e-01,
    6.50222499887672944485e-02,
    5.08130628187576562776e-03,
    1.32494738004321644526e-04,
    -3.96022827877536812320e-06,
)
_PA = (
    -2.36211856075265944077e-03,
    4.14856118683748331666e-01,
    -3.72207876035701323847e-01,
    3.18346619901161753674e-01,
    -1.10894694282396677476e-01,
    3.54783043256182359371e-02,
    -2.16637559486879084300e-03,
)
_QA = (
    1.06420880400844228286e-01,
    5.40397917702171048937e-01,
    7.18286544141962662868e-02,
    1.26171219808761642112e-01,
    1.36370839120290507362e-02,
    1.19844998467991074170e-02,
)
_RA = (
    -9.86494403484714822705e-03,
    -6.93858572707181764372e-01,
    -1.05586262253232909814e01,
    -6.23753324503260060396e01,
    -1.62396669462573470355e02,
    -1.84605092906711035994e02,
    -8.12874355063065934246e01,
    -9.81432934416914548592e00,
)
_SA = (
    1.96512716674392571292e01,
    1.37657754143519042600e02,
    4.34565877475229228821e02,
    6.45387271733267880336e02,
    4.29008140027567833386e02,
    1.08635005541779435134e02,
    6.57024977031928170135e00,
    -6.04244152148580987438e-02,
)
_RB = (
    -9.86494292470009928597e-03,
    -7.99283237680523006574e-01,
    -1.77579549177547519889e01,
    -1.60636384855821916062e02,
    -6.37566443368389627722e02,
    -1.02509513161107724954e03,
    -4.83519191608651397019e02,
)
_SB = (
    3.03380607434824582924e01,
    3.25792512996573918826e02,
    1.53672958608443695994e03,
    3.19985821950859553908e03,
    2.55305040643316442583e03,
    4.74528541206955367215e02,
    -2.24409524465858183362e01,
)


def _small(x: np.ndarray) -> np.ndarray:
    """|x| < 0.84375: x + x * P(x^2) / Q(x^2)."""
    z = x * x
    z2 = z * z
    z4 = z2 * z2
    r = (_PP[0] + z * _PP[1]) + z2 * (_PP[2] + z * _PP[3]) + z4 * _PP[4]
    s = (1.0 + z * _QQ[0]) + z2 * (_QQ[1] + z * _QQ[2]) + z4 * (_QQ[3] + z * _QQ[4])
    return x + x * (r / s)


def _near_one(a: np.ndarray) -> np.ndarray:
    """0.84375 <= |x| < 1.25: erx + P(|x| - 1) / Q(|x| - 1)."""
    s = a - 1.0
    s2 = s * s
    s4 = s2 * s2
    s6 = s4 * s2
    p = (_PA[0] + s * _PA[1]) + s2 * (_PA[2] + s * _PA[3]) + s4 * (_PA[4] + s * _PA[5]) + s6 * _PA[6]
    q = (1.0 + s * _QA[0]) + s2 * (_QA[1] + s * _QA[2]) + s4 * (_QA[3] + s * _QA[4]) + s6 * _QA[5]
    return _ERX + p / q


def _tail(a: np.ndarray) -> np.ndarray:
    """1.25 <= |x| < 6: 1 - exp(-x^2 - 0.5625 + R/S) / |x|, with -x^2 split exactly (fdlibm Note1)."""
    s = 1.0 / (a * a)
    s2 = s * s
    s4 = s2 * s2
    s6 = s4 * s2
    near = a < 1 / 0.35  # fdlibm compares the high word with 0x4006DB6E
    r_a = (
        (_RA[0] + s * _RA[1])
        + s2 * (_RA[2] + s * _RA[3])
        + s4 * (_RA[4] + s * _RA[5])
        + s6 * (_RA[6] + s * _RA[7])
    )
    s_a = (
        (1.0 + s * _SA[0])
        + s2 * (_SA[1] + s * _SA[2])
        + s4 * (_SA[3] + s * _SA[4])
        + s6 * (_SA[5] + s * _SA[6])
        + (s4 * s4) * _SA[7]
    )
    r_b = (_RB[0] + s * _RB[1]) + s2 * (_RB[2] + s * _RB[3]) + s4 * (_RB[4] + s * _RB[5]) + s6 * _RB[6]
    s_b = (
        (1.0 + s * _SB[0])
        + s2 * (_SB[1] + s * _SB[2])
        + s4 * (_SB[3] + s * _SB[4])
        + s6 * (_SB[5] + s * _SB[6])
    )
    ratio = np.where(near, r_a / s_a, r_b / s_b)
    # z is |x| with the low 32 bits of its mantissa cleared (SET_LOW_WORD(z, 0))
    z = (a.view(np.uint64) & np.uint64(0xFFFFFFFF00000000)).view(np.float64)
    r = np.exp(-z * z - 0.5625) * np.exp((z - a) * (z + a) + ratio)
    return 1.0 - r / a


# Elements per block: a block's temporaries stay in cache, where the whole tensor's would not.
_BLOCK = 8192


def erf(x: np.ndarray) -> np.ndarray:
    """erf of a float64 array, as ``math.erf`` gives each element."""
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1)
    out = np.empty(flat.shape, np.float64)
    with np.errstate(over="ignore", under="ignore"):
        for start in range(0, flat.size, _BLOCK):
            _erf_block(flat[start : start + _BLOCK], out[start : start + _BLOCK])
    return out.reshape(x.shape)


def _erf_block(x: np.ndarray, out: np.ndarray) -> None:
    a = np.abs(x)
    tiny = a < 2.0**-28  # x + efx * x: the higher terms are below half an ulp
    out[tiny] = x[tiny] + _EFX * x[tiny]
    # glibc scales by 16 below 2^-1015 (high word < 0x00800000) so that efx * x does not lose bits
    # to underflow: a different rounding there
    least = a < 2.0**-1015
    out[least] = 0.0625 * (16.0 * x[least] + (16.0 * _EFX) * x[least])
    small = (a >= 2.0**-28) & (a < 0.84375)
    out[small] = _small(x[small])
    mid = (a >= 0.84375) & (a < 1.25)
    out[mid] = np.copysign(_near_one(a[mid]), x[mid])
    tail = (a >= 1.25) & (a < 6.0)
    out[tail] = np.copysign(_tail(a[tail]), x[tail])
    big = a >= 6.0  # 1 - tiny rounds to 1; inf gives +-1
    out[big] = np.copysign(1.0, x[big])
    nan = np.isnan(x)
    out[nan] = x[nan]
