"""The README's "For apps" commands run as written and each proves what its comment says."""

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

_SECTION = (ROOT / "README.md").read_text().split("### For apps", 1)[1]
COMMANDS = [
    line
    for line in re.search(r"```sh\n(.*?)```", _SECTION, re.S)[1].splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]

# what each command's last line must say, by a word of the command: the proof its comment promises
EXPECTED = {
    "{256,512}": "at 4 shapes",
    "--image-input": "checked: 1 output",
    "--labels": "checked: 2 outputs",
    "stateful.py": "3 calls in sequence, state compared after each",
    "--compress": "compressed int8, per-channel",
}


def test_every_command_has_its_proof():
    assert len(COMMANDS) == len(EXPECTED)
    for command in COMMANDS:
        assert sum(key in command for key in EXPECTED) == 1, command


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, faceseg_path) -> Path:
    work = tmp_path_factory.mktemp("readme_apps")
    shutil.copy(faceseg_path, work / "faceseg.pt")
    zoo.save("mobilenet_v2", work / "mobilenet_v2.pt")
    (work / "examples").symlink_to(ROOT / "examples")
    return work


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=[next(k for k in EXPECTED if k in c) for c in COMMANDS])
def test_readme_app_command(command, workdir):
    bin_dir = Path(sys.executable).parent  # bridgec and python of this environment
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        ["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True, timeout=900
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-2000:]
    checked = [line for line in out.splitlines() if line.startswith("checked:")]
    assert checked, out[-2000:]
    want = next(v for k, v in EXPECTED.items() if k in command)
    assert want in checked[-1], checked[-1]
