"""Hugging Face models for tests and ``tools/families.py`` (issue 17): tiny configurations with
seeded random weights, built from config objects — nothing is downloaded (never ``from_pretrained``).

Each model is wrapped in a module whose ``forward`` takes exactly the inputs in ``MODELS`` (so a
trace or an export names them, and GPT-2's ``attention_mask`` is not its third positional
argument) and returns a tuple, or with ``return_dict=True`` the model's ``ModelOutput``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

VOCAB = 99  # the text models' vocabulary: the ids fed to them are below it
TOKENS = 16


@dataclass(frozen=True)
class Model:
    config: str  # transformers config class
    model: str  # transformers model class
    settings: tuple[tuple[str, object], ...]  # the tiny config's keywords
    inputs: tuple[tuple[str, tuple[int, ...], torch.dtype], ...]  # forward's (name, shape, dtype)
    what: str  # what the model brings to a converter
    encoder_only: bool = False  # WhisperModel's encoder alone


_TEXT = (("hidden_size", 32), ("num_hidden_layers", 2), ("num_attention_heads", 2))
_IDS = ("input_ids", (1, TOKENS), torch.int64)
_MASK = ("attention_mask", (1, TOKENS), torch.int64)
# bos/eos inside the tiny vocabulary: GPT2Config's defaults (50256) would make transformers warn
_GPT2 = (
    ("vocab_size", VOCAB),
    ("n_embd", 32),
    ("n_layer", 2),
    ("n_head", 2),
    ("n_positions", 64),
    ("bos_token_id", VOCAB - 1),
    ("eos_token_id", VOCAB - 1),
)
_VISION = (
    ("hidden_size", 32),
    ("num_hidden_layers", 2),
    ("num_attention_heads", 2),
    ("intermediate_size", 37),
    ("image_size", 32),
    ("patch_size", 8),
)

MODELS: dict[str, Model] = {
    "bert": Model(
        "BertConfig",
        "BertModel",
        (*_TEXT, ("vocab_size", VOCAB), ("intermediate_size", 37), ("max_position_embeddings", 64)),
        (_IDS,),
        "int64 ids; embedding gathers; an all-ones mask built in the graph",
    ),
    "distilbert": Model(
        "DistilBertConfig",
        "DistilBertModel",
        (("vocab_size", VOCAB), ("dim", 32), ("n_layers", 2), ("n_heads", 2), ("hidden_dim", 37)),
        (_IDS,),
        "int64 ids; position ids from arange",
    ),
    "gpt2": Model(
        "GPT2Config",
        "GPT2Model",
        _GPT2,
        (_IDS,),
        "int64 ids; causal mask",
    ),
    "gpt2_mask": Model(
        "GPT2Config",
        "GPT2Model",
        _GPT2,
        (_IDS, _MASK),
        "int64 ids and attention mask; causal and padding masks combined",
    ),
    "vit": Model("ViTConfig", "ViTModel", _VISION, (("pixel_values", (1, 3, 32, 32), torch.float32),), "ViT"),
    "clip_vision": Model(
        "CLIPVisionConfig",
        "CLIPVisionModel",
        _VISION,
        (("pixel_values", (1, 3, 32, 32), torch.float32),),
        "class embedding, pre-layernorm, quick GELU",
    ),
    "segformer": Model(
        "SegformerConfig",
        "SegformerForSemanticSegmentation",
        (
            ("depths", (1, 1, 1, 1)),
            ("hidden_sizes", (16, 32, 48, 64)),
            ("num_attention_heads", (1, 1, 2, 2)),
            ("decoder_hidden_size", 32),
            ("num_labels", 5),
        ),
        (("pixel_values", (1, 3, 64, 64), torch.float32),),
        "spatial-reduction attention; overlapping patch embeddings; upsampling decode head",
    ),
    "whisper_encoder": Model(
        "WhisperConfig",
        "WhisperModel",
        (
            ("num_mel_bins", 16),
            ("d_model", 32),
            ("encoder_layers", 2),
            ("encoder_attention_heads", 2),
            ("encoder_ffn_dim", 37),
            ("decoder_layers", 1),
            ("decoder_attention_heads", 2),
            ("max_source_positions", 16),
        ),
        (("input_features", (1, 16, 32), torch.float32),),
        "float log-mel features; strided conv1d stem; sinusoidal positions",
        encoder_only=True,
    ),
    "mobilevit": Model(
        "MobileViTConfig",
        "MobileViTForImageClassification",
        (
            ("image_size", 64),
            ("hidden_sizes", (32, 40, 48)),
            ("neck_hidden_sizes", (8, 16, 24, 32, 40, 48, 64)),
            ("num_attention_heads", 2),
            ("num_labels", 10),
        ),
        (("pixel_values", (1, 3, 64, 64), torch.float32),),
        "unfold/fold of patches around a transformer; BatchNorm",
    ),
}


class _Wrapper(nn.Module):
    # a forward whose parameters are the model's input names: a trace or an export names the graph
    # inputs after them, and keywords reach the model whatever its positional order
    def __init__(self, inner: nn.Module, return_dict: bool):
        super().__init__()
        self.inner, self.return_dict = inner, return_dict

    def _out(self, output):
        # ModelOutput.to_tuple() is what return_dict=False returns; asked of the config instead, it
        # breaks SegformerForSemanticSegmentation (transformers 5.25 reads .hidden_states of a tuple)
        return output if self.return_dict else output.to_tuple()


class _Pixels(_Wrapper):
    def forward(self, pixel_values):
        return self._out(self.inner(pixel_values=pixel_values))


class _Features(_Wrapper):
    def forward(self, input_features):
        return self._out(self.inner(input_features=input_features))


class _Ids(_Wrapper):
    def forward(self, input_ids):
        return self._out(self.inner(input_ids=input_ids))


class _IdsMask(_Wrapper):
    def forward(self, input_ids, attention_mask):
        return self._out(self.inner(input_ids=input_ids, attention_mask=attention_mask))


_WRAPPERS = {
    ("pixel_values",): _Pixels,
    ("input_features",): _Features,
    ("input_ids",): _Ids,
    ("input_ids", "attention_mask"): _IdsMask,
}


def build(name: str, seed: int = 0, return_dict: bool = False) -> nn.Module:
    """``name`` with random weights (seed ``seed``), its forward taking ``MODELS[name].inputs``."""
    import transformers

    spec = MODELS[name]
    torch.manual_seed(seed)
    settings = dict(spec.settings)
    if spec.model.startswith("GPT2"):
        settings["use_cache"] = False  # no past key values among the outputs
    config = getattr(transformers, spec.config)(**settings)
    model = getattr(transformers, spec.model)(config).eval()
    if spec.encoder_only:
        model = model.get_encoder()
    _calibrate_batchnorm(model, name)
    return _WRAPPERS[tuple(n for n, _, _ in spec.inputs)](model, return_dict).eval()


def _calibrate_batchnorm(model: nn.Module, name: str) -> None:
    """BatchNorm statistics measured on inputs, and weights in [0.5, 1.5]: transformers initialises a
    BN weight like a linear one (std 0.02) and a conv too, so with random statistics (as in
    ``examples.zoo``) the signal shrinks at every layer until the running means alone make
    MobileViT's logits, the same for every input, and a check would prove nothing."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for norm in norms:
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.uniform_(-0.2, 0.2)
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the calibration inputs
    model.train()
    with torch.no_grad():
        for seed in range(100, 104):  # not example()'s seeds
            model(**dict(zip((n for n, _, _ in MODELS[name].inputs), example(name, seed), strict=True)))
    for norm in norms:
        norm.momentum = nn.BatchNorm2d(1).momentum
    model.eval()


def example(name: str, seed: int = 1) -> tuple[torch.Tensor, ...]:
    """The inputs ``name`` takes: ids below ``VOCAB``, a mask of ones with the last quarter zero
    (padding), floats from a normal distribution."""
    generator = torch.Generator().manual_seed(seed)
    tensors = []
    for input_name, shape, dtype in MODELS[name].inputs:
        if input_name == "attention_mask":
            mask = torch.ones(shape, dtype=dtype)
            mask[..., -shape[-1] // 4 :] = 0
            tensors.append(mask)
        elif dtype.is_floating_point:
            tensors.append(torch.randn(*shape, generator=generator, dtype=dtype))
        else:
            tensors.append(torch.randint(0, VOCAB, shape, generator=generator, dtype=dtype))
    return tuple(tensors)


def save(name: str, path: Path, seed: int = 0, return_dict: bool = True) -> Path:
    """Build ``name`` and save it as TorchScript (traced) at ``path``, or as a torch.export archive
    when ``path`` ends in .pt2. A trace returns a tuple; an export returns the ``ModelOutput``
    (bridgec names the Core ML outputs after its fields) unless ``return_dict`` is False."""
    pt2 = path.suffix == ".pt2"
    model = build(name, seed, return_dict=return_dict and pt2)
    inputs = example(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on sizes
        if pt2:
            torch.export.save(torch.export.export(model, inputs), str(path))
        else:
            with torch.no_grad():
                torch.jit.save(torch.jit.trace(model, inputs, check_trace=False), str(path))
    return path
