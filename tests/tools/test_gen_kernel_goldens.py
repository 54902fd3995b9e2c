"""The Swift golden vectors checked in for the runtime-kernel tests match the numpy reference.

runtime_kernels/Tests/BridgecKernelsTests/Goldens.swift (HardTanh) and
runtime_kernels/Tests/BridgecCoreMLLayersTests/ActivationGoldens.swift (the other layers) are generated
by tools/gen_kernel_goldens.py from ``bridgec.runtime_kernels.reference``; if the reference (or the generator) changes, the file
must be regenerated, otherwise ``swift test`` would check the kernels against stale expectations.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "tools" / "gen_kernel_goldens.py"


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_kernel_goldens", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_goldens_swift_is_fresh():
    gen = _load_generator()
    assert gen.GOLDENS.is_file(), f"{gen.GOLDENS} is missing; run: python tools/gen_kernel_goldens.py"
    assert gen.is_fresh(), (
        f"{gen.GOLDENS.relative_to(REPO)} is stale; regenerate it with: python tools/gen_kernel_goldens.py"
    )


def test_check_mode_exit_status(tmp_path, monkeypatch, capsys):
    gen = _load_generator()
    assert gen.main(["--check"]) == 0
    # A stale (edited) file must make --check fail.
    stale = tmp_path / "Goldens.swift"
    stale.write_text(gen.GOLDENS.read_text(encoding="utf-8") + "// edited\n", encoding="utf-8")
    monkeypatch.setattr(gen, "GOLDENS", stale)
    monkeypatch.setattr(gen, "REPO", tmp_path)
    assert gen.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err


def test_stale_activation_goldens_fail_the_check(tmp_path, monkeypatch, capsys):
    gen = _load_generator()
    stale = tmp_path / "ActivationGoldens.swift"
    stale.write_text(
        gen.ACTIVATION_GOLDENS.read_text(encoding="utf-8").replace("0x", "0X", 1), encoding="utf-8"
    )
    monkeypatch.setattr(gen, "ACTIVATION_GOLDENS", stale)
    monkeypatch.setattr(gen, "REPO", tmp_path)
    assert not gen.is_fresh()
    assert gen.main(["--check"]) == 1
    assert "ActivationGoldens.swift is stale" in capsys.readouterr().err


_RENDER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("gen_kernel_goldens", sys.argv[1])
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)
sys.stdout.write(gen.render() + gen.render_activations())
"""


def test_render_is_the_same_in_every_process():
    """The checked-in files must not depend on the process that wrote them (set or dict order under
    another string-hash seed, state left by an earlier call): two fresh processes with different
    hash seeds render what this process renders."""
    gen = _load_generator()
    here = gen.render() + gen.render_activations()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", _RENDER, str(GENERATOR)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout == here, f"PYTHONHASHSEED={seed} renders different goldens"


def test_activation_goldens_stay_small():
    gen = _load_generator()
    assert len(gen.render_activations()) < 300_000
