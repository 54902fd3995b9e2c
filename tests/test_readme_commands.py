"""Every shell command of README.md is run by some test, and every flag README names exists.

A command of a ```sh block is either run here (the cheap ones, as written), run as written by
tests/test_readme_apps.py (the "For apps" and "Core AI" blocks), or listed in ELSEWHERE with the test
that runs it (the expensive conversions, at the example's shape or a smaller one). A README edit that
adds a command fails here, naming it, until it gets a test."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_readme_apps import COMMANDS as APP_COMMANDS

README = ROOT / "README.md"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*(-\*)?")


def readme_commands() -> dict[str, int]:
    """Each command of README.md's ```sh blocks (its comment and extra spaces dropped) and its line."""
    commands: dict[str, int] = {}
    in_block = False
    for number, line in enumerate(README.read_text().splitlines(), 1):
        if line.startswith("```"):
            in_block = line.strip() == "```sh" and not in_block
            continue
        command = " ".join(re.sub(r"(^|\s)#(\s.*)?$", "", line).split())
        if in_block and command:
            commands.setdefault(command, number)
    return commands


def _normal(command: str) -> str:
    return " ".join(re.sub(r"(^|\s)#(\s.*)?$", "", command).split())


# Run here as written (in a folder holding the bundled example as faceseg.pt), with a piece of what each
# must print. Cheap: no conversion. They need not be in README yet; the ones that are count as tested.
RUN_HERE = {
    "bridgec --help": "bridgec COMMAND",
    "bridgec passes": "pipelines (-O):",
    "bridgec targets": "iOS18",
    "bridgec coverage": "Of the ",
    "bridgec report faceseg.pt --input x:1x3x256x256": "67 nodes:",
}

# The expensive ones: the test that runs the command (its flags, in its module). The CI script runs
# tools/test.sh, which is the test suite itself.
ELSEWHERE = {
    "bash tools/demo.sh": "tests/test_readme_commands.py::test_the_demo_runs",
    "bash tools/test.sh": ".ci/run",
    "bridgec faceseg.pt --input x:1x3x256x256": "tests/driver/test_pipeline_formats.py::"
    "test_auto_writes_an_ml_program_when_nothing_is_custom",
    "bridgec faceseg.pt --input x:1x3x256x256 -O custom": "tests/driver/test_pipeline_formats.py::"
    "test_custom_pipeline_writes_a_neuralnetwork_and_says_why",
    "bridgec faceseg.pt --input x:1x3x256x256 --precision fp16 --target iOS17": "tests/driver/"
    "test_pipeline_formats.py::test_fp16",
    "bridgec model.onnx": "tests/driver/test_progress.py::test_piped_shows_nothing_unless_asked",
    "bridgec verify faceseg.pt --input x:1x3x256x256 -O custom --per-node": "tests/driver/test_verify.py::"
    "test_example_passes_in_all_runtimes_and_replays",
    "bridgec swish.onnx --load-passes examples/user_pass.py -O lower": "tests/driver/test_check.py::"
    "test_an_op_onnxruntime_lacks_is_not_checked_rather_than_refused",
    "bridgec verify resnet18.mlpackage --against resnet18.pt": "tests/test_readme.py::test_against_example",
}

# Flags README still names that no --help lists, each with why (an entry README no longer needs fails
# the test, so none can go stale).
KNOWN_STALE: dict[str, str] = {}


def _tested() -> set[str]:
    return {*RUN_HERE, *map(_normal, APP_COMMANDS), *ELSEWHERE}


def test_every_readme_command_is_run_by_a_test():
    missing = [
        f"README.md:{line}: {command}"
        for command, line in readme_commands().items()
        if command not in _tested()
    ]
    assert not missing, (
        "README commands that no test runs (run it in tests/test_readme_commands.py's RUN_HERE if it is "
        "cheap, or name the test that runs it in ELSEWHERE):\n" + "\n".join(missing)
    )


def _spellings(flag: str) -> set[str]:
    """``flag`` and its other spellings (``--input`` is also ``-i``), from the parsers."""
    from bridgec.driver.cli_parsers import convert_parser, verify_parser

    for parser in (convert_parser(), verify_parser()):
        for action in parser._actions:  # noqa: SLF001 - argparse keeps the spellings there only
            if flag in action.option_strings:
                return set(action.option_strings)
    return {flag}


def test_the_mapping_names_tests_that_exist_and_commands_readme_has():
    commands = readme_commands()
    stale = [command for command in ELSEWHERE if command not in commands]
    assert not stale, f"ELSEWHERE lists commands README no longer has; remove them: {stale}"
    for command, where in ELSEWHERE.items():
        path, _, test = where.partition("::")
        source = (ROOT / path).read_text()
        if not test:  # a script: it runs the command as written
            assert command in source, (command, where)
            continue
        assert re.search(rf"^(async )?def {test}\(", source, re.M), f"{where}: no such test (for {command})"
        # the test's module passes each of the command's flags
        flags = [token for token in shlex.split(command) if token.startswith("-")]
        absent = [flag for flag in flags if not any(f'"{alias}"' in source for alias in _spellings(flag))]
        assert not absent, f"{where} runs no {absent} (README: {command})"


@pytest.fixture(scope="module")
def example_folder(tmp_path_factory, faceseg_path) -> Path:
    folder = tmp_path_factory.mktemp("readme_commands")
    shutil.copy(faceseg_path, folder / "faceseg.pt")
    return folder


@pytest.mark.parametrize("command", RUN_HERE)
def test_cheap_readme_command(command, example_folder, monkeypatch):
    from bridgec.driver.cli import main

    monkeypatch.chdir(example_folder)
    argv = shlex.split(command)
    assert argv[0] == "bridgec"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = main(argv[1:])
        except SystemExit as exc:  # --help
            code = exc.code
    assert code == 0, out.getvalue()[-2000:]
    assert RUN_HERE[command] in out.getvalue(), out.getvalue()[-2000:]


@pytest.mark.slow
def test_the_demo_runs(tmp_path):
    """README command 1, in this environment (BRIDGEC_BIN: tools/setup.sh has run, as in CI)."""
    env = {**os.environ, "BRIDGEC_BIN": str(Path(sys.executable).parent)}
    done = subprocess.run(
        ["bash", str(ROOT / "tools" / "demo.sh"), str(tmp_path / "out")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    # each conversion ends with the line saying what its check proved: 3 -O modes, the ML Program, Core AI
    assert done.stdout.count("checked: 1 output") >= 4, done.stdout[-3000:]
    assert "(expected: -O none does no rewriting, and Core ML has no hardtanh)" in done.stdout


# --- the flags README names ---------------------------------------------------------------------------


def _help_texts() -> dict[str, str]:
    from bridgec.driver.cli import main
    from bridgec.driver.cli_parsers import COMMANDS

    texts = {}
    for command in ["", *COMMANDS]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            main([command, "--help"] if command else ["--help"])
        texts[command or "bridgec"] = out.getvalue()
    return texts


def test_every_flag_readme_names_is_in_some_help():
    helps = _help_texts()
    known = {match.group(0) for text in helps.values() for match in FLAG.finditer(text)}
    # README also documents the tools' flags (python tools/fuzz.py --cases N, gen_*.py --check)
    tools = "".join(
        path.read_text() for folder in ("tools", "examples") for path in (ROOT / folder).rglob("*.py")
    )
    readme = README.read_text()
    missing = []
    for match in sorted({m.group(0) for m in FLAG.finditer(readme)}):
        if match.endswith("-*"):  # --save-*: some flag starts so
            found = any(flag.startswith(match[:-1]) for flag in known)
        else:
            found = match in known or f'"{match}"' in tools
        if not found and match not in KNOWN_STALE:
            missing.append(match)
    assert not missing, f"README names flags no --help lists (bridgec COMMAND --help) nor any tool: {missing}"
    gone = [flag for flag in KNOWN_STALE if flag not in readme]
    assert not gone, f"README no longer names {gone}: remove them from KNOWN_STALE"


def test_every_file_readme_names_is_in_the_repository():
    """What README points at (docs/x.md, tools/x.py, runtime_kernels/README.md, links) exists."""
    text = README.read_text()
    named = re.findall(
        r"(?<![\w/.-])((?:docs|tools|examples|runtime_kernels|bridgec|frontends|backends|passes)/[\w./-]+)",
        text,
    )
    linked = [target for target in re.findall(r"\]\(([^)#]+)", text) if not target.startswith("http")]
    missing = sorted({path.rstrip(".") for path in named + linked if not (ROOT / path.rstrip(".")).exists()})
    assert not missing, f"README names files the repository does not have: {missing}"
