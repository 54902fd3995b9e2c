"""Which buffers a torch.export program writes (frontends.pt2_state), found without functionalising
programs that only write their own temporaries, and never missed through views."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from bridgec.frontends import pt2_state


def _export(module, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.export.export(module.eval(), args)


class _Buffered(torch.nn.Module):
    def __init__(self, write) -> None:
        super().__init__()
        self.register_buffer("c", torch.zeros(4))
        self.register_buffer("untouched", torch.ones(4))
        self.write = write

    def forward(self, x):
        self.write(self, x)
        return x + self.c[:2] + self.untouched[:2]


@pytest.mark.parametrize(
    "write",
    [
        lambda m, x: m.c.add_(x.sum()),  # in place on the buffer
        lambda m, x: m.c[1:3].copy_(x),  # through a slice view
        lambda m, x: m.c.split(2)[0].mul_(x),  # through getitem of a split (no schema of its own)
        lambda m, x: m.c.view(2, 2)[0].add_(x),  # through two views
    ],
)
def test_a_write_through_any_view_is_found(write):
    program = _export(_Buffered(write), torch.randn(2))
    assert any(pt2_state._writes_placeholder(n) for n in program.graph.nodes)  # the quick look sees it
    assert pt2_state.written_buffers(program) == ["c"]  # and torch's functionalisation names it


def test_writes_to_temporaries_only_need_no_functionalisation(monkeypatch):
    class Temporaries(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.act = torch.nn.ReLU6(inplace=True)  # hardtanh_ on the conv's output

        def forward(self, x):
            return self.act(self.conv(x))

    program = _export(Temporaries(), torch.randn(1, 3, 8, 8))
    mutable = [
        n for n in program.graph.nodes if pt2_state._schema(n) is not None and pt2_state._schema(n).is_mutable
    ]
    assert mutable  # it does write in place, but only a temporary

    def refuse(*args, **kwargs):
        raise AssertionError("functionalised a program that writes no buffer")

    monkeypatch.setattr(type(program), "run_decompositions", refuse)
    assert pt2_state.written_buffers(program) == []


def test_the_pure_program_takes_and_returns_the_state():
    program = _export(_Buffered(lambda m, x: m.c.add_(x.sum())), torch.randn(2))
    x = torch.randn(2)
    pure, state = pt2_state.stateful(program, (x,), ["x"])
    assert [(b.name, b.input, b.output) for b in state.buffers] == [("c", "c", "c_next")]
    np.testing.assert_array_equal(state.initial["c"], np.zeros(4, np.float32))
    out = pure.module()(x, torch.full((4,), 2.0))
    np.testing.assert_allclose(out["c_next"].numpy(), 2.0 + x.sum().item(), rtol=1e-6)
    np.testing.assert_allclose(out["output"].numpy(), (x + 2 + x.sum() + 1).numpy(), rtol=1e-6)
    # the original runs on a copy of its buffers: running it twice gives the same sequence
    calls = [{"x": np.ones(2, np.float32)}, {"x": np.ones(2, np.float32)}]
    first, again = state.run_calls(calls), state.run_calls(calls)
    assert [s["c"][0] for _, s in first] == [s["c"][0] for _, s in again] == [2.0, 4.0]
