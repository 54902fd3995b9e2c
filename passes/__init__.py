"""Graph passes: cleanup, canonicalisation, lowering rules, custom-layer tagging, and pipelines.

Pipelines are data: each ``-O`` name is a list of registered pass ids.
"""

from __future__ import annotations

from bridgec.core.errors import BridgecError
from bridgec.passes._infra import (
    REGISTRY,
    Capabilities,
    Pass,
    PassContext,
    PassResult,
    Pipeline,
    Rewrite,
    Sequential,
    check_order,
    create,
    insert_in_order,
    register,
)
from bridgec.passes._instrument import DumpDir, GraphCheck, PrintAfter, VerifyEach, render_stats
from bridgec.passes._pattern import Builder, NearMiss, Rule, RuleSet, const_scalar
from bridgec.passes.canonicalize import ClipToHardTanh
from bridgec.passes.cleanup import DeadNodes, FoldConstants, RemoveIdentities, cleanup
from bridgec.passes.custom import CheckTargetLegal, TagCustomLayers
from bridgec.passes.fuse import PadIntoConv  # noqa: F401 - registers fuse::pad_into_conv
from bridgec.passes.lower.attention import LegalizeAttention  # noqa: F401 - registers lower::attention
from bridgec.passes.lower.batchnorm_affine import LegalizeBatchNormAffine  # noqa: F401 - lower::batchnorm_affine
from bridgec.passes.lower.cast import LegalizeCast
from bridgec.passes.lower.conv1d import LegalizeConv1d  # noqa: F401 - registers lower::conv1d
from bridgec.passes.lower.conv_parts import LegalizeConvParts  # noqa: F401 - registers lower::conv_parts
from bridgec.passes.lower.einsum import LowerEinsum
from bridgec.passes.lower.gather import LegalizeGather
from bridgec.passes.lower.gemm import LegalizeGemm  # noqa: F401 - registers lower::gemm
from bridgec.passes.lower.hardtanh import LegalizeClip, LowerHardTanh
from bridgec.passes.lower.index_narrow import NarrowIndices  # noqa: F401 - registers lower::index_narrow
from bridgec.passes.lower.kept_activations import LowerKeptActivations
from bridgec.passes.lower.layernorm import LegalizeInstanceNorm, LegalizeLayerNorm  # noqa: F401 - lower::layernorm, lower::instancenorm
from bridgec.passes.lower.math import LegalizeIsNaN, LegalizeReciprocal, LowerMath
from bridgec.passes.lower.matmul import LegalizeMatMul
from bridgec.passes.lower.maxpool_pads import LegalizeMaxPoolPads  # noqa: F401 - registers lower::maxpool_pads
from bridgec.passes.lower.minmax import LegalizeMinMax
from bridgec.passes.lower.normalization import LegalizeNormalization  # noqa: F401 - registers lower::normalization
from bridgec.passes.lower.onnx_function import LegalizeOnnxFunction
from bridgec.passes.lower.pad import LegalizePad  # noqa: F401 - registers lower::pad
from bridgec.passes.lower.prelu import LegalizePRelu
from bridgec.passes.lower.rank import LegalizeRank  # noqa: F401 - registers lower::rank
from bridgec.passes.lower.reduce import LegalizeReduce  # noqa: F401 - registers lower::reduce
from bridgec.passes.lower.resize import LowerResize  # noqa: F401 - registers lower::resize
from bridgec.passes.lower.resize_rank import LegalizeResizeRank  # noqa: F401 - registers lower::resize_rank
from bridgec.passes.lower.trilu import LegalizeTrilu  # noqa: F401 - registers lower::trilu

_CLEANUP = ("cleanup::fold_constants", "cleanup::identities", "cleanup::dead_nodes")
# exact fusions that save the target a layer: every pipeline that rewrites runs them
_FUSE = ("fuse::pad_into_conv",)
# Legalisations: where the target's op cannot take a node as it is, the same computation in ops it
# has (what an emitter would otherwise write by itself, unnamed). Every pipeline runs them, -O none
# included, so what each format converted before still converts, and the report names the rule;
# after the lowering rules (which may have a better form for a node, and make only legal nodes) and
# before custom layers (a last resort, not a legal form).
_LEGALIZE = (
    "lower::onnx_function",  # first: it hands what it leaves to the ones after it
    "lower::clip",
    "lower::prelu",
    "lower::minmax",
    "lower::cast",
    "lower::attention",  # before lower::matmul, which lifts what its MatMuls need
    "lower::matmul",
    "lower::index_narrow",  # before lower::gather: a narrowed Gather is legal as it is
    "lower::gather",
    "lower::conv1d",
    "lower::conv_parts",  # after conv1d: a 1-D conv is 2-D by then
    "lower::gemm",
    "lower::maxpool_pads",
    "lower::pad",
    "lower::reciprocal",
    "lower::mod",
    "lower::isnan",
    "lower::trilu",
    "lower::normalization",
    "lower::batchnorm_affine",  # after lower::normalization, whose rank changes it would undo
    "lower::layernorm",
    "lower::instancenorm",
    "lower::reduce",
    "lower::rank",
    "lower::resize_rank",
)
LegalizeOnnxFunction.later = _LEGALIZE[_LEGALIZE.index(LegalizeOnnxFunction.id) + 1 :]
_LOWER = (
    "canonicalize::clip_to_hardtanh",
    "lower::hardtanh",
    "lower::kept_activations",
    "lower::math",
    "lower::einsum",
    "lower::resize",
)

PIPELINES: dict[str, tuple[str, ...]] = {
    # no rewriting but the legalisations: what the target lacks is an error listing it
    "none": _LEGALIZE + ("check::target_legal",),
    # lower what can be lowered; anything left is an error
    "lower": _CLEANUP + _FUSE + _LOWER + _LEGALIZE + ("cleanup::dead_nodes", "check::target_legal"),
    # no lowering: whatever the target lacks becomes a custom layer
    "custom": _CLEANUP + _FUSE + _LEGALIZE + ("custom::tag_custom_layers", "check::target_legal"),
    # lower, then make custom layers of what remains (the default)
    "lower-custom": _CLEANUP
    + _FUSE
    + _LOWER
    + _LEGALIZE
    + ("cleanup::dead_nodes", "custom::tag_custom_layers", "check::target_legal"),
}
DEFAULT_PIPELINE = "lower-custom"

PIPELINE_DOCS = {
    "none": "no rewriting but the legalisations (lower::clip, ...); any op the target lacks is an error",
    "lower": "lower everything that can be lowered; error if anything unsupported remains",
    "custom": "no lowering; every op the target lacks becomes a Core ML custom layer",
    "lower-custom": "lower, then make custom layers of what remains (default)",
}


def pipeline_ids(name: str, passes: list[str] | None = None, disable: tuple[str, ...] = ()) -> list[str]:
    """The pass ids a run executes: ``passes`` if given, else the ``-O`` pipeline plus registered
    passes that extend it (placed by their ordering constraints), minus ``disable``."""
    from bridgec.core.errors import UsageError

    if passes is not None:
        ids = list(passes)
    elif name not in PIPELINES:
        raise UsageError(f"unknown pipeline -O {name!r}; choose one of: {', '.join(PIPELINES)}")
    else:
        ids = list(PIPELINES[name])
        for pass_id, cls in sorted(REGISTRY.items()):
            if name in cls.extends and pass_id not in ids:
                ids = insert_in_order(ids, pass_id)
    unknown = [p for p in [*ids, *disable] if p not in REGISTRY]
    if unknown:
        raise UsageError(f"unknown pass {unknown[0]!r}; 'bridgec passes' lists the registered ones")
    return [p for p in ids if p not in disable]


def pipeline(name: str, passes: list[str] | None = None, disable: tuple[str, ...] = ()) -> Pipeline:
    """The named ``-O`` pipeline (or an explicit list of pass ids) as a runnable Pipeline."""
    from bridgec.core.errors import UsageError

    ids = pipeline_ids(name, passes, disable)
    try:
        check_order(ids, name)
    except BridgecError as exc:
        raise UsageError(str(exc)) from None
    built = Pipeline([create(pass_id) for pass_id in ids])
    built.id = name
    return built


__all__ = [
    "DEFAULT_PIPELINE",
    "PIPELINES",
    "PIPELINE_DOCS",
    "REGISTRY",
    "Builder",
    "Capabilities",
    "CheckTargetLegal",
    "ClipToHardTanh",
    "DeadNodes",
    "DumpDir",
    "FoldConstants",
    "GraphCheck",
    "LegalizeCast",
    "LegalizeClip",
    "LegalizeGather",
    "LegalizeMatMul",
    "LegalizeMinMax",
    "LegalizePRelu",
    "LegalizeIsNaN",
    "LegalizeReciprocal",
    "LowerEinsum",
    "LowerHardTanh",
    "LowerKeptActivations",
    "LowerMath",
    "NearMiss",
    "Pass",
    "PassContext",
    "PassResult",
    "Pipeline",
    "PrintAfter",
    "RemoveIdentities",
    "Rewrite",
    "Rule",
    "RuleSet",
    "Sequential",
    "TagCustomLayers",
    "VerifyEach",
    "check_order",
    "cleanup",
    "const_scalar",
    "create",
    "insert_in_order",
    "pipeline",
    "pipeline_ids",
    "register",
    "render_stats",
]
