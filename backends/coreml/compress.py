"""Compressed weights (``--compress``): fewer bits per weight, decompressed by Core ML when the model loads.

One table, ``MODES``, says what each mode is, which format and target can hold it and at which
granularity; the command line's help, the refusals and the report read it. The work is coremltools':

- ML Program: ``coremltools.optimize.coreml`` on the built model. Linear modes write
  ``constexpr_affine_dequantize`` (iOS16/17) or ``constexpr_blockwise_shift_scale`` (iOS18), palettized
  ones ``constexpr_lut_to_dense`` (the iOS16 form with one LUT per tensor, the iOS18 form with a LUT per
  group of output channels).
- NeuralNetwork: ``coremltools.models.neural_network.quantization_utils``, which stores ``WeightParams``
  as ``rawValue`` with ``QuantizationParams`` (linear: a scale and bias per output channel; LUT: one
  table per weight tensor). NeuralNetwork.proto allows 1 to 8 bits for both, so every mode fits.

The LUT of a palettized mode comes from ``kmeans_lut`` (a one-dimensional k-means in numpy), handed to
coremltools as its "custom" LUT function: coremltools' own k-means needs scikit-learn or kmeans1d,
which bridgec does not depend on.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bridgec.backends.coreml import _coremltools
from bridgec.backends.coreml.model import BuiltModel

# Tensors with fewer elements (biases, norms, small kernels) stay float: coremltools' own default
# (OpLinearQuantizerConfig.weight_threshold), applied here to NeuralNetwork models too.
WEIGHT_THRESHOLD = 2048
BLOCK_SIZE = 32  # int4 at iOS18: a scale per 32 input channels of an output channel (fewer: _fitted_configs)
GROUP_SIZE = 16  # palettized at iOS18: a LUT per 16 output channels (fewer: _fitted_configs)
MLPROGRAM_IOS = 16  # the constexpr ops that hold compressed weights are iOS16 MIL
GROUPED_IOS = 18  # per-block scales and grouped LUTs are iOS18 MIL


@dataclass(frozen=True)
class Mode:
    """A compression mode: ``kind`` "linear" (integers with a scale) or "palettize" (indices into a
    LUT of 2**nbits values); ``mlprogram_ios``: the first iOS whose ML Program can hold it."""

    name: str
    kind: str
    nbits: int
    mlprogram_ios: int
    help: str

    def blocked(self, format: str, ios: int) -> bool:
        """Whether blocks or groups of channels share the parameters (iOS18 MIL), rather than each
        output channel (linear) or the whole tensor (palettized)."""
        if format != "mlprogram":
            return False
        # 8 bits: int8 stays per-channel (a scale per output channel is already fine), and a LUT of 256
        # float32 entries per group of channels outweighs what it saves (mobilenet_v2: 0.34x grouped
        # against 0.26x one LUT per tensor, error 0.020 against 0.018; docs/compression.md)
        return self.nbits < 8 and (self.kind == "linear" or ios >= GROUPED_IOS)

    def granularity(self, format: str, ios: int) -> str:
        """How finely the parameters are shared, for this format and target."""
        blocked = self.blocked(format, ios)
        if self.kind == "linear":
            return f"per-block (up to {BLOCK_SIZE} input channels a scale)" if blocked else "per-channel"
        return f"per-grouped-channel (up to {GROUP_SIZE} output channels a LUT)" if blocked else "per-tensor"

    def refusal(self, format: str, ios: int) -> str | None:
        """Why ``format`` at iOS ``ios`` cannot hold this mode (one line naming the minimum), or None."""
        if format != "mlprogram" or ios >= self.mlprogram_ios:
            return None
        return (
            f"--compress {self.name} in an ML Program needs --target iOS{self.mlprogram_ios} or newer "
            f"(given iOS{ios}); choose a newer --target or --format neuralnetwork"
        )


MODES: dict[str, Mode] = {
    mode.name: mode
    for mode in (
        Mode("int8", "linear", 8, MLPROGRAM_IOS, "8-bit integers, a scale per output channel"),
        Mode("int4", "linear", 4, GROUPED_IOS, "4-bit integers, a scale per block (ML Program iOS18)"),
        Mode("palettize8", "palettize", 8, MLPROGRAM_IOS, "256-entry k-means LUT"),
        Mode("palettize4", "palettize", 4, MLPROGRAM_IOS, "16-entry k-means LUT"),
        Mode("palettize2", "palettize", 2, MLPROGRAM_IOS, "4-entry k-means LUT"),
    )
}


def describe_modes() -> str:
    """The modes for ``--help``."""
    return "; ".join(f"{m.name}: {m.help}" for m in MODES.values())


@dataclass
class Compressed:
    """A compressed model and what compression did to its size."""

    built: BuiltModel
    mode: str
    granularity: str
    size_before: int  # bytes of weights: the weight files of an ML Program, the spec of a NeuralNetwork
    size_after: int


def weight_bytes(built: BuiltModel) -> int:
    """What the weights take: an ML Program's weight files, a NeuralNetwork's whole spec (its
    weights live in it)."""
    if built.format == "neuralnetwork":
        return built.spec.ByteSize()
    folder = Path(built.mlmodel.weights_dir)
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def compress(built: BuiltModel, mode_name: str, ios: int) -> Compressed:
    """``built`` with its weights compressed by ``mode_name`` (a key of MODES) for iOS ``ios``; the
    caller has checked ``Mode.refusal``."""
    mode = MODES[mode_name]
    if built.format == "mlprogram":
        after = _compress_mlprogram(built, mode, ios)
    else:
        after = _compress_neuralnetwork(built, mode)
    return Compressed(
        after, mode.name, mode.granularity(built.format, ios), weight_bytes(built), weight_bytes(after)
    )


@contextlib.contextmanager
def _quiet():
    # coremltools prints a line per layer and a progress bar per pass, and warns about skipped weights
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        yield


def _compress_mlprogram(built: BuiltModel, mode: Mode, ios: int) -> BuiltModel:
    _coremltools.load()
    import coremltools.optimize.coreml as cto

    if mode.kind == "linear":
        config = cto.OpLinearQuantizerConfig(
            mode="linear_symmetric",
            dtype=f"int{mode.nbits}",
            granularity="per_block" if mode.blocked("mlprogram", ios) else "per_channel",
            block_size=BLOCK_SIZE,
            weight_threshold=WEIGHT_THRESHOLD,
        )
        run = cto.linear_quantize_weights
    else:
        config = cto.OpPalettizerConfig(
            mode="custom",
            lut_function=lambda values: kmeans_lut(values, mode.nbits),
            granularity="per_grouped_channel" if mode.blocked("mlprogram", ios) else "per_tensor",
            group_size=GROUP_SIZE,
            weight_threshold=WEIGHT_THRESHOLD,
        )
        run = cto.palettize_weights
    fitted = _fitted_configs(built.mlmodel, config, mode, ios)
    with _quiet():
        model = run(built.mlmodel, cto.OptimizationConfig(global_config=config, op_name_configs=fitted))
    spec = model.get_spec()
    # The interface and metadata are the built model's (bridgec's provenance, no conversion date).
    spec.description.CopyFrom(built.spec.description)
    spec.specificationVersion = max(spec.specificationVersion, built.spec.specificationVersion)
    return BuiltModel("mlprogram", spec, model, built.precision)


def _fitted_configs(mlmodel: Any, config: Any, mode: Mode, ios: int) -> dict[str, Any]:
    """Per-weight configs where BLOCK_SIZE or GROUP_SIZE does not divide the weight's channels (a
    1000-class classifier, a 3-channel first convolution, a depthwise kernel): coremltools would leave
    such a weight float, so its block or group shrinks to the largest size that divides them."""
    import attrs
    from coremltools.optimize._utils import select_input_output_channel_axis

    if not mode.blocked("mlprogram", ios):
        return {}  # per-channel and per-tensor fit every weight
    fitted = {}
    for op in mlmodel._mil_program.functions["main"].find_ops(op_type="const"):
        value = op.outputs[0].val
        if not isinstance(value, np.ndarray) or value.size < WEIGHT_THRESHOLD or value.ndim < 2:
            continue
        inputs, outputs = select_input_output_channel_axis(op)
        if inputs is None or outputs is None:
            continue
        if mode.kind == "linear":
            size = math.gcd(value.shape[inputs], BLOCK_SIZE)
            if size != BLOCK_SIZE:
                fitted[op.name] = attrs.evolve(config, block_size=size)
        else:
            size = math.gcd(value.shape[outputs], GROUP_SIZE)
            if size != GROUP_SIZE:
                fitted[op.name] = attrs.evolve(config, group_size=size)
    return fitted


def _compress_neuralnetwork(built: BuiltModel, mode: Mode) -> BuiltModel:
    ct = _coremltools.load()
    from coremltools.models.neural_network import quantization_utils

    options: dict[str, Any] = {"selector": _large_weights_selector(quantization_utils)}
    if mode.kind == "linear":
        options["quantization_mode"] = "linear"
    else:
        options["quantization_mode"] = "custom_lut"
        options["lut_function"] = lambda nbits, values: kmeans_lut(values, nbits)
    with _quiet():
        model = quantization_utils.quantize_weights(
            ct.models.MLModel(built.spec, skip_model_load=True), mode.nbits, **options
        )
    return BuiltModel("neuralnetwork", model.get_spec(), None, built.precision)


# the WeightParams field of each layer kind that quantize_weights compresses (its bias never)
_WEIGHT_FIELDS = {
    "convolution": "weights",
    "innerProduct": "weights",
    "batchedMatmul": "weights",
    "embedding": "weights",
    "embeddingND": "weights",
    "loadConstant": "data",
    "loadConstantND": "data",
}


def _large_weights_selector(quantization_utils: Any) -> Any:
    """quantize_weights' default quantizes every weight, biases and norms included; this keeps
    what ML Program keeps float (WEIGHT_THRESHOLD) float here too."""

    class LargeWeights(quantization_utils.QuantizedLayerSelector):
        def do_quantize(self, layer: Any, weight_param: str | None = None, **kwargs: Any) -> bool:
            kind = layer.WhichOneof("layer")
            if weight_param == "bias" or kind not in _WEIGHT_FIELDS:
                return False
            params = getattr(getattr(layer, kind), _WEIGHT_FIELDS[kind])
            return len(params.floatValue) >= WEIGHT_THRESHOLD

    return LargeWeights()


def kmeans_lut(values: np.ndarray, nbits: int, iterations: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """A LUT of ``2**nbits`` values and each value's index into it (uint8, flat): Lloyd's k-means in
    one dimension on the distinct values weighted by their counts, each step a ``searchsorted``
    against the midpoints of the sorted centres. It starts from the even grid over the values' range
    (coremltools' "uniform" LUT), and no Lloyd step raises the squared error, so the LUT is never
    worse than that grid."""
    flat = np.asarray(values).reshape(-1)
    k = 1 << nbits
    distinct, inverse, counts = np.unique(flat.astype(np.float64), return_inverse=True, return_counts=True)
    if distinct.size <= k:  # every value gets its own entry: exact
        lut = np.zeros(k, np.float64)
        lut[: distinct.size] = distinct
        return lut.astype(flat.dtype), inverse.reshape(-1).astype(np.uint8)
    centres = np.linspace(distinct[0], distinct[-1], k)
    weight = counts.astype(np.float64)
    for _ in range(iterations):
        assign = np.searchsorted((centres[1:] + centres[:-1]) / 2, distinct)
        mass = np.bincount(assign, weight, k)
        sums = np.bincount(assign, weight * distinct, k)
        moved = np.sort(np.where(mass > 0, sums / np.maximum(mass, 1e-300), centres))
        if np.array_equal(moved, centres):
            break
        centres = moved
    assign = np.searchsorted((centres[1:] + centres[:-1]) / 2, distinct)
    return centres.astype(flat.dtype), assign[inverse.reshape(-1)].astype(np.uint8)


__all__ = ["MODES", "WEIGHT_THRESHOLD", "Compressed", "Mode", "compress", "kmeans_lut", "weight_bytes"]
