"""The user's files: bridgec writes or replaces only what it was asked to write, and deletes only what
it wrote itself (bridgec/driver/files.py)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from bridgec.driver.cli import main
from bridgec.driver.files import KERNELS_FOLDER
from bridgec.runtime_kernels.app_package import TARGET
from tests.conftest import ROOT

RELU = '<ir_version: 8, opset_import: ["" : 17]> g (float[1,2] x) => (float[1,2] y) { y = Relu (x) }'
SELU = '<ir_version: 8, opset_import: ["" : 17]> g (float[1,2] x) => (float[1,2] y) { y = Selu (x) }'


def _onnx(path: Path, text: str = RELU) -> Path:
    """A tiny ONNX model at ``path`` (whatever its suffix: bridgec reads .onnx files by content)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onnx.parser.parse_model(text).SerializeToString())
    return path


def run(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("bridgec: error: "), err
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[-1]


def tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: file contents by hash, symlinks by target, folders by name."""
    found = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            found[key] = "-> " + os.readlink(path)
        elif path.is_file():
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[key] = "dir"
    return found


# --- an output never writes over an input or another output ------------------------------------------


def _spelling(tmp_path: Path, spelling: str, name: str) -> str:
    """Another name for ``tmp_path/name``: itself, ./name, a symlink or a hard link to it."""
    if spelling == "same":
        return name
    if spelling == "dot":
        return f"./{name}"
    other = tmp_path / f"other{Path(name).suffix}"
    if spelling == "symlink":
        other.symlink_to(tmp_path / name)
    else:
        os.link(tmp_path / name, other)
    return other.name


@pytest.mark.parametrize("spelling", ["same", "dot", "symlink", "hardlink"])
@pytest.mark.parametrize(
    "flag, model_name",
    [
        ("-o", "m.mlmodel"),  # an ONNX file that happens to be named like a Core ML model
        ("--report-json", "m.onnx"),
        ("--report-out", "m.onnx"),
    ],
)
def test_an_output_naming_the_input_model_is_refused(
    flag, model_name, spelling, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    _onnx(tmp_path / model_name)
    target = _spelling(tmp_path, spelling, model_name)
    before = tree(tmp_path)
    extra = ["--report-format", "json"] if flag == "--report-out" else []
    code, err = run(capsys, model_name, "-q", flag, target, *extra)
    line = error_line(err)
    assert code == 2 and f"{flag} {Path(target)}" in line and f"the input model {model_name}" in line, line
    assert tree(tmp_path) == before


def test_the_dump_dir_never_writes_over_the_input_model(tmp_path, capsys):
    """--dump-dir writes NN_<pass>.onnx files: a model named like one of them is not overwritten."""
    model = _onnx(tmp_path / "dump" / "00_input.onnx")
    before = model.read_bytes()
    code, err = run(capsys, model, "-q", "-o", tmp_path / "m.mlpackage", "--dump-dir", tmp_path / "dump")
    line = error_line(err)
    assert code == 2 and "--dump-dir" in line and "00_input.onnx" in line, line
    assert model.read_bytes() == before and not (tmp_path / "m.mlpackage").exists()


@pytest.mark.parametrize(
    "args, names",
    [
        (
            ["-o", "out.mlmodel", "--report-json", "out.mlmodel"],
            ["-o out.mlmodel", "--report-json out.mlmodel"],
        ),
        (
            ["--report-json", "r.json", "--report-out", "./r.json"],
            ["--report-json r.json", "--report-out r.json"],
        ),
        (
            ["-o", "out.mlpackage", "--report-json", "out.mlpackage/r.json"],
            ["-o out.mlpackage", "out.mlpackage/r.json"],
        ),
        (
            ["-o", "out.mlmodel", "--report-out", "bridgec_kernels/r.md"],
            ["bridgec_kernels", "--report-out bridgec_kernels/r.md"],
        ),
        (["--dump-dir", "d", "--report-json", "d/03_x.onnx"], ["--dump-dir d", "--report-json d/03_x.onnx"]),
    ],
    ids=["same file", "./ spelling", "inside the package", "inside the kernels folder", "a dump file name"],
)
def test_outputs_naming_each_other_are_refused(args, names, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _onnx(tmp_path / "m.onnx")
    code, err = run(capsys, "m.onnx", "-q", *args)
    line = error_line(err)
    assert code == 2 and all(name in line for name in names), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_a_check_input_file_is_not_overwritten(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _onnx(tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", np.ones((1, 2), np.float32))
    (tmp_path / "x.npy").rename(tmp_path / "x.json")  # np.save insists on .npy; the name is the user's
    before = tree(tmp_path)
    code, err = run(capsys, "m.onnx", "-q", "--check-input", "x=x.json", "--report-json", "x.json")
    line = error_line(err)
    assert code == 2 and "--report-json x.json" in line and "--check-input x.json" in line, line
    assert tree(tmp_path) == before


def test_the_labels_file_is_not_overwritten(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _onnx(tmp_path / "m.onnx")
    (tmp_path / "labels.md").write_text("cat\ndog\n")
    before = tree(tmp_path)
    code, err = run(capsys, "m.onnx", "-q", "--labels", "labels.md", "--report-out", "labels.md")
    line = error_line(err)
    assert code == 2 and "--report-out labels.md" in line and "--labels labels.md" in line, line
    assert tree(tmp_path) == before


@pytest.mark.parametrize(
    "args, names",
    [
        (["--save-inputs", "m.onnx"], ["--save-inputs m.onnx", "the input model m.onnx"]),
        (
            ["--save-inputs", "a.npz", "--save-outputs", "a.npz"],
            ["--save-inputs a.npz", "--save-outputs a.npz"],
        ),
        (["--inputs", "in.npz", "--save-outputs", "in.npz"], ["--save-outputs in.npz", "--inputs in.npz"]),
        (
            ["--save-outputs", "r.json", "--report-out", "r.json"],
            ["--save-outputs r.json", "--report-out r.json"],
        ),
    ],
    ids=["the model", "each other", "the --inputs file", "the report"],
)
def test_verify_outputs_never_write_over_inputs_or_each_other(args, names, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _onnx(tmp_path / "m.onnx")
    np.savez(tmp_path / "in.npz", x=np.ones((1, 2), np.float32))
    before = tree(tmp_path)
    code, err = run(capsys, "verify", "m.onnx", *args)
    line = error_line(err)
    assert code == 2 and all(name in line for name in names), line
    assert tree(tmp_path) == before


def test_report_never_writes_over_the_model(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _onnx(tmp_path / "m.onnx")
    before = tree(tmp_path)
    code, err = run(capsys, "report", "m.onnx", "--report-out", "m.onnx", "--report-format", "json")
    assert code == 2 and "the input model m.onnx" in error_line(err)
    assert tree(tmp_path) == before


def test_the_default_output_never_takes_the_input_models_name(tmp_path, capsys, monkeypatch):
    """An ONNX file named x.mlmodel: its default NeuralNetwork output would be the file itself."""
    monkeypatch.chdir(tmp_path)
    _onnx(tmp_path / "x.mlmodel")
    before = tree(tmp_path)
    code, err = run(capsys, "x.mlmodel", "-q", "--format", "neuralnetwork")
    line = error_line(err)
    assert code == 2 and "the default output x.mlmodel" in line and "the input model x.mlmodel" in line
    assert tree(tmp_path) == before
    # ... and with -o elsewhere it converts
    assert run(capsys, "x.mlmodel", "-q", "-o", "y.mlmodel")[0] == 0


# --- a folder is replaced only when it is a real package ---------------------------------------------


@pytest.mark.parametrize(
    "contents",
    [
        {"Manifest.json": "{}", "notes.txt": "mine"},
        {"Manifest.json": "{}"},
        {"Manifest.json": '{"itemInfoEntries": {"A": {"path": "x"}}, "rootModelIdentifier": "A"}'},
        {"Manifest.json": "not json", "Data/x": "mine"},
    ],
    ids=["a file beside", "an empty manifest", "a root model that is not there", "a broken manifest"],
)
def test_a_folder_with_a_manifest_is_not_replaced(contents, tmp_path, capsys):
    model = _onnx(tmp_path / "m.onnx")
    out = tmp_path / "out.mlpackage"
    for name, text in contents.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    before = tree(tmp_path)
    code, err = run(capsys, model, "-q", "-o", out)
    assert code == 2 and "is not a Core ML package" in error_line(err)
    assert tree(tmp_path) == before


def test_a_package_coremltools_wrote_is_replaced(tmp_path, capsys):
    """The control: a real .mlpackage written by coremltools itself (random item identifiers) is
    replaced like one bridgec wrote."""
    from bridgec.backends.coreml import _coremltools

    model = _onnx(tmp_path / "m.onnx")
    assert run(capsys, model, "-q", "-o", tmp_path / "ours.mlpackage")[0] == 0
    ct = _coremltools.load()
    ours = tmp_path / "ours.mlpackage"
    spec = ct.utils.load_spec(str(ours))
    weights = ours / "Data" / "com.apple.CoreML" / "weights"
    out = tmp_path / "theirs.mlpackage"
    ct.models.MLModel(spec, weights_dir=str(weights), skip_model_load=True).save(str(out))
    manifest = json.loads((out / "Manifest.json").read_text())
    assert manifest["rootModelIdentifier"] in manifest["itemInfoEntries"]
    code, err = run(capsys, model, "-q", "-o", out, "--author", "bridgec")
    assert code == 0, err
    assert ct.utils.load_spec(str(out)).description.metadata.author == "bridgec"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "ours.mlpackage", "theirs.mlpackage"]


# --- kernels folders ---------------------------------------------------------------------------------

KERNELS = KERNELS_FOLDER  # one for the models of a folder
LAYERS = f"Sources/{TARGET}"  # the package's sources
MISH = '<ir_version: 8, opset_import: ["" : 18]> g (float[1,2] x) => (float[1,2] y) { y = Mish (x) }'


def needs(folder: Path) -> dict[str, list[str]]:
    """Which model the kernels folder's marker says needs which classes."""
    marker = json.loads((folder / ".bridgec-kernels").read_text())
    return {name: need["classes"] for name, need in marker["models"].items()}


@pytest.fixture
def with_kernels(tmp_path, capsys) -> Path:
    """m.onnx converted with -O custom: m.mlmodel and bridgec_kernels/ (a Selu custom layer)."""
    model = _onnx(tmp_path / "m.onnx", SELU)
    code, err = run(capsys, model, "-q", "-O", "custom")
    assert code == 0, err
    assert (tmp_path / KERNELS / LAYERS / "SeluLayer.swift").is_file()
    return model


def test_an_ml_program_leaves_the_kernels_of_the_neuralnetwork_beside_it(with_kernels, tmp_path, capsys):
    """m.mlpackage and m.mlmodel share the stem, not the record: the kernels stay the .mlmodel's."""
    before = tree(tmp_path / KERNELS)
    assert run(capsys, with_kernels, "-q", "-O", "lower")[0] == 0
    assert (tmp_path / "m.mlpackage").is_dir() and (tmp_path / "m.mlmodel").is_file()
    assert tree(tmp_path / KERNELS) == before


def test_a_stale_kernels_folder_is_still_removed(with_kernels, tmp_path, capsys):
    """The control: the only model that needed the folder, converted again without custom layers."""
    assert run(capsys, with_kernels, "-q", "-O", "lower", "-o", tmp_path / "m.mlmodel")[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mlmodel", "m.onnx"]


def test_models_of_one_folder_share_the_kernels_and_keep_each_others(with_kernels, tmp_path, capsys):
    """n.mlmodel adds its class to m's; converting n without custom layers drops n's class only."""
    other = _onnx(tmp_path / "n.onnx", MISH)
    assert run(capsys, other, "-q", "-O", "custom")[0] == 0
    assert needs(tmp_path / KERNELS) == {"m.mlmodel": ["Selu"], "n.mlmodel": ["Mish"]}
    assert {"SeluLayer.swift", "MishLayer.swift"} <= {p.name for p in (tmp_path / KERNELS / LAYERS).iterdir()}
    assert run(capsys, other, "-q", "-O", "lower", "-o", tmp_path / "n.mlmodel")[0] == 0
    assert needs(tmp_path / KERNELS) == {"m.mlmodel": ["Selu"]}
    assert sorted(p.name for p in (tmp_path / KERNELS / LAYERS).iterdir()) == [
        "LayerSupport.swift",
        "Selu.swift",
        "SeluLayer.swift",
        "VectorMath.swift",
        "selu.metal",
    ]


def test_swiftpm_and_xcode_state_is_carried_over_never_deleted(with_kernels, tmp_path, capsys):
    """`swift build` leaves .build/ in the package, Xcode .swiftpm/: a rewrite keeps them, and the
    folder is not removed while they are in it."""
    kernels = tmp_path / KERNELS
    (kernels / ".build").mkdir()
    (kernels / ".build" / "cache").write_text("built")
    assert run(capsys, with_kernels, "-q", "-O", "custom")[0] == 0
    assert (kernels / ".build" / "cache").read_text() == "built"
    assert run(capsys, with_kernels, "-q", "-O", "lower", "-o", tmp_path / "m.mlmodel")[0] == 0
    assert (kernels / ".build" / "cache").read_text() == "built" and needs(kernels) == {"m.mlmodel": ["Selu"]}


@pytest.mark.parametrize("change", ["added", "edited"])
@pytest.mark.parametrize("pipeline", ["custom", "lower"])
def test_a_kernels_folder_with_the_users_changes_is_kept(change, pipeline, with_kernels, tmp_path, capsys):
    """A file the user added to (or edited in) the kernels folder is never replaced or deleted: a
    conversion that needs the folder refuses, one that does not leaves it alone."""
    kernels = tmp_path / KERNELS
    if change == "added":
        (kernels / LAYERS / "NOTES.txt").write_text("my notes")
    else:
        (kernels / LAYERS / "SeluLayer.swift").write_text("// my faster version\n")
    before = tree(kernels)
    code, err = run(capsys, with_kernels, "-q", "-O", pipeline, "-o", tmp_path / "m.mlmodel")
    if pipeline == "custom":
        line = error_line(err)
        assert code == 2 and KERNELS in line and ("NOTES.txt" in line or "SeluLayer.swift" in line), line
    else:
        assert code == 0, err
    assert tree(kernels) == before


@pytest.mark.parametrize(
    "marker",
    ["written by bridgec; replaced on every conversion of m.mlmodel\n", None],
    ids=["an older bridgec's", "none"],
)
def test_a_kernels_folder_without_a_readable_marker_is_the_users(marker, with_kernels, tmp_path, capsys):
    """The marker records what each model needs; a folder without one (the user's, or the one-model
    form an older bridgec wrote) cannot say it, so it is never rewritten nor removed."""
    kernels = tmp_path / KERNELS
    if marker:
        (kernels / ".bridgec-kernels").write_text(marker)
    else:
        (kernels / ".bridgec-kernels").unlink()
    before = tree(kernels)
    code, err = run(capsys, with_kernels, "-q", "-O", "custom")
    assert code == 2 and ".bridgec-kernels" in error_line(err) and tree(kernels) == before
    assert run(capsys, with_kernels, "-q", "-O", "lower", "-o", tmp_path / "m.mlmodel")[0] == 0
    assert tree(kernels) == before


def test_folders_named_like_backups_are_the_users(with_kernels, tmp_path, capsys):
    """bridgec once moved a replaced folder to NAME.old / .NAME.old and deleted that: such folders the
    user made survive every replacement."""
    backups = (f"{KERNELS}.old", ".m.mlpackage.old", f".{KERNELS}.old")
    for name in backups:
        (tmp_path / name).mkdir()
        (tmp_path / name / "keep.txt").write_text("mine")
    before = {name: tree(tmp_path / name) for name in backups}
    for _ in range(2):  # the second run replaces both the kernels folder and the package
        assert run(capsys, with_kernels, "-q", "-O", "custom")[0] == 0
        assert run(capsys, with_kernels, "-q", "-O", "lower")[0] == 0
    assert {name: tree(tmp_path / name) for name in before} == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".old")) == [
        KERNELS,
        "m.mlmodel",
        "m.mlpackage",
        "m.onnx",
    ]


# --- symlinked outputs -------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mlmodel", ".mlpackage"])
def test_writing_through_a_symlink_replaces_what_it_points_to(suffix, tmp_path, capsys):
    from bridgec.backends.coreml import load_spec

    model = _onnx(tmp_path / "m.onnx")
    real = tmp_path / "models" / f"net{suffix}"
    assert run(capsys, model, "-q", "-o", real, "--author", "A")[0] == 0
    link = tmp_path / f"link{suffix}"
    link.symlink_to(real)
    report = tmp_path / "models" / "report.json"
    report.write_text("old")
    (tmp_path / "report-link.json").symlink_to(report)
    code, err = run(
        capsys, model, "-q", "-o", link, "--author", "B", "--report-json", tmp_path / "report-link.json"
    )
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert (tmp_path / "report-link.json").is_symlink() and json.loads(report.read_text())["counts"]
    assert load_spec(real).description.metadata.author == "B"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "link" + suffix,
        "m.onnx",
        "models",
        "report-link.json",
    ]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [f"net{suffix}", "report.json"]


def test_a_symlinked_mlmodel_gets_its_kernels_beside_the_model(tmp_path, capsys):
    model = _onnx(tmp_path / "m.onnx", SELU)
    (tmp_path / "models").mkdir()
    link = tmp_path / "link.mlmodel"
    link.symlink_to(tmp_path / "models" / "net.mlmodel")  # dangling until the first conversion
    assert run(capsys, model, "-q", "-O", "custom", "-o", link)[0] == 0
    assert link.is_symlink() and (tmp_path / "models" / "net.mlmodel").is_file()
    assert (tmp_path / "models" / KERNELS / LAYERS / "SeluLayer.swift").is_file()
    assert not (tmp_path / KERNELS).exists()


# --- what a killed run leaves -----------------------------------------------------------------------

_KILLER = """
import os, signal, sys
real_replace = os.replace
calls = []
def replace(src, dst, *args, **kwargs):
    if sys.argv[1] in (str(src) + str(dst)):
        calls.append(dst)
        if len(calls) == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)  # a SIGKILL in the middle of the swap
    return real_replace(src, dst, *args, **kwargs)
os.replace = replace
from bridgec.driver.cli import main
main(sys.argv[3:])
"""


def _killed_run(folder: Path, nth: int, args: list) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-c", _KILLER, str(folder), str(nth), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    return done


@pytest.mark.parametrize("nth", [1, 2])
def test_the_next_run_cleans_up_after_a_killed_one(nth, tmp_path, capsys):
    """SIGKILL at the first and the second rename of a swap: the next run removes what the killed one
    staged (and puts back the package it had moved aside), and nothing else."""
    model = _onnx(tmp_path / "m.onnx")
    out_dir = tmp_path / "out"
    out = out_dir / "m.mlpackage"
    assert run(capsys, model, "-q", "-o", out, "--author", "A")[0] == 0
    (out_dir / ".bridgec-staging-mine").mkdir()  # named like a staging folder, but the user's
    (out_dir / ".m.mlpackage.tmp").write_text("mine")
    _killed_run(out_dir, nth, [model, "-q", "-o", out, "--author", "B"])
    expected = [".bridgec-staging-mine", ".m.mlpackage.tmp", "m.mlpackage"]
    assert sorted(p.name for p in out_dir.iterdir()) != expected  # the killed run left something behind
    assert run(capsys, model, "-q", "-o", out, "--author", "C")[0] == 0
    assert sorted(p.name for p in out_dir.iterdir()) == expected
    from bridgec.backends.coreml import load_spec

    assert load_spec(out).description.metadata.author == "C"


def test_a_package_moved_aside_by_a_killed_run_is_put_back(tmp_path, capsys):
    """Killed between moving the old package aside and renaming the new one in: the next run that
    writes into that folder first puts the old package back where it was."""
    from bridgec.backends.coreml import load_spec
    from bridgec.driver import output

    model = _onnx(tmp_path / "m.onnx")
    out = tmp_path / "m.mlpackage"
    assert run(capsys, model, "-q", "-o", out, "--author", "A")[0] == 0
    before = tree(out)
    _killed_run(tmp_path, 2, [model, "-q", "-o", out, "--author", "B"])
    assert not out.exists()
    output.clean_stale(tmp_path)
    assert tree(out) == before and load_spec(out).description.metadata.author == "A"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mlpackage", "m.onnx"]


def test_a_staging_folder_of_a_live_run_is_left_alone(tmp_path):
    from bridgec.driver import output

    staging = output.Staging(tmp_path)  # this process: alive
    staging.new("x").write_text("being written")
    output.clean_stale(tmp_path)
    assert staging.new("x").read_text() == "being written"
    staging.remove()
    assert list(tmp_path.iterdir()) == []
