"""Strategies the convolution and pooling property tests share: an N-C-spatial input shape and the
attributes that must agree with it (kernel, strides, dilations, pads, auto_pad, group).

They are ``st.shared`` under fixed keys, so within one drawn case the attribute strategies handed to
``Hints.attrs`` and the ``Hints.inputs`` builder see the same input shape and kernel: the schema's
attributes are still drawn by ``schema_cases`` (present or absent at random), but their values fit
together often enough that onnxruntime accepts most cases.
"""

from __future__ import annotations

from hypothesis import strategies as st

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def _between(low: int, high: int) -> st.SearchStrategy:
    """Uniform over [low, high]: ``st.integers`` favours the bounds, which would make most kernels 1
    and most pads 0."""
    return st.sampled_from(range(low, high + 1))


SPATIAL = st.shared(st.sampled_from([2, 1, 2, 3]), key="spatial.rank")  # 1-D, 2-D (most) or 3-D
X = st.shared(
    SPATIAL.flatmap(
        lambda n: st.tuples(st.integers(1, 2), st.integers(1, 4), *[_between(1, 7 if n < 3 else 4)] * n)
    ),
    key="spatial.x",
)
# a kernel may be larger than its axis (it then needs padding: otherwise onnxruntime rejects it)
KERNEL = st.shared(
    X.flatmap(lambda s: st.tuples(*[_between(1, min(d + 2, 5)) for d in s[2:]])), key="spatial.kernel"
)
STRIDES = st.shared(SPATIAL.flatmap(lambda n: st.lists(st.integers(1, 3), min_size=n, max_size=n)), key="s")
DILATIONS = st.shared(
    SPATIAL.flatmap(lambda n: st.lists(st.sampled_from([1, 1, 2, 3]), min_size=n, max_size=n)), key="d"
)
# None: auto_pad left out (NOTSET); explicit pads are then drawn
AUTO_PAD = st.shared(st.sampled_from((None, None, *AUTO_PADS)), key="spatial.auto_pad")


def _pads(kernel: tuple[int, ...], limit: int | None) -> st.SearchStrategy:
    """ONNX pads [begin..., end...]; below the kernel for pooling (``limit`` None), up to ``limit``
    for convolution."""
    bounds = [k - 1 if limit is None else limit for k in kernel]
    each = [_between(0, b) for b in bounds]
    return st.tuples(st.tuples(*each), st.tuples(*each)).map(lambda be: [*be[0], *be[1]])


def pads(limit: int | None = None) -> st.SearchStrategy:
    """Explicit pads (mostly non-zero) only where auto_pad is NOTSET or absent: ONNX forbids both."""
    return st.tuples(AUTO_PAD, KERNEL).flatmap(
        lambda ak: (
            st.none()
            if ak[0] not in (None, "NOTSET")
            else st.one_of(_pads(ak[1], limit), _pads(ak[1], limit), st.none())
        )  # all-zero pads included
    )


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """The attribute's value, or (a third of the time) None: left out, so its default applies."""
    return st.one_of(strategy, strategy, st.none())


def spatial_attrs(pad_limit: int | None = None) -> dict:
    """``Hints.attrs`` for the attributes every windowed op has; use them with ``required_attrs``
    naming them all, so presence is decided here (None leaves one out) rather than by a coin flip
    that would mostly leave the pads out."""
    return {
        "kernel_shape": KERNEL.map(list),
        "strides": maybe(STRIDES),
        "dilations": maybe(DILATIONS),
        "auto_pad": AUTO_PAD,
        "pads": pads(pad_limit),
    }


SPATIAL_ATTRS = ("kernel_shape", "strides", "dilations", "auto_pad", "pads")
