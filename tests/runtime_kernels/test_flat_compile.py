"""The kernels package's sources compile added to an app target, as one app module (without the
package, so without its define), in Swift 5 and 6 modes.

In an app the kernel math, the adapters and LayerSupport.swift share the app's module (no
`import BridgecKernels`). Without CoreML here, the adapters import the package's CoreMLStandIn,
built from its single source file into a temporary module folder.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bridgec.runtime_kernels import app_package, catalog

SWIFTC = shutil.which("swiftc")
STAND_IN = catalog.ROOT / "Sources" / "CoreMLStandIn" / "CoreMLStandIn.swift"


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    if SWIFTC is None:
        pytest.skip("no Swift toolchain (swiftc)")
    modules = tmp_path_factory.mktemp("modules")
    cmd = [SWIFTC, "-emit-module", "-module-name", "CoreMLStandIn", "-parse-as-library", str(STAND_IN)]
    done = subprocess.run(
        [*cmd, "-emit-module-path", str(modules / "CoreMLStandIn.swiftmodule")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return modules


@pytest.mark.parametrize("classes", [["HardTanh"], sorted(catalog.KERNELS)], ids=["hardtanh", "all"])
@pytest.mark.parametrize("swift_version", ["5", "6"])
def test_copied_files_typecheck_in_one_module(stand_in, tmp_path, classes, swift_version):
    written = app_package.write_package(classes, [], tmp_path / "kernels")
    layers = tmp_path / "kernels" / "Sources" / app_package.TARGET
    sources = sorted(str(p) for p in written if p.suffix == ".swift" and p.parent == layers)
    cmd = [
        SWIFTC,
        "-typecheck",
        "-swift-version",
        swift_version,
        "-module-name",
        "MyApp",
        "-I",
        str(stand_in),
    ]
    done = subprocess.run([*cmd, *sources], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "warning:" not in done.stderr, done.stderr
