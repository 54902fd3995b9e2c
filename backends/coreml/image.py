"""Image inputs and outputs (``--image-input``, ``--image-output``), whichever the format.

An app hands Core ML a CVPixelBuffer and gets one back; the network sees a 1 x C x H x W float
tensor. What is declared here is shared by both emitters: which input or output becomes an image, in
which color layout, with which scale and bias. A NeuralNetwork carries the scale and bias in its
preprocessing (``NeuralNetworkImageScaler``); an ML Program carries them as ``mul`` and ``add`` ops
after the input, which coremltools writes from a ``ct.ImageType`` (``insert_image_preprocessing_ops``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core.errors import UsageError

COLOR_LAYOUTS = ("RGB", "BGR", "GRAY")
_ALIASES = {"G": "GRAY", "GRAYSCALE": "GRAY"}  # "G" as coremltools and issue 18 spell it


def _canonical(name: str) -> str:
    return _ALIASES.get(name.upper(), name.upper())


def color_layout(name: str) -> str:
    """``name`` as one of ``COLOR_LAYOUTS`` (any case; ``G`` is GRAY), else a one-line error."""
    layout = _canonical(name)
    if layout not in COLOR_LAYOUTS:
        raise UsageError(f"--color-layout {name}: choose one of {', '.join(COLOR_LAYOUTS)} (or G)")
    return layout


@dataclass(frozen=True)
class ImageInput:
    """Make input ``name`` a Core ML image (CVPixelBuffer): pixel * scale + bias per channel.

    ``bias`` has one value for every channel or one per channel in R, G, B order (whatever the
    layout); ``color_layout`` is the channel order the network expects: RGB, BGR or GRAY.
    """

    name: str
    scale: float = 1.0
    bias: tuple[float, ...] = (0.0,)
    color_layout: str = "RGB"

    def __post_init__(self) -> None:
        object.__setattr__(self, "color_layout", _canonical(self.color_layout))


@dataclass(frozen=True)
class ImageOutput:
    """Make output ``name`` (1x3xHxW, or 1x1xHxW for a gray image) a Core ML image. A 3-channel
    output is in ``color_layout`` (RGB or BGR); a 1-channel one is GRAY whatever it says."""

    name: str
    color_layout: str = "RGB"

    def __post_init__(self) -> None:
        object.__setattr__(self, "color_layout", _canonical(self.color_layout))


@dataclass(frozen=True)
class InputPlan:
    """An image input checked against the graph: its layout, size and the bias per network channel."""

    name: str
    layout: str
    shape: tuple[int, int, int, int]
    scale: float
    bias: tuple[float, ...]  # one per channel, in the network's channel order

    @property
    def rgb_bias(self) -> tuple[float, float, float]:
        """The bias of the red, green and blue channels (NeuralNetworkImageScaler's fields)."""
        if self.layout == "GRAY":
            return (self.bias[0],) * 3
        red, green, blue = self.bias[::-1] if self.layout == "BGR" else self.bias
        return red, green, blue


@dataclass(frozen=True)
class OutputPlan:
    name: str
    layout: str
    shape: tuple[int, int, int, int]


def _dims(shape: Sequence[Any]) -> str:
    return "x".join(str(d) for d in shape)


def _hint(shape: tuple[Any, ...], layout: str | None = None) -> str:
    """Why a 4-D shape is not the image asked for, when a likely mistake explains it."""
    if len(shape) != 4:
        return ""
    if shape[-1] in (1, 3) and shape[1] not in (1, 3):
        return " (channels last? Core ML images are NCHW: permute to 1xCxHxW in the model)"
    if layout is not None and shape[1] in (1, 3) and (shape[1] == 1) != (layout == "GRAY"):
        return (
            " (one channel: --color-layout GRAY)"
            if shape[1] == 1
            else " (three channels: --color-layout RGB or BGR)"
        )
    return ""


def plan_input(graph: gs.Graph, image: ImageInput) -> InputPlan:
    """Check ``image`` against ``graph``'s inputs; raises a one-line UsageError naming the fix."""
    tensor = next((t for t in graph.inputs if t.name == image.name), None)
    if tensor is None:
        raise UsageError(
            f"--image-input {image.name}: not an input of the model (its inputs: "
            f"{', '.join(t.name for t in graph.inputs)})"
        )
    layout = color_layout(image.color_layout)
    channels = 1 if layout == "GRAY" else 3
    shape = tuple(tensor.shape or ())
    if len(shape) != 4 or shape[0] != 1 or shape[1] != channels or not all(isinstance(d, int) for d in shape):
        raise UsageError(
            f"--image-input {image.name}: a {layout} image input must have shape 1x{channels}xHxW, "
            f"the model's is {_dims(shape)}{_hint(shape, layout)}"
        )
    if tensor.dtype is not None and np.dtype(tensor.dtype) != np.float32:
        raise UsageError(
            f"--image-input {image.name}: the input is {np.dtype(tensor.dtype)}; an image feeds a float32 input"
        )
    bias = tuple(float(b) for b in image.bias)
    if len(bias) not in (1, channels):
        raise UsageError(f"--bias: give 1 or {channels} values for a {layout} image, not {len(bias)}")
    bias = bias * (channels // len(bias))
    if layout == "BGR":
        bias = bias[::-1]  # given in R, G, B order; the network's first channel is blue
    return InputPlan(image.name, layout, shape, float(image.scale), bias)  # type: ignore[arg-type]


def plan_outputs(
    graph: gs.Graph, outputs: Iterable[ImageOutput], shapes: dict[str, tuple[int, ...] | None]
) -> list[OutputPlan]:
    """Check each image output against ``graph``'s outputs (``shapes``: their static shapes, or None)."""
    names = [t.name for t in graph.outputs]
    plans = []
    for output in outputs:
        if output.name not in names:
            raise UsageError(
                f"--image-output {output.name}: not an output of the model (its outputs: {', '.join(names)})"
            )
        tensor = graph.outputs[names.index(output.name)]
        shape = tuple(shapes.get(output.name) or ())
        if len(shape) != 4 or shape[0] != 1 or shape[1] not in (1, 3):
            raise UsageError(
                f"--image-output {output.name}: an image output must have shape 1x3xHxW (RGB/BGR) or "
                f"1x1xHxW (GRAY), the model's is {_dims(shape) or 'unknown'}{_hint(shape)}"
            )
        if tensor.dtype is not None and np.dtype(tensor.dtype).kind != "f":
            raise UsageError(
                f"--image-output {output.name}: the output is {np.dtype(tensor.dtype)}; an image is made from "
                "a float tensor"
            )
        layout = color_layout(output.color_layout) if shape[1] == 3 else "GRAY"
        if layout == "GRAY" and shape[1] == 3:
            layout = "RGB"  # a GRAY --color-layout describes the input; this output has 3 channels
        plans.append(OutputPlan(output.name, layout, shape))  # type: ignore[arg-type]
    if len({p.name for p in plans}) != len(plans):
        raise UsageError("--image-output: each output once")
    return plans


def set_image_outputs(spec: Any, plans: Iterable[OutputPlan]) -> None:
    """Declare each planned output of ``spec`` (either format) an image of its size and layout: Core ML
    then hands the app a pixel buffer made from the 1xCxHxW tensor the model computes."""
    described = {f.name: f for f in spec.description.output}
    for plan in plans:
        image = described[plan.name].type.imageType  # replaces the multiarray of the oneof
        image.width, image.height = plan.shape[3], plan.shape[2]
        image.colorSpace = image.ColorSpace.Value("GRAYSCALE" if plan.layout == "GRAY" else plan.layout)


def _ct_layout(ct: Any, layout: str) -> Any:
    return {"RGB": ct.colorlayout.RGB, "BGR": ct.colorlayout.BGR, "GRAY": ct.colorlayout.GRAYSCALE}[layout]


def coremltools_input_type(ct: Any, plan: InputPlan) -> Any:
    """The ``ct.ImageType`` of an ML Program image input: coremltools declares the feature and writes
    ``mul`` (scale) then ``add`` (bias, in the network's channel order) after it."""
    bias: float | list[float] = plan.bias[0] if plan.layout == "GRAY" else list(plan.bias)
    return ct.ImageType(
        name=plan.name,
        shape=plan.shape,
        scale=plan.scale,
        bias=bias,
        color_layout=_ct_layout(ct, plan.layout),
    )


def coremltools_output_type(ct: Any, plan: OutputPlan) -> Any:
    """The ``ct.ImageType`` of an ML Program image output (no scale or bias: Core ML has none there)."""
    return ct.ImageType(name=plan.name, color_layout=_ct_layout(ct, plan.layout))


__all__ = [
    "COLOR_LAYOUTS",
    "ImageInput",
    "ImageOutput",
    "InputPlan",
    "OutputPlan",
    "color_layout",
    "coremltools_input_type",
    "coremltools_output_type",
    "plan_input",
    "plan_outputs",
    "set_image_outputs",
]
