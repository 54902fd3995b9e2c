"""Video-style torch models (3-D convolution and pooling) converted to a NeuralNetwork end to end:
the conversion checks the emitted model against PyTorch and raises on a mismatch. A 1-D
ConvTranspose goes through lower::conv1d; a 3-D one has no NeuralNetwork form (NeuralNetwork.proto
does not define Convolution3D's deconvolution), which the conversion says, and an ML Program takes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bridgec.core.errors import BridgecError
from tests.passes.lower.legalize_cases import MLP, NN, convert_module


def _seeded(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for parameter in module.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    for buffer_name, buffer in module.named_buffers():
        if buffer_name.endswith("running_var"):
            buffer.uniform_(0.5, 2.0)
        elif buffer_name.endswith("running_mean"):
            buffer.normal_()
    return module


def video_stem() -> nn.Module:
    """An r3d-style stem and head: conv, batchnorm, relu, a grouped conv (negative values), a padded
    max pool, average pools (ceil_mode; padding not counted), a dilated conv, a global pool."""
    return _seeded(
        nn.Sequential(
            nn.Conv3d(3, 8, (3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2), bias=False),
            nn.BatchNorm3d(8),
            nn.ReLU(),
            nn.Conv3d(8, 8, 3, padding=1, groups=2),
            nn.MaxPool3d(3, stride=2, padding=1),
            nn.AvgPool3d((1, 2, 2), stride=(1, 2, 2), ceil_mode=True),
            nn.Conv3d(8, 6, (2, 3, 3), dilation=(1, 2, 1), padding=(0, 2, 0)),
            nn.AvgPool3d(2, stride=1, padding=1, count_include_pad=False),
            nn.AdaptiveAvgPool3d(1),
        )
    )


@pytest.mark.slow
def test_video_model_converts_to_neuralnetwork(tmp_path):
    rules = convert_module(video_stem(), (1, 3, 8, 30, 34), NN, tmp_path)
    # the padded MaxPool3d through a -inf Pad (BatchNorm3d folds into the convolution before it)
    assert rules == ["lower::maxpool_pads/maxpool_pads_as_neg_inf"]


@pytest.mark.slow
def test_conv_transpose1d_converts_to_neuralnetwork(tmp_path):
    module = _seeded(
        nn.Sequential(nn.ConvTranspose1d(4, 3, 4, stride=2, padding=1, output_padding=1), nn.ReLU())
    )
    rules = convert_module(module, (2, 4, 9), NN, tmp_path)
    assert "lower::conv1d/conv_transpose1d_to_2d" in rules


def _upsampler() -> nn.Module:
    return _seeded(nn.Sequential(nn.Conv3d(2, 4, 3, padding=1), nn.ConvTranspose3d(4, 2, 2, stride=2)))


@pytest.mark.slow
def test_conv_transpose3d_names_why_a_neuralnetwork_cannot_hold_it(tmp_path):
    with pytest.raises(BridgecError, match="does not define Convolution3D's deconvolution"):
        convert_module(_upsampler(), (1, 2, 3, 4, 5), NN, tmp_path)


@pytest.mark.slow
def test_conv_transpose3d_converts_to_an_ml_program(tmp_path):
    convert_module(_upsampler(), (1, 2, 3, 4, 5), MLP, tmp_path)
