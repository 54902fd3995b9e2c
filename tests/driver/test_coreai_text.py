"""A token-id model to ``.aimodel`` from all three sources (torch.export ``.pt2``, TorchScript ``.pt``,
ONNX), checked in Apple's Core AI runtime against PyTorch / onnxruntime. Its int64 ids become int32
by the named rule ``lower::index_narrow``, with a report line saying what the app feeds, and an id
beyond int32 is refused, never wrapped (Apple's coreai-torch narrows silently). Needs coreai-core."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnx.parser
import pytest
import torch

from bridgec.backends.coreai.run import run_model
from bridgec.core.errors import ConversionError, UsageError
from bridgec.driver.convert import convert
from tests.driver.test_text_models import exported  # noqa: F401 - the fixture: ONNX exports with masks
from tests.helpers import assert_matches

ROOT = Path(__file__).resolve().parents[2]
pytest.importorskip("coreai.authoring", reason="coreai-core is not installed (pip install bridgec[coreai])")

pytestmark = pytest.mark.slow


def _hf_zoo():
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import hf_zoo
    finally:
        sys.path.remove(str(ROOT / "examples"))
    return hf_zoo


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> dict[str, Path]:
    """examples/hf_zoo.py's tiny BERT (int64 input_ids) saved as .pt2, .pt and .onnx."""
    hf_zoo, folder = _hf_zoo(), tmp_path_factory.mktemp("bert")
    paths = {
        ".pt2": hf_zoo.save("bert", folder / "bert.pt2", return_dict=False),
        ".pt": hf_zoo.save("bert", folder / "bert.pt"),
    }
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            hf_zoo.build("bert"), hf_zoo.example("bert"), str(folder / "bert.onnx"),
            input_names=["input_ids"], dynamo=False,
        )  # fmt: skip
    paths[".onnx"] = folder / "bert.onnx"
    return paths


def _ids(vocab: int) -> dict[str, np.ndarray]:
    return {"input_ids": np.random.default_rng(3).integers(0, vocab, (1, 16), dtype=np.int64)}


@pytest.mark.parametrize("source", [".pt2", ".pt", ".onnx"])
def test_token_id_model_matches_in_apples_runtime(bert, source):
    vocab = _hf_zoo().VOCAB
    shapes = {"input_ids": ((1, 16), "int64")}  # TorchScript records none
    result = convert(bert[source], format="coreai", write=False, inputs=shapes, check_inputs=_ids(vocab))
    assert result.check.status == "checked", result.check.reason
    assert "Apple's Core AI runtime" in " ".join(result.check.notes)
    assert max(o.max_rel for o in result.check.outputs) < 1e-5
    # the narrowing is named, with the range it guarantees and what the app feeds
    (line,) = [i.line for i in result.report.inputs]
    assert line.startswith("input_ids: int64 in the model, int32 in Core AI (feed int32 values within 0..98")
    assert "lower::index_narrow" in line
    rules = {r.how.split(" ->")[0] for r in result.report.rows if r.status == "lowered"}
    assert "lower::index_narrow/gather_index_to_int32" in rules
    inputs = result.model.program.inputs
    assert [(name, np.dtype(dtype)) for name, _, dtype in inputs] == [("input_ids", np.dtype(np.int32))]


def test_an_id_beyond_the_vocabulary_is_refused(bert):
    """2**32 + 5 wraps to 5 in int32: a silent narrowing would check (and run) token 5. The source
    model refuses the id itself (it indexes 99 rows), and nothing is written."""
    ids = _ids(99)
    ids["input_ids"][0, 3] = 2**32 + 5
    with pytest.raises(ConversionError, match="out of data bounds"):
        convert(bert[".onnx"], format="coreai", write=False, check_inputs=ids)


def test_an_integer_beyond_int32_is_refused_not_wrapped(tmp_path):
    """An int64 input the source takes whole (it indexes nothing): Core AI's int32 input cannot hold
    2**32 + 5, so the check refuses it in one line naming the input."""
    graph = onnx.parser.parse_model(
        '<ir_version: 8, opset_import: ["" : 18]> agraph (int64[1,4] ids) => (float[1,4] y) { y = Cast<to=1>(ids) }'
    )
    path = tmp_path / "ids.onnx"
    onnx.save(graph, str(path))
    fine = convert(
        path, format="coreai", write=False, check_inputs={"ids": np.array([[1, -7, 2**31 - 1, 0]])}
    )
    assert fine.check.status == "checked"
    (line,) = [i.line for i in fine.report.inputs]
    assert line == (
        "ids: int64 in the model, int32 in Core AI (feed int32 values within -2147483648..2147483647: "
        "Core AI holds int64 as int32, and wider values cannot be fed)"
    )
    wide = {"ids": np.array([[1, 2**32 + 5, 3, 4]])}
    with pytest.raises(
        UsageError, match=r"input ids: values .* beyond int32, .*Core AI holds int64 as int32"
    ):
        convert(path, format="coreai", write=False, check_inputs=wide)


def test_gpt2_with_a_padding_mask_matches_in_apples_runtime(tmp_path):
    """GPT-2 with int64 ids and an int64 attention mask (padding and causal masks combined: And, Cast,
    GatherND of a bool mask, boolean-masked attention) from torch.export."""
    hf_zoo = _hf_zoo()
    path = hf_zoo.save("gpt2_mask", tmp_path / "gpt2_mask.pt2", return_dict=False)
    ids, mask = (t.numpy() for t in hf_zoo.example("gpt2_mask"))
    result = convert(
        path, format="coreai", write=False, check_inputs={"input_ids": ids, "attention_mask": mask}
    )
    assert result.check.status == "checked", result.check.reason
    assert max(o.max_rel for o in result.check.outputs) < 1e-5
    lines = [i.line for i in result.report.inputs]
    assert lines[0].startswith(
        "input_ids: int64 in the model, int32 in Core AI (feed int32 values within 0..98"
    )
    assert lines[1].startswith(
        "attention_mask: int64 in the model, int32 in Core AI (feed int32 values within"
    )


@pytest.mark.parametrize("name", ["bert", "distilbert", "gpt2_mask", "gpt2"])
def test_masked_text_models_from_onnx_match_in_apples_runtime(exported, name, tmp_path):  # noqa: F811
    """tests/driver/test_text_models.py's ONNX exports, left-padded so the masks are used: Where,
    Equal/Not/And, Cast among int/bool/float, Expand, CumSum and Range folded, a bool Gather."""
    path, feeds, want = exported[name]
    result = convert(path, format="coreai", write=False, check_inputs=feeds)
    assert result.check.status == "checked", result.check.reason
    assert max(o.max_rel for o in result.check.outputs) < 1e-5
    # the app's side: int32 ids and mask, as the report says, into the written model, against PyTorch
    saved = tmp_path / f"{name}.aimodel"
    result.model.save(saved)
    got = run_model(saved, {k: v.astype(np.int32) for k, v in feeds.items()})["last_hidden_state"]
    assert_matches(got, want)
