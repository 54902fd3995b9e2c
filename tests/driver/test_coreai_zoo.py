"""The zoo's classification models (examples/zoo.py, but mobilenet_v2 and resnet18, which
test_coreai.py converts through the CLI) and the bundled example to ``.aimodel``: each converts,
Apple's runtime runs it, and its outputs match PyTorch's (the conversion's own check, whose max
relative error is asserted here); the rules each needs are named in its report."""

from __future__ import annotations

import warnings

import pytest

from bridgec.driver.convert import convert
from examples import zoo

pytestmark = pytest.mark.slow
pytest.importorskip("coreai.authoring", reason="coreai-core is not installed (pip install bridgec[coreai])")

# the relative error the conversions reach is ~1e-6 (float32 sums in another order); 1e-4 still
# fails a wrong op (a wrong pool divisor, a misplaced slice, an erf for tanh are 1e-3 and more)
MAX_REL = 1e-4

# model -> rules its conversion needs where Core AI lacks the op (each must appear in the report)
MODELS = {
    "squeezenet1_1": (),
    "mobilenet_v3_large": (
        "lower::kept_activations/hardswish_to_max_min",
        "lower::kept_activations/hardsigmoid_to_max_min",
    ),
    "shufflenet_v2_x1_0": (),  # Slice of the channel split (its ends folded from x.shape)
    "efficientnet_b0": (),
    "densenet121": (),  # a one-input Concat per dense block
    "resnet50": (),
    "vit_b_16": ("lower::layernorm/layernorm_bias_to_moments",),  # the class token: a constant Gather
}


def _rules(result) -> set[str]:
    return {f"{r.pass_id}/{r.rule}" for r in result.analysis.context.rewrites}


def _assert_checked(result, rules) -> None:
    assert result.check.status == "checked", result.check.reason
    assert "Apple's Core AI runtime" in " ".join(result.check.notes)
    worst = max(o.max_rel for o in result.check.outputs)
    assert worst <= MAX_REL, worst
    assert set(rules) <= _rules(result), sorted(_rules(result))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("coreai_zoo")


@pytest.mark.parametrize("name", MODELS)
def test_zoo_model_matches_pytorch_in_apples_runtime(name, folder):
    path = folder / f"{name}.pt"
    if not path.exists():
        zoo.save(name, path)
    result = convert(path, format="coreai", inputs={None: zoo.MODELS[name]}, write=False)
    _assert_checked(result, MODELS[name])


def test_bundled_example_matches_pytorch_in_apples_runtime(faceseg_path):
    """tools/demo.sh's model: ReLU6 and nn.Hardtanh as max/min, nearest and bilinear upsampling (both
    align_corners) as interpolation matrices."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = convert(faceseg_path, format="coreai", inputs={"x": (1, 3, 256, 256)}, write=False)
    _assert_checked(result, ("lower::hardtanh/hardtanh_to_max_min", "lower::resize/resize_to_matmul"))
