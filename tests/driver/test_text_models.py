"""Tiny-config Hugging Face text models with int64 token inputs, exported by torch.onnx.export, convert
in both formats and match PyTorch: BERT, DistilBERT, GPT-2 with and without an attention mask. Their
masks are bool and integer arithmetic (Where, Equal/Not/And, Cast among int/bool/float, Expand,
ConstantOfShape, CumSum of ints, Gather of a bool tensor). The conversion's own check runs (it raises
on a mismatch); the test also feeds the model int32 tokens, as an app does, against PyTorch."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from bridgec.driver.convert import convert
from tests.helpers import assert_matches

pytestmark = pytest.mark.slow

VOCAB, LENGTH = 99, 8


def _model(name: str):
    import transformers as tf

    if name == "bert":
        config = tf.BertConfig(
            vocab_size=VOCAB,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
            max_position_embeddings=64,
        )
        model = tf.BertModel(config)
    elif name == "distilbert":
        config = tf.DistilBertConfig(
            vocab_size=VOCAB, dim=32, n_layers=2, n_heads=2, hidden_dim=37, max_position_embeddings=64
        )
        model = tf.DistilBertModel(config)
    else:
        config = tf.GPT2Config(
            vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=2, n_positions=64, use_cache=False
        )
        model = tf.GPT2Model(config)
    # attention itself (SDPA) is another test's: the eager form is MatMul and Softmax
    model.config._attn_implementation = "eager"
    model.config.return_dict = False
    return model.eval()


class _Tokens(torch.nn.Module):
    """The model called with named integer inputs, giving its last hidden state."""

    def __init__(self, model: torch.nn.Module, names: tuple[str, ...]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, inputs, strict=True)))[0]


@contextlib.contextmanager
def _torch_diff_for_onnx():
    """transformers' packed-sequence check (a GPT-2 called without a mask) uses torch.diff, which the
    TorchScript exporter lacks, and sums a bool tensor, which ONNX's CumSum does not take: both
    spelled in ONNX for this export only."""
    from torch.onnx import register_custom_op_symbolic, symbolic_helper, unregister_custom_op_symbolic

    def diff(g, x, n, dim, prepend, append):
        axis = symbolic_helper._get_const(dim, "i", "dim")
        both = g.op("Concat", prepend, x, axis_i=axis)

        def part(start, end):
            bounds = (torch.tensor([start]), torch.tensor([end]), torch.tensor([axis]))
            return g.op("Slice", both, *(g.op("Constant", value_t=b) for b in bounds))

        return g.op("Sub", part(1, 2**62), part(0, -1))

    def cumsum(g, x, dim, dtype):
        axis = g.op("Constant", value_t=torch.tensor(symbolic_helper._get_const(dim, "i", "dim")))
        return g.op("CumSum", g.op("Cast", x, to_i=7), axis)  # torch sums bools as int64

    register_custom_op_symbolic("aten::diff", diff, 17)
    register_custom_op_symbolic("aten::cumsum", cumsum, 17)
    try:
        yield
    finally:
        unregister_custom_op_symbolic("aten::diff", 17)
        unregister_custom_op_symbolic("aten::cumsum", 17)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (ONNX path, int64 feeds, PyTorch's output)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, VOCAB, (1, LENGTH))
    mask = np.ones((1, LENGTH), np.int64)
    mask[0, :3] = 0  # left padding: the masks are really used
    found = {}
    for name, model_name, with_mask in (
        ("bert", "bert", True),
        ("distilbert", "distilbert", True),
        ("gpt2_mask", "gpt2", True),
        ("gpt2", "gpt2", False),
    ):
        feeds = {"input_ids": ids, "attention_mask": mask} if with_mask else {"input_ids": ids}
        module = _Tokens(_model(model_name), tuple(feeds))
        args = tuple(torch.from_numpy(v) for v in feeds.values())
        path = tmp_path_factory.mktemp(name) / f"{name}.onnx"
        with torch.no_grad(), _torch_diff_for_onnx() if not with_mask else contextlib.nullcontext():
            want = module(*args).numpy()
            torch.onnx.export(
                module,
                args,
                str(path),
                input_names=list(feeds),
                output_names=["last_hidden_state"],
                dynamo=False,
            )
        found[name] = (path, feeds, want)
    return found


@pytest.mark.parametrize("fmt", ["mlprogram", "neuralnetwork"])
@pytest.mark.parametrize("name", ["bert", "distilbert", "gpt2_mask", "gpt2"])
def test_text_model_converts_and_matches_pytorch(exported, name, fmt):
    path, feeds, want = exported[name]
    result = convert(path, format=fmt, write=False, check_inputs=feeds)
    assert result.check.status == "checked"
    spec = result.model.spec
    assert {f.name: f.type.multiArrayType.dataType for f in spec.description.input} == dict.fromkeys(
        feeds, spec.description.input[0].type.multiArrayType.INT32
    )
    got = result.model.run_reference({k: v.astype(np.int32) for k, v in feeds.items()})["last_hidden_state"]
    assert_matches(got, want)
