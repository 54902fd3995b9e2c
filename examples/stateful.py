"""Stateful examples: models whose forward writes a registered buffer, saved as torch.export .pt2.

``kvcache``: one decoding step of single-head attention over a rolling cache of the last ``STEPS``
keys and values (``self.k_cache.copy_(...)``): what an LLM keeps between tokens, in miniature.
``running``: a running mean of the inputs seen so far (a count and a sum, ``add_`` each call).

bridgec makes each written buffer Core ML state (iOS 18 ``MLState``): convert with ``--target iOS18``.
Random weights, no downloads.

    python examples/stateful.py kvcache -o kvcache.pt2
    bridgec kvcache.pt2 --target iOS18
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

STEPS, WIDTH = 8, 16


class KVCacheStep(nn.Module):
    """Attention of this step's query over the last ``STEPS`` keys and values (this one included)."""

    def __init__(self) -> None:
        super().__init__()
        self.q, self.k, self.v = nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, WIDTH)
        self.out = nn.Linear(WIDTH, WIDTH)
        self.register_buffer("k_cache", torch.zeros(1, STEPS, WIDTH))
        self.register_buffer("v_cache", torch.zeros(1, STEPS, WIDTH))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (1, 1, WIDTH), one token
        # the oldest step drops out, this one comes in
        self.k_cache.copy_(torch.cat([self.k_cache[:, 1:], self.k(x)], dim=1))
        self.v_cache.copy_(torch.cat([self.v_cache[:, 1:], self.v(x)], dim=1))
        scores = self.q(x) @ self.k_cache.transpose(1, 2) / WIDTH**0.5
        return self.out(torch.softmax(scores, dim=-1) @ self.v_cache)


class RunningMean(nn.Module):
    """The input minus the mean of every input seen so far (this one included)."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.register_buffer("total", torch.zeros(channels))
        self.register_buffer("count", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, channels)
        self.total.add_(x.sum(dim=0))
        self.count.add_(x.shape[0])
        return x - self.total / self.count


MODELS = {"kvcache": (KVCacheStep, (1, 1, WIDTH)), "running": (RunningMean, (2, 4))}


def save(path: Path, name: str = "kvcache", seed: int = 0) -> Path:
    """Export model ``name`` with torch.export and save it at ``path``."""
    make, shape = MODELS[name]
    torch.manual_seed(seed)
    program = torch.export.export(make().eval(), (torch.randn(*shape),))
    torch.export.save(program, str(path))
    return Path(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(MODELS), help="which model")
    parser.add_argument("-o", "--output", type=Path, help="where to write (MODEL.pt2)")
    parser.add_argument("--seed", type=int, default=0, help="weight seed (0)")
    args = parser.parse_args()
    print(save(args.output or Path(f"{args.model}.pt2"), args.model, args.seed))


if __name__ == "__main__":
    main()
