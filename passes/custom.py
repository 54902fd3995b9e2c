"""Decide what becomes a Core ML custom layer: every node the target cannot run as it is."""

from __future__ import annotations

import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.core.capabilities import Capabilities, own_fix
from bridgec.core.errors import ConversionError
from bridgec.core.words import noun, plural
from bridgec.passes._infra import Pass, PassContext, PassResult, Rewrite, register
from bridgec.runtime_kernels.catalog import kernel_for_op

# CustomLayerParams can carry scalars and strings only.
_PARAMETER_TYPES = (int, float, str, bool)


def custom_class_name(node: gs.Node) -> str:
    spec = kernel_for_op(*ir.op_key(node))
    return spec.class_name if spec else node.op


def custom_layer_refusal(
    node: gs.Node, capabilities: Capabilities, allow_missing_kernels: bool
) -> str | None:
    """Why ``node``, which the target cannot run, does not become a custom layer, or None if it does."""
    if own_fix(capabilities) is not None and not capabilities.custom_layers:
        return "this target's models hold no custom layers"  # no other format to fall back on (Core AI)
    if not all(isinstance(v, _PARAMETER_TYPES) for v in node.attrs.values()):
        return "a tensor or list attribute cannot be a custom layer parameter"
    if kernel_for_op(*ir.op_key(node)) is None and not allow_missing_kernels:
        return "no bundled kernel"
    op, domain = node.op, node.domain
    node.op, node.domain = custom_class_name(node), ir.CUSTOM_DOMAIN
    refused = capabilities.unsupported_reason(node)
    node.op, node.domain = op, domain
    # Refused as a custom layer for the reason the op itself is (a rank-6 tensor): no format's custom
    # layer helps. Refused only because this format holds none (an ML Program): a NeuralNetwork's
    # would, which is what makes the driver's auto format pick one.
    if refused and (capabilities.custom_layers or refused == capabilities.unsupported_reason(node)):
        return refused
    return None


def needed_rule(op: str, names: list[str], ctx: PassContext) -> str:
    """Which rule would convert these nodes (of one op): the rule that came closest to rewriting one
    of them and what stopped it, from the run's near misses; or that no rule matches the op."""
    wanted = set(names)
    near = [(miss.matched, key, miss) for key, miss in ctx.near_misses.items() if miss.node in wanted]
    if not near:
        return f"no rule of this pipeline matches {op}: it needs one that lowers it into ops the target has"
    _, key, miss = max(near, key=lambda found: found[:2])
    return f"closest rule {key}: {miss.reason}"


@register
class TagCustomLayers(Pass):
    """Move every node the target lacks into the custom-layer domain (className = op, params = attrs)."""

    id = "custom::tag_custom_layers"
    after = ("canonicalize::*", "lower::*")

    def call(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        modified = False
        without_kernel: dict[str, list[str]] = {}
        reasons: dict[str, str] = {}  # why the target refuses it, per op (the first node's)
        for node in graph.nodes:
            if ir.op_key(node)[0] == ir.CUSTOM_DOMAIN:
                continue
            reason = ctx.capabilities.unsupported_reason(node)
            if reason is None:
                continue
            if custom_layer_refusal(node, ctx.capabilities, allow_missing_kernels=True):
                continue  # stays unsupported: check::target_legal says why
            if kernel_for_op(*ir.op_key(node)) is None:
                without_kernel.setdefault(ir.op_label(node), []).append(node.name)
                reasons.setdefault(ir.op_label(node), reason)
                if not ctx.allow_missing_kernels:
                    continue
            source = ir.op_label(node)
            node.op, node.domain = custom_class_name(node), ir.CUSTOM_DOMAIN
            ctx.record(Rewrite(self.id, "custom_layer", (node.name,), source, (node.op,)))
            modified = True
        if without_kernel and not ctx.allow_missing_kernels:
            listed = "; ".join(
                f"{op} x{len(names)} ({reasons[op]}; {needed_rule(op, names, ctx)}; nodes: "
                f"{', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
                for op, names in sorted(without_kernel.items())
            )
            # --allow-missing-kernels alone cannot work where the format holds no custom layers
            flag = "--allow-missing-kernels" + (
                "" if ctx.capabilities.custom_layers else " --format neuralnetwork"
            )
            raise ConversionError(
                f"-O {ctx.pipeline}: no bundled kernel for {noun(without_kernel, 'custom layer')} {listed}; "
                f"pass {flag} "
                "to emit them anyway (your app must then implement each MLCustomLayer class), or lower them "
                "with a rule (--load-passes)"
            )
        return PassResult(graph, modified)


@register
class CheckTargetLegal(Pass):
    """Fail, listing every offending node, if anything is left that the target cannot run."""

    id = "check::target_legal"
    after = ("cleanup::*", "canonicalize::*", "lower::*", "custom::*")

    def call(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        problems: dict[str, list[str]] = {}
        reasons: dict[str, str] = {}
        no_custom: set[str] = set()  # ops no custom layer can stand for either (a rank-6 tensor)
        for node in graph.nodes:
            reason = ctx.capabilities.unsupported_reason(node)
            if reason is not None:
                problems.setdefault(ir.op_label(node), []).append(node.name)
                reasons.setdefault(ir.op_label(node), reason)
                if ir.op_key(node)[0] != ir.CUSTOM_DOMAIN and custom_layer_refusal(
                    node, ctx.capabilities, allow_missing_kernels=True
                ):
                    no_custom.add(ir.op_label(node))
        if not problems:
            return PassResult(graph, False)
        parts = []
        for op, names in sorted(problems.items()):
            shown = ", ".join(names[:3]) + (f", +{len(names) - 3} more" if len(names) > 3 else "")
            parts.append(f"{op} x{len(names)} ({reasons[op]}; {needed_rule(op, names, ctx)}; nodes: {shown})")
        hint = {
            "none": "use -O lower to lower them or -O lower-custom to also make custom layers",
            "lower": "use -O lower-custom to make Core ML custom layers of what cannot be lowered",
        }.get(ctx.pipeline, "write a lowering rule for them (see README: Writing a pass)")
        if not ctx.capabilities.custom_layers:
            custom = any(label.startswith(f"{ir.CUSTOM_DOMAIN}::") for label in problems)
            hint = (
                "an ML Program cannot hold custom layers: use -O lower with a lowering rule for them, or "
                "--format neuralnetwork (a .mlmodel) to keep them as custom layers"
                if custom
                else "use -O lower-custom with --format neuralnetwork to make custom layers of them"
            )
        if own_fix(ctx.capabilities) is not None:
            hint = own_fix(ctx.capabilities)
        elif no_custom:  # advice about custom layers cannot work for these: only a rule removes the reason
            rule = (
                f"only a lowering rule for {', '.join(sorted(no_custom))} that removes that reason converts "
                "them (passes/lower/, loaded with --load-passes): no custom layer can hold them either"
            )
            hint = rule if no_custom == set(problems) else f"{rule}; for the others, {hint}"
        raise ConversionError(
            f"-O {ctx.pipeline}: {ctx.capabilities.description} cannot run "
            f"{plural(sum(map(len, problems.values())), 'node')}: {'; '.join(parts)}; {hint}"
        )
