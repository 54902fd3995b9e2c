"""iOS18 scaled_dot_product_attention in the reference executor, as the MIL op reference states it:
softmax(Q K^T / sqrt(E) + mask) V, a float mask added, rank >= 3, one batch for query, key and value
(the bool-mask case is in test_exec_mil_constexpr)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bridgec.backends.coreml.executor.errors import LayerError
from bridgec.backends.coreml.executor.mlprogram import Op
from bridgec.backends.coreml.executor.mlprogram.linear import scaled_dot_product_attention
from tests.backends.coreml.executor.mlprogram._mlp_helpers import ct, mb, rand, run_program
from tests.helpers import assert_matches


def _run(build, feeds, tmp_path):
    out = run_program(build, feeds, tmp_path, "scaled_dot_product_attention", target=ct.target.iOS18)
    return next(iter(out.values()))


def test_rank_3_without_a_mask(tmp_path):
    q, k, v = rand(2, 5, 4, seed=1), rand(2, 7, 4, seed=2), rand(2, 7, 3, seed=3)

    def build(q, k, v):
        return mb.scaled_dot_product_attention(query=q, key=k, value=v)

    got = _run(build, {"q": q, "k": k, "v": v}, tmp_path)
    scores = q.astype(np.float64) @ np.swapaxes(k, -1, -2) / np.sqrt(4)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    assert_matches(got, weights / weights.sum(-1, keepdims=True) @ v, tolerance=1e-6)


def test_a_float_mask_is_added_and_broadcasts(tmp_path):
    q, k, v = rand(1, 2, 3, 8, seed=4), rand(1, 2, 5, 8, seed=5), rand(1, 2, 5, 6, seed=6)
    mask = rand(3, 5, seed=7, low=-4, high=1)  # [L, S], broadcast over batch and heads

    def build(q, k, v):
        return mb.scaled_dot_product_attention(query=q, key=k, value=v, attn_mask=mask)

    got = _run(build, {"q": q, "k": k, "v": v}, tmp_path)
    t = [torch.from_numpy(a) for a in (q, k, v)]
    assert_matches(got, F.scaled_dot_product_attention(*t, attn_mask=torch.from_numpy(mask)), tolerance=1e-6)


@pytest.mark.parametrize(
    "shapes",
    [
        ((1, 2, 3, 8), (1, 1, 5, 8), (1, 1, 5, 6)),  # heads differ: the op does not broadcast them
        ((3, 8), (5, 8), (5, 6)),  # rank 2: the op needs batch, sequence, embedding
        ((1, 3, 8), (1, 5, 4), (1, 5, 6)),  # query and key embeddings differ
    ],
)
def test_shapes_the_op_does_not_define_are_refused(shapes):
    q, k, v = (np.zeros(s, np.float32) for s in shapes)
    with pytest.raises(LayerError):
        scaled_dot_product_attention(
            Op("scaled_dot_product_attention", "sdpa", {"query": q, "key": k, "value": v})
        )
