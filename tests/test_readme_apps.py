"""The README's "For apps" and "Core AI" commands run as written and each proves what its comment says."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from examples import zoo
from tests.conftest import ROOT


def _commands(heading: str) -> list[str]:
    section = (ROOT / "README.md").read_text().split(heading, 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)[1]
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


COMMANDS = _commands("### For apps") + _commands("### Core AI")

# what each command's last "checked:" line (verify: its last line) must say, by a word of the command:
# the proof its comment promises
EXPECTED = {
    "{256,512}": "at 4 shapes",
    "--image-input": "checked: 1 output",
    "--labels": "checked: 2 outputs",
    "stateful.py": "3 calls in sequence, state compared after each",
    "--compress": "compressed int8, per-channel",
    "verify faceseg.pt --input x:1x3x256x256 --format coreai": "all 3 comparisons PASS",
    "-O custom": "checked by bridgec's executor only",
    "faceseg.pt --input x:1x3x256x256 --format coreai": "run in Apple's Core AI runtime",
}


def _key(command: str) -> str:
    return next(k for k in EXPECTED if k in command)


def test_every_command_has_its_proof():
    assert len(COMMANDS) == len(EXPECTED)
    assert sorted(map(_key, COMMANDS)) == sorted(EXPECTED)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, faceseg_path) -> Path:
    work = tmp_path_factory.mktemp("readme_apps")
    shutil.copy(faceseg_path, work / "faceseg.pt")
    zoo.save("mobilenet_v2", work / "mobilenet_v2.pt")
    (work / "examples").symlink_to(ROOT / "examples")
    return work


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=[_key(c) for c in COMMANDS])
def test_readme_app_command(command, workdir):
    bin_dir = Path(sys.executable).parent  # bridgec and python of this environment
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        ["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True, timeout=900
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-2000:]
    lines = out.strip().splitlines()
    checked = [line for line in lines if line.startswith("checked:")] or lines[-1:]
    assert checked, out[-2000:]
    assert EXPECTED[_key(command)] in checked[-1], checked[-1]
