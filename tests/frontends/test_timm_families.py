"""The timm families issue 22 names (repvit, levit, efficientvit, mobilevitv2, poolformer,
tf_efficientnetv2, swin) and issue 17 adds (edgenext, coatnet, fastvit, convnext), random weights:
each converts in both formats with no custom layer,
the rule that legalises what the target refuses fires, and the emitted model matches PyTorch in
the reference executor — from TorchScript in both formats, from torch.export as an ML Program."""

from __future__ import annotations

import numpy as np
import pytest

from bridgec.driver.verify import verify
from examples import timm_zoo

pytestmark = pytest.mark.slow

NN, MLP = "neuralnetwork", "mlprogram"
BN_RANK4 = "lower::normalization/batchnorm_unsqueeze_to_rank4"
IN_RANK4 = "lower::normalization/instancenorm_unsqueeze_to_rank4"
RANK = "lower::rank/merge_view_axes"
PAD = "fuse::pad_into_conv/pad_into_conv"
ATTENTION = "lower::attention/attention_additive_decomposed"  # below iOS 18: no MIL attention op

# name -> format -> the rules (pass/rule) that must fire: what the target refuses in that model
RULES: dict[str, dict[str, set[str]]] = {
    "repvit_m0_9": {NN: {BN_RANK4}, MLP: set()},
    "levit_128s": {NN: {BN_RANK4}, MLP: set()},
    "efficientvit_m0": {NN: {BN_RANK4, RANK}, MLP: {RANK}},
    "mobilevitv2_050": {NN: {IN_RANK4, RANK}, MLP: {RANK}},
    "poolformer_s12": {NN: {IN_RANK4}, MLP: set()},
    "tf_efficientnetv2_b0": {NN: {PAD}, MLP: {PAD}},
    "swin_tiny_patch4_window7_224": {NN: {RANK}, MLP: {RANK}},
    "edgenext_xx_small": {NN: set(), MLP: set()},
    "coatnet_pico_rw_224": {NN: {ATTENTION}, MLP: {ATTENTION}},  # the relative position bias is its mask
    "fastvit_t8": {NN: set(), MLP: set()},
    "convnext_atto": {NN: set(), MLP: set()},
}


def test_every_timm_model_is_tested():
    assert set(RULES) == set(timm_zoo.MODELS)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timm")

    def save(name: str, suffix: str):
        path = folder / f"{name}{suffix}"
        return path if path.exists() else timm_zoo.save(name, path)

    return save


def _check(result, name: str, fmt: str, rules: set[str]) -> None:
    assert result.passed, [(c.output, c.runtime, c.max_abs) for c in result.comparisons]
    statuses = {row.status for row in result.report.rows}
    assert not statuses & {"custom", "unsupported"}, [r for r in result.report.rows if r.status != "native"]
    fired = {row.how.split(" -> ")[0] for row in result.report.rows if row.status == "lowered"}
    assert rules <= fired, fired
    coreml, reference = result.outputs["coreml_reference"], result.outputs["pytorch"]
    for output, want in reference.items():
        assert np.abs(want).max() > 1e-3, output  # not a trivially zero output
        assert np.abs(coreml[output] - want).max() <= 1e-4 * np.abs(want).max(), output


@pytest.mark.parametrize("fmt", [NN, MLP])
@pytest.mark.parametrize("name", list(timm_zoo.MODELS))
def test_timm_model_from_torchscript(name, fmt, saved):
    path = saved(name, ".pt")
    result = verify(path, inputs={None: timm_zoo.MODELS[name][0]}, format=fmt, tolerance=1e-4)
    _check(result, name, fmt, RULES[name][fmt])


@pytest.mark.parametrize("name", list(timm_zoo.MODELS))
def test_timm_model_from_torch_export(name, saved):
    result = verify(saved(name, ".pt2"), format=MLP, tolerance=1e-4)
    # torch.export's ONNX optimiser already folds a constant Pad into the Conv (onnxscript's rewriter)
    _check(result, name, MLP, RULES[name][MLP] - {PAD})
