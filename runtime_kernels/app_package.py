"""The kernels folder bridgec writes beside the models of an output folder: a Swift package an app adds
as a local package dependency (Xcode: File > Add Package Dependencies > Add Local...).

One folder serves every model of its output folder, so each custom layer class is compiled once into
an app however many models use it: the Objective-C runtime, where Core ML looks a layer's class up by
the model's className, allows one class per name, and SwiftPM one target per name in a package graph.
Which models need which classes is the driver's bookkeeping (``bridgec.driver.files``); this module
lays out the package for a set of classes:

```
Package.swift                         library product and target TARGET, the Linux stand-in target
README.md                             the app developer's guide (Docs/README.md)
Sources/TARGET/                       the catalog's files of the classes, .metal files as resources
Sources/CoreMLStandIn/                Linux only (empty where CoreML exists): lets `swift build` run there
```
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from bridgec.runtime_kernels.catalog import APP_README, ROOT, files_for

TARGET = "BridgecCustomLayers"
STAND_IN = "Sources/CoreMLStandIn/CoreMLStandIn.swift"
# Set in the package's target only: LayerSupport.swift then finds the Metal library in the package's
# resource bundle (Bundle.module) instead of the bundle its class is compiled into (the app's).
DEFINE = "BRIDGEC_KERNELS_PACKAGE"
# 5.9: the first tools version that knows visionOS.
TOOLS_VERSION = "5.9"
_PLATFORM = re.compile(r"\.(\w+)\(\.v(\d+(?:_\d+)?)\)")
_RELEASE = re.compile(r"(iOS|macOS|tvOS|watchOS|visionOS)(\d+(?:\.\d+)?)")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.split(r"[._]", text))


def minimum_platforms() -> dict[str, tuple[int, ...]]:
    """The oldest OS releases the kernels build for: those of this folder's own Package.swift."""
    text = (ROOT / "Package.swift").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.strip().startswith("platforms:"))
    return {os_name: _version(version) for os_name, version in _PLATFORM.findall(line)}


def platforms(releases: Iterable[str]) -> dict[str, tuple[int, ...]]:
    """The package's platforms for models that run from ``releases`` on (e.g. ``("iOS15", "macOS12")``):
    each OS at the lowest of those releases, never below what the kernels need."""
    floor = minimum_platforms()
    lowest: dict[str, tuple[int, ...]] = {}
    for release in releases:
        found = _RELEASE.fullmatch(release)
        if found is None:
            raise ValueError(f"{release!r} is not an OS release such as iOS15 or macOS12")
        os_name, version = found.group(1), _version(found.group(2))
        lowest[os_name] = min(lowest.get(os_name, version), version)
    return {os_name: max(floor[os_name], lowest.get(os_name, floor[os_name])) for os_name in floor}


def package_swift(classes: Iterable[str], releases: Iterable[str]) -> str:
    """Package.swift for the kernels of ``classes`` (their .metal files are the target's resources)."""
    metal = sorted(Path(rel).name for rel in files_for(classes) if rel.endswith(".metal"))
    versions = ", ".join(
        f".{os_name}(.v{'_'.join(map(str, version))})" for os_name, version in platforms(releases).items()
    )
    resources = ", ".join(f'.process("{name}")' for name in metal)
    return f"""\
// swift-tools-version:{TOOLS_VERSION}
//
// Written by bridgec: the Core ML custom layers of the models beside this folder (KERNELS.md lists
// them). Add this folder to an app as a local package and link {TARGET}; Core ML finds each
// layer class by the name the model gives it, so there is nothing to import or register.

import PackageDescription

let package = Package(
    name: "{TARGET}",
    platforms: [{versions}],
    products: [.library(name: "{TARGET}", targets: ["{TARGET}"])],
    targets: [
        .target(
            name: "{TARGET}",
            dependencies: [.target(name: "CoreMLStandIn", condition: .when(platforms: [.linux]))],
            resources: [{resources}],
            swiftSettings: [.define("{DEFINE}")],
            linkerSettings: [
                .linkedFramework("CoreML", .when(platforms: [.macOS, .iOS, .tvOS, .watchOS, .visionOS, .macCatalyst])),
                .linkedFramework("Metal", .when(platforms: [.macOS, .iOS, .tvOS, .visionOS, .macCatalyst])),
            ]
        ),
        // Linux only, so that `swift build` checks these sources where CoreML does not exist.
        .target(name: "CoreMLStandIn"),
    ]
)
"""


def package_files(classes: Iterable[str]) -> dict[str, Path]:
    """Each file of the package but Package.swift: its path in the package -> the source it copies."""
    layout = {"README.md": ROOT / APP_README, STAND_IN: ROOT / STAND_IN}
    for rel in files_for(classes):
        if rel != APP_README:
            layout[f"Sources/{TARGET}/{Path(rel).name}"] = ROOT / rel
    return layout


def write_package(classes: Iterable[str], releases: Iterable[str], dest: Path) -> list[Path]:
    """Write the package of ``classes`` into ``dest`` (a new folder); the files written, sorted."""
    classes = sorted(set(classes))
    written = [dest / "Package.swift"]
    dest.mkdir(parents=True)
    written[0].write_text(package_swift(classes, releases), encoding="utf-8")
    for rel, source in package_files(classes).items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(target)
    return sorted(written)
