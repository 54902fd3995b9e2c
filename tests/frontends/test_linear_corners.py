"""PyTorch's linear algebra, reductions, index selection, comparisons and casts at their corners,
traced and converted in both formats: each configuration verifies (PyTorch vs onnxruntime vs the
reference executor) or is refused in one line naming the op. Never a model that computes something
else.

argmax/argmin (first index, as torch documents) and the comparisons get data with ties (halves from a
small range), where the first index and <= against < decide the answer; the casts get halves and
negatives, where truncation, rounding and bool differ.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from tests.frontends._corners import assert_verified_or_refused, outcome

SHAPE = (2, 3, 4, 6)


class Fn(nn.Module):
    """``fn(x, *weights)`` with the weights as buffers (constants in the exported graph)."""

    def __init__(self, fn, *weights: torch.Tensor) -> None:
        super().__init__()
        self.fn = fn
        for i, w in enumerate(weights):
            self.register_buffer(f"w{i}", w)
        self.count = len(weights)

    def forward(self, x):
        return self.fn(x, *(getattr(self, f"w{i}") for i in range(self.count)))


def _w(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


# name: (module, the op names a refusal may name, data with ties)
CONFIGS: dict[str, tuple[nn.Module, tuple[str, ...], bool]] = {
    "matmul_vector_weight": (Fn(lambda x, v: x @ v, _w(6)), ("MatMul",), False),
    "vector_matmul": (Fn(lambda x, v: v @ x, _w(4)), ("MatMul",), False),
    "matmul_self_transposed": (Fn(lambda x: x @ x.transpose(-1, -2)), ("MatMul",), False),
    "matmul_broadcast_weight": (Fn(lambda x, w: x @ w, _w(3, 6, 5)), ("MatMul",), False),
    "linear_4d": (Fn(nn.Linear(6, 5)), ("MatMul", "Gemm", "Add"), False),
    "linear_flat": (
        Fn(lambda x, w, b: nn.functional.linear(x.flatten(1), w, b), _w(7, 72), _w(7)),
        ("Gemm",),
        False,
    ),
    "linear_no_bias": (Fn(nn.Linear(6, 2, bias=False)), ("MatMul", "Gemm"), False),
    "einsum_attention": (Fn(lambda x: torch.einsum("bhqd,bhkd->bhqk", x, x)), ("Einsum",), False),
    "einsum_mil_form": (
        Fn(lambda x, w: torch.einsum("nchw,nwhu->nchu", x, w), _w(2, 6, 4, 3)),
        ("Einsum",),
        False,
    ),
    "einsum_outer": (Fn(lambda x: torch.einsum("bcij,bcik->bcjk", x, x)), ("Einsum",), False),
    "argmax_dim1": (Fn(lambda x: torch.argmax(x, dim=1)), ("ArgMax",), True),
    "argmax_keepdim_last": (Fn(lambda x: torch.argmax(x, dim=-1, keepdim=True)), ("ArgMax",), True),
    "argmin_flat": (Fn(lambda x: torch.argmin(x)), ("ArgMin", "Reshape"), True),
    "max_with_indices": (Fn(lambda x: torch.max(x, dim=2)), ("ReduceMax", "ArgMax"), True),
    # no ties: torch.topk does not say which of equal values comes first (ONNX: the lower index; the
    # TopK property test holds the emitters to that with ties)
    "topk_largest": (Fn(lambda x: torch.topk(x, 3, dim=-1)), ("TopK",), False),
    "topk_smallest_dim1": (Fn(lambda x: torch.topk(x, 2, dim=1, largest=False)), ("TopK",), False),
    "topk_all": (Fn(lambda x: torch.topk(x, 4, dim=2)), ("TopK",), False),
    "sort_descending": (Fn(lambda x: torch.sort(x, dim=-1, descending=True)), ("TopK",), False),
    "cumsum_last": (Fn(lambda x: torch.cumsum(x, dim=-1)), ("CumSum",), False),
    "cumsum_dim_minus2": (Fn(lambda x: torch.cumsum(x, dim=-2)), ("CumSum",), False),
    "cumsum_dim1": (Fn(lambda x: torch.cumsum(x, dim=1)), ("CumSum",), False),
    "sum_all": (Fn(lambda x: x.sum()), ("ReduceSum",), False),
    "stack_of_sums": (
        Fn(lambda x: torch.stack([x.sum(), x.mean()])),
        ("ReduceSum", "ReduceMean", "Unsqueeze"),
        False,
    ),
    "scalar_times_row": (Fn(lambda x: x.sum() * x[0, 0, 0]), ("ReduceSum",), False),
    "scalar_unsqueezed": (Fn(lambda x: x.mean().reshape(1, 1) + x[0, 0]), ("ReduceMean",), False),
    "mean_keepdim": (Fn(lambda x: x.mean(dim=(1, 3), keepdim=True)), ("ReduceMean",), False),
    "amax": (Fn(lambda x: torch.amax(x, dim=(0, 2))), ("ReduceMax",), False),
    "prod_dim": (Fn(lambda x: (x / 4 + 1).prod(dim=2)), ("ReduceProd",), False),
    "norm_dim1": (Fn(lambda x: x.norm(dim=1)), ("ReduceL2",), False),
    "norm_l1": (Fn(lambda x: torch.linalg.vector_norm(x, ord=1, dim=-1)), ("ReduceL1",), False),
    "logsumexp": (Fn(lambda x: torch.logsumexp(x, dim=-1)), ("ReduceLogSumExp",), False),
    "where_greater": (Fn(lambda x: torch.where(x > 0.5, x, torch.zeros_like(x))), ("Where", "Greater"), True),
    "between": (Fn(lambda x: ((x >= 0) & (x <= 1)).float()), ("And", "GreaterOrEqual", "LessOrEqual"), True),
    "xor_not": (Fn(lambda x: (~(x > 0) ^ (x < 1)).float()), ("Xor", "Not", "Greater", "Less"), True),
    "equal_rounded": (Fn(lambda x: (x == torch.floor(x)).float()), ("Equal", "Floor"), True),
    "to_long": (Fn(lambda x: x.long().float()), ("Cast",), True),
    "to_int_and_back": (Fn(lambda x: x.to(torch.int32) * 2), ("Cast",), True),
    "to_bool": (Fn(lambda x: x.bool().float()), ("Cast",), True),
    "arange_last": (Fn(lambda x: x + torch.arange(x.shape[-1])), ("Range",), False),
    "arange_fraction_down": (Fn(lambda x: x * torch.arange(1.0, -0.4, -0.3)[:5].sum()), ("Range",), False),
    "new_full_shape": (Fn(lambda x: x.new_full(x.shape[:2], 2.5).sum() + x), ("ConstantOfShape",), False),
}

# configurations that may be refused (a one-line error naming the op) instead of verifying
MAY_REFUSE = {
    # NeuralNetwork blobs have rank >= 1: a (1,) blob holds a scalar, which broadcasts like one, but
    # an Unsqueeze of it would count one axis too many (torch.stack of two sums came out [2, 1]), so
    # that is refused, as is an ArgMin of everything
    "neuralnetwork": {"argmin_flat", "stack_of_sums"},
    "mlprogram": set(),
}


def _feeds(ties: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if ties:  # halves in [-3, 3]: many equal values per row, and halves that round either way
        return (rng.integers(-6, 7, SHAPE) / 2).astype(np.float32)
    return rng.standard_normal(SHAPE).astype(np.float32)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("linear_corners")
    paths = {}
    for name, (module, _, ties) in CONFIGS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(module.eval(), torch.randn(SHAPE))
        path = folder / f"{name}.pt"
        torch.jit.save(traced, str(path))
        feeds = folder / f"{name}.npz"
        np.savez(feeds, x=_feeds(ties, seed=len(name)))
        paths[name] = (path, feeds)
    return paths


@pytest.mark.slow
@pytest.mark.parametrize("format", ["neuralnetwork", "mlprogram"])
@pytest.mark.parametrize("name", CONFIGS)
def test_linear_corner(saved, name, format):
    path, feeds = saved[name]
    found = outcome(path, feeds, format, SHAPE, seed=0)
    assert_verified_or_refused(name, format, found, MAY_REFUSE[format], CONFIGS[name][1])
