"""Graph passes: cleanup, canonicalisation, lowering rules, custom-layer tagging, and pipelines.

Pipelines are data: each ``-O`` name is a list of registered pass ids.
"""

from __future__ import annotations

from bridgec.passes._infra import (
    REGISTRY,
    Capabilities,
    Pass,
    PassContext,
    PassResult,
    Pipeline,
    Rewrite,
    Sequential,
    create,
    register,
)
from bridgec.passes._rules import Builder, Rule, RuleSet
from bridgec.passes.canonicalize import ClipToHardTanh
from bridgec.passes.cleanup import DeadNodes, FoldConstants, RemoveIdentities, cleanup
from bridgec.passes.custom import CheckTargetLegal, TagCustomLayers
from bridgec.passes.lower.activations import LowerHardTanh

_CLEANUP = ("cleanup::fold_constants", "cleanup::identities", "cleanup::dead_nodes")
_LOWER = ("canonicalize::clip_to_hardtanh", "lower::hardtanh")

PIPELINES: dict[str, tuple[str, ...]] = {
    # no rewriting at all: what the target lacks is an error listing it
    "none": ("check::target_legal",),
    # lower what can be lowered; anything left is an error
    "lower": _CLEANUP + _LOWER + ("cleanup::dead_nodes", "check::target_legal"),
    # no lowering: whatever the target lacks becomes a custom layer
    "custom": _CLEANUP + ("custom::tag_custom_layers", "check::target_legal"),
    # lower, then make custom layers of what remains (the default)
    "lower-custom": _CLEANUP
    + _LOWER
    + ("cleanup::dead_nodes", "custom::tag_custom_layers", "check::target_legal"),
}
DEFAULT_PIPELINE = "lower-custom"

PIPELINE_DOCS = {
    "none": "no rewriting; any op the target lacks is an error that lists them all",
    "lower": "lower everything that can be lowered; error if anything unsupported remains",
    "custom": "no lowering; every op the target lacks becomes a Core ML custom layer",
    "lower-custom": "lower, then make custom layers of what remains (default)",
}


def pipeline(name: str) -> Pipeline:
    """The named ``-O`` pipeline as a runnable Pipeline."""
    from bridgec.errors import UsageError

    if name not in PIPELINES:
        raise UsageError(f"unknown pipeline -O {name!r}; choose one of: {', '.join(PIPELINES)}")
    built = Pipeline([create(pass_id) for pass_id in PIPELINES[name]])
    built.id = name
    return built


__all__ = [
    "REGISTRY",
    "PIPELINES",
    "DEFAULT_PIPELINE",
    "PIPELINE_DOCS",
    "Builder",
    "Capabilities",
    "CheckTargetLegal",
    "ClipToHardTanh",
    "DeadNodes",
    "FoldConstants",
    "LowerHardTanh",
    "Pass",
    "PassContext",
    "PassResult",
    "Pipeline",
    "RemoveIdentities",
    "Rewrite",
    "Rule",
    "RuleSet",
    "Sequential",
    "TagCustomLayers",
    "cleanup",
    "create",
    "pipeline",
    "register",
]
