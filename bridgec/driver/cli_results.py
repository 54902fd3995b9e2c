"""What each command's ``--json`` object holds (besides ``"bridgec_version"`` and ``"command"``,
which ``cli_json.emit_json`` adds), built from the same results the human output prints."""

from __future__ import annotations

from pathlib import Path


def missing_kernels(result) -> list[str]:
    """The custom layer classes of a conversion with no bundled kernel: the app must implement them."""
    from bridgec.runtime_kernels.catalog import KERNELS

    return [c for c in result.custom_classes if c not in KERNELS]


def kernel_names(result) -> list[str]:
    """The files of a conversion's kernels folder an app takes (not bridgec's hidden marker)."""
    return [p.name for p in result.kernel_files if not p.name.startswith(".")]


def convert_data(result) -> dict:
    """``bridgec convert --json``: what was written where, the format and why, the check, the op report."""
    return {
        "source": result.request.model,
        "model": result.model_path,
        "format": result.format,
        "format_reason": result.format_reason,
        "target": result.context.capabilities.target.name,
        "precision": result.request.precision,
        "pipeline": result.request.pipeline,
        "kernels": {"dir": result.kernels_dir, "files": kernel_names(result)} if result.kernels_dir else None,
        "custom_layers_without_kernel": missing_kernels(result),
        "check": result.check.to_dict(),
        "report": result.report.to_dict(),  # docs/report-schema.md
    }


def report_data(model: Path, report) -> dict:
    """``bridgec report --json``: whether the model converts, and the op report."""
    return {"model": model, "possible": report.possible, "report": report.to_dict()}


def passes_data() -> dict:
    """``bridgec passes``: every registered pass (with its rules) and every -O pipeline, in the order
    the listing prints them. Load plugins first: this lists what is registered."""
    from bridgec.passes import PIPELINE_DOCS, PIPELINES, REGISTRY, pipeline_ids

    passes = [
        {
            "id": pass_id,
            "doc": cls.doc(),
            # RuleSets, and passes that explain their rules the same way
            "rules": list(cls.explain()) if hasattr(cls, "explain") else [],
        }
        for pass_id, cls in sorted(REGISTRY.items())
    ]
    pipelines = [
        {"name": name, "doc": PIPELINE_DOCS[name], "passes": list(pipeline_ids(name))} for name in PIPELINES
    ]
    return {"passes": passes, "pipelines": pipelines}


def render_passes(data: dict) -> str:
    """``bridgec passes``'s human listing of ``passes_data``."""
    lines = ["passes:"]
    for entry in data["passes"]:
        lines.append(f"  {entry['id']:34} {entry['doc']}")
        lines += [f"  {'':34}   {rule}" for rule in entry["rules"]]
    lines.append("pipelines (-O):")
    for pipeline in data["pipelines"]:
        lines.append(f"  {pipeline['name']:14} {pipeline['doc']}")
        lines.append(f"  {'':14} {' -> '.join(pipeline['passes'])}")
    return "\n".join(lines)


def targets_data() -> dict:
    """``bridgec targets --json``: every target row and the formats it takes."""
    from dataclasses import asdict

    from bridgec.driver import targets

    return {"targets": [asdict(row) for row in targets.rows()]}


__all__ = [
    "convert_data",
    "kernel_names",
    "missing_kernels",
    "passes_data",
    "render_passes",
    "report_data",
    "targets_data",
]
