"""The Hugging Face families of issue 17 (examples/hf_zoo.py: tiny configs, random weights), each
from TorchScript (a tuple) and from torch.export (the ModelOutput, whose fields name the outputs):
an ML Program converts with no custom layer and matches PyTorch in the reference executor; a
NeuralNetwork matches too, or refuses in one line naming the op it lacks (``NN_REFUSES``)."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from bridgec.core.errors import BridgecError  # noqa: E402
from bridgec.driver.convert import convert  # noqa: E402
from examples import hf_zoo  # noqa: E402

pytestmark = pytest.mark.slow

NN, MLP = "neuralnetwork", "mlprogram"
# The worst output's max |Core ML - PyTorch| / max |PyTorch|: every family measures 1e-7..1e-6 (fp32
# rounding); ten times that, and ten times under the check's own fp32 tolerance.
MAX_REL = 1e-5
# family -> the op a NeuralNetwork lacks for it (its refusal names it); a family not here must match
NN_REFUSES: dict[str, str] = {}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hf")

    def save(name: str, suffix: str):
        path = folder / f"{name}{suffix}"
        return path if path.exists() else hf_zoo.save(name, path)

    return save


def _inputs(name: str) -> dict:
    """A TorchScript file records no dtypes: the text models' ids are asked for as int64."""
    from bridgec.core.tensor_spec import TensorSpec

    return {
        n: TensorSpec(shape, str(dtype).removeprefix("torch."))
        for n, shape, dtype in hf_zoo.MODELS[name].inputs
    }


@pytest.mark.parametrize("fmt", [MLP, NN])
@pytest.mark.parametrize("suffix", [".pt", ".pt2"])
@pytest.mark.parametrize("name", list(hf_zoo.MODELS))
def test_hf_model_converts_and_matches(name, suffix, fmt, saved):
    path = saved(name, suffix)
    inputs = _inputs(name) if suffix == ".pt" else None  # a .pt2 records its inputs' shapes and dtypes
    if fmt == NN and name in NN_REFUSES:
        with pytest.raises(BridgecError) as refused:
            convert(path, inputs=inputs, format=fmt, write=False, strict=True)
        line = str(refused.value)
        assert "\n" not in line and NN_REFUSES[name] in line, line
        return
    result = convert(path, inputs=inputs, format=fmt, write=False, strict=True)
    assert result.check.status == "checked" and result.check.reference == "PyTorch", result.check.line()
    assert result.check.max_rel <= MAX_REL, result.check.line()
    assert not [r for r in result.report.rows if r.status in ("custom", "unsupported")], result.report.rows
    if suffix == ".pt2":  # the archive returns the ModelOutput: its fields name the Core ML outputs
        assert [o.name for o in result.check.outputs] == _fields(name), result.check.outputs


def _fields(name: str) -> list[str]:
    import torch

    with torch.no_grad():
        return list(hf_zoo.build(name, return_dict=True)(*hf_zoo.example(name)).keys())


@pytest.mark.parametrize("name", list(hf_zoo.MODELS))
def test_hf_model_outputs_are_not_trivial(name):
    # a zero or input-independent output would make every check above pass for nothing
    import torch

    model = hf_zoo.build(name)
    with torch.no_grad():
        first, second = model(*hf_zoo.example(name, seed=1)), model(*hf_zoo.example(name, seed=2))
    for a, b in zip(first, second, strict=True):
        assert torch.isfinite(a).all() and a.abs().max() > 0 and not torch.equal(a, b)
