"""The kernels folder of an output folder: what a conversion does to it (docs/kernels-package.md).

One folder, ``bridgec_kernels/``, serves every model of the folder it is in: a Swift package
(``bridgec.runtime_kernels.app_package``) holding one copy of each custom layer class those models
need. Its marker records which model needs which classes, so a conversion

- of a model with custom layers records them and rewrites the package with the union of every model's
  classes (from this bridgec's sources: the class name and its parameters are the contract);
- of a model without them drops its record, and the folder goes only when no model needs it any more;
- never touches a folder bridgec did not write or the user changed (``files.read_kernels``), nor one
  it has no record of this model in and nothing to add to.

A model is recorded by its file name, so ``m.mlpackage`` and ``m.mlmodel`` are two models.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bridgec.core.errors import UsageError
from bridgec.driver import files

if TYPE_CHECKING:
    from bridgec.backends.coreml.model import BuiltModel


@dataclass(frozen=True)
class KernelsPlan:
    """What the write stage does to ``folder``: write the package for ``needs`` or remove it."""

    folder: Path
    needs: dict[str, dict[str, list[str]]]  # model file name -> {"classes": [...], "releases": [...]}
    remove: bool = False

    @property
    def classes(self) -> list[str]:
        return sorted({c for need in self.needs.values() for c in need["classes"]})


def releases(spec_version: int) -> list[str]:
    """The OS releases (iOS15, macOS12, ...) that first run Core ML specification ``spec_version``."""
    from bridgec.backends.coreml.targets import SPEC_VERSIONS

    return sorted(name for name, version in SPEC_VERSIONS.items() if version == spec_version)


def plan(model: BuiltModel, target: Path) -> KernelsPlan | None:
    """What writing ``model`` at ``target`` does to the kernels folder beside it; None: nothing."""
    from bridgec.runtime_kernels.catalog import KERNELS

    classes = sorted(c for c in model.custom_classes if c in KERNELS)
    folder = files.kernels_dir_for(target)
    needs: dict[str, dict[str, list[str]]] = {}
    if os.path.lexists(folder):
        needs, problem = files.read_kernels(folder)
        if problem is not None:
            if classes:
                raise UsageError(f"{folder}: {problem}; move it away or choose another -o")
            return None  # not bridgec's to change, and this model needs nothing from it
    elif not classes:
        return None
    if not classes and target.name not in needs:
        return None
    needs = {name: need for name, need in needs.items() if name != target.name}
    if classes:
        needs[target.name] = {"classes": classes, "releases": releases(model.spec.specificationVersion)}
    unknown = sorted({c for need in needs.values() for c in need["classes"]} - set(KERNELS))
    if unknown and not classes:
        return None  # this model needs nothing from it: not a reason to fail, nor to drop a class
    if unknown:
        users = sorted(name for name, need in needs.items() if set(need["classes"]) & set(unknown))
        raise UsageError(
            f"{folder}: {', '.join(users)} needs custom layer {unknown[0]}, which this bridgec has no kernel "
            "for; convert with the bridgec that wrote the folder, or move the folder away"
        )
    if needs:
        return KernelsPlan(folder, needs)
    if any(os.path.lexists(folder / name) for name in files.TOOL_STATE):
        return None  # SwiftPM's or Xcode's state is in it: not bridgec's to delete
    return KernelsPlan(folder, {}, remove=True)  # no model needs it any more


def stage(kernels: KernelsPlan, staged: Path) -> None:
    """Write the package ``kernels`` describes into ``staged`` (a new folder), marker last."""
    from bridgec.runtime_kernels.app_package import write_package

    model_releases = sorted({r for need in kernels.needs.values() for r in need["releases"]})
    write_package(kernels.classes, model_releases, staged)
    (staged / "KERNELS.md").write_text(_index(kernels), encoding="utf-8")
    (staged / files.KERNELS_MARKER).write_text(files.kernels_marker(staged, kernels.needs))


def carry_tool_state(replaced: Path, folder: Path) -> None:
    """Move SwiftPM's and Xcode's folders from the replaced kernels folder into the new one, as they
    are (the new folder's files get the umask's modes before, not these)."""
    for name in files.TOOL_STATE:
        if os.path.lexists(replaced / name):
            os.replace(replaced / name, folder / name)


def _index(kernels: KernelsPlan) -> str:
    from bridgec.runtime_kernels.app_package import TARGET
    from bridgec.runtime_kernels.catalog import KERNELS

    lines = [
        "# Custom layer kernels for the models in this folder",
        "",
        "A Swift package: add this folder to your app (Xcode: File > Add Package Dependencies > Add Local...)",
        f"and link the library {TARGET} to the app target; README.md says more. Core ML finds each class",
        "by its Objective-C name; the GPU path (`encode`) runs when the model may use the GPU.",
        "",
        "| model | custom layer classes |",
        "|---|---|",
        *(f"| {name} | {', '.join(need['classes'])} |" for name, need in sorted(kernels.needs.items())),
        "",
    ]
    for name in kernels.classes:
        spec = KERNELS[name]
        params = ", ".join(f"`{p}` ({kind})" for p, kind in spec.parameters.items())
        users = sorted(model for model, need in kernels.needs.items() if name in need["classes"])
        lines += [
            f"## {name}",
            "",
            spec.description,
            "",
            f"- parameters: {params or 'none'}",
            f"- models: {', '.join(users)}",
            f"- files: {', '.join(Path(f).name for f in spec.files)}",
            "",
        ]
    return "\n".join(lines)
