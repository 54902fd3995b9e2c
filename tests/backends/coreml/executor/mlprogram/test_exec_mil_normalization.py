"""batch_norm, instance_norm, layer_norm, l2_norm, local_response_norm against torch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tests.backends.coreml.executor.mlprogram._mlp_helpers import mb, rand, run_one
from tests.helpers import assert_matches

X = rand(2, 3, 5, 4, seed=1)
T = torch.from_numpy(X)
G, B = rand(3, seed=2), rand(3, seed=3)


def test_batch_norm(tmp_path):
    m, v = rand(3, seed=4), rand(3, seed=5, low=0.5, high=2)
    got = run_one(
        lambda x: mb.batch_norm(x=x, mean=m, variance=v, gamma=G, beta=B, epsilon=1e-3),
        {"x": X},
        tmp_path,
        "batch_norm",
    )
    want = F.batch_norm(
        T, torch.from_numpy(m), torch.from_numpy(v), torch.from_numpy(G), torch.from_numpy(B), eps=1e-3
    )
    assert_matches(got, want, tolerance=1e-6)


def test_instance_norm(tmp_path):
    got = run_one(lambda x: mb.instance_norm(x=x, gamma=G, beta=B), {"x": X}, tmp_path, "instance_norm")
    assert_matches(
        got, F.instance_norm(T, weight=torch.from_numpy(G), bias=torch.from_numpy(B)), tolerance=1e-6
    )


def test_layer_norm_last_two_axes(tmp_path):
    g, b = rand(5, 4, seed=6), rand(5, 4, seed=7)
    got = run_one(
        lambda x: mb.layer_norm(x=x, axes=[-2, -1], gamma=g, beta=b, epsilon=1e-5),
        {"x": X},
        tmp_path,
        "layer_norm",
    )
    assert_matches(got, F.layer_norm(T, (5, 4), torch.from_numpy(g), torch.from_numpy(b)), tolerance=1e-6)


def test_l2_norm_per_batch(tmp_path):
    got = run_one(lambda x: mb.l2_norm(x=x, epsilon=1e-6), {"x": X}, tmp_path, "l2_norm")
    want = X / (X.reshape(2, -1) ** 2).sum(1).reshape(2, 1, 1, 1).__add__(1e-6) ** 0.5
    assert_matches(got, want, tolerance=1e-6)


def test_local_response_norm(tmp_path):
    x = rand(1, 6, 3, 3, seed=8)
    got = run_one(
        lambda x: mb.local_response_norm(x=x, size=3, alpha=1e-2, beta=0.75, k=1.0),
        {"x": x},
        tmp_path,
        "local_response_norm",
    )
    assert_matches(
        got, F.local_response_norm(torch.from_numpy(x), 3, alpha=1e-2, beta=0.75, k=1.0), tolerance=1e-6
    )


def test_instance_norm_rank3(tmp_path):
    x = rand(2, 3, 7, seed=9)
    got = run_one(
        lambda x: mb.instance_norm(x=x, gamma=G, beta=B, epsilon=1e-3), {"x": x}, tmp_path, "instance_norm"
    )
    want = F.instance_norm(
        torch.from_numpy(x), weight=torch.from_numpy(G), bias=torch.from_numpy(B), eps=1e-3
    )
    assert_matches(got, want, tolerance=1e-6)


def test_local_response_norm_even_size(tmp_path):
    # the reference does not say where an even window sits: (size - 1) // 2 channels before, size // 2
    # after, as ONNX's LRN ("c - floor((size - 1) / 2) <= i <= c + ceil((size - 1) / 2)")
    import numpy as np

    x = rand(1, 7, 2, 3, seed=10)
    got = run_one(
        lambda x: mb.local_response_norm(x=x, size=4, alpha=0.5, beta=0.5, k=2.0),
        {"x": x},
        tmp_path,
        "local_response_norm",
    )
    square_sum = np.stack([(x[:, max(0, c - 1) : c + 3] ** 2).sum(axis=1) for c in range(7)], axis=1)
    assert_matches(got, x / (2.0 + 0.5 / 4 * square_sum) ** 0.5, tolerance=1e-6)
