"""Reliability: hostile files are refused before they can do harm, absurd sizes fail fast without
allocating, interrupted runs leave nothing half-written, and the same input gives the same bytes."""

from __future__ import annotations

import builtins
import hashlib
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from bridgec.driver.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(err: str) -> str:
    """The error: one line, the last, after nothing but bridgec's own progress lines."""
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("bridgec: ") for line in lines), err
    assert [line for line in lines if line.startswith("bridgec: error: ")] == lines[-1:], err
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[-1]


# --- pickles -----------------------------------------------------------------------------------------


class _CreatesFile:
    """Unpickling this creates the file at ``path`` (builtins.open(path, "w")): the proof that the
    pickle ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (builtins.open, (self.path, "w"))


def _hostile_pickle(form: str, folder: Path) -> tuple[Path, Path]:
    marker = folder / "PAYLOAD_RAN"
    path = folder / "model.pt"
    if form == "zip":  # torch.save's zip archive with the payload in data.pkl
        import torch

        torch.save({"model": _CreatesFile(marker)}, str(path))
    elif form == "pt2":  # a torch.export archive whose sample inputs (a torch.save file) hold it
        import io
        import zipfile

        import torch

        path = folder / "model.pt2"
        clean = folder / "clean.pt2"
        torch.export.save(torch.export.export(torch.nn.ReLU(), (torch.randn(1, 4),)), str(clean))
        payload = io.BytesIO()
        torch.save(((_CreatesFile(marker),), {}), payload)
        with zipfile.ZipFile(clean) as source, zipfile.ZipFile(path, "w") as target:
            members = [info.filename for info in source.infolist()]
            assert any(name.endswith("sample_inputs/model.pt") for name in members), members
            for info in source.infolist():
                data = source.read(info)
                target.writestr(
                    info, payload.getvalue() if info.filename.endswith("sample_inputs/model.pt") else data
                )
        clean.unlink()
    else:  # a legacy raw pickle stream
        path.write_bytes(pickle.dumps({"model": _CreatesFile(marker)}, protocol=2))
    assert not marker.exists()
    return path, marker


@pytest.mark.parametrize("form", ["zip", "raw", "pt2"])
def test_pickle_payload_never_runs_without_trust_pickle(form, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, marker = _hostile_pickle(form, tmp_path)
    for extra in ([], ["--input", "x:1x3x8x8"], ["--arch", "torch.nn:Identity"]):
        code, _, err = run_cli([path, *extra], capsys)
        line = one_error_line(err)
        assert code == 2 and "--trust-pickle" in line, line
        assert not marker.exists(), f"the pickle ran with {extra}"
    code, _, err = run_cli(["verify", path, "--input", "x:1x3x8x8"], capsys)
    assert code == 2 and "--trust-pickle" in one_error_line(err)
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("form", ["zip", "raw", "pt2"])
def test_the_payload_would_run_with_trust_pickle(form, tmp_path, capsys, monkeypatch):
    """The control: the same file does run its payload once the user trusts it (so the test above
    would notice if the refusal went away), and bridgec still ends cleanly: one error line for the
    pickles that hold no module, a model for the .pt2 whose program is fine."""
    monkeypatch.chdir(tmp_path)
    path, marker = _hostile_pickle(form, tmp_path)
    code, _, err = run_cli([path, "--trust-pickle", "-q"], capsys)
    assert marker.exists()
    assert "Traceback" not in err, err
    if form == "pt2":
        assert code == 0, err
    else:
        assert code == 2 and err.strip().splitlines()[-1].startswith("bridgec: error: "), err
        assert "unpickling model.pt runs code from the file" in err


# --- ONNX external data --------------------------------------------------------------------------------


def _external_model(folder: Path, location: str, name: str = "ext.onnx", **entries: str) -> Path:
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in {"location": location, **entries}.items():
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = folder / name
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize(
    "location",
    ["../../etc/passwd", "/etc/passwd", "link.bin", "sub/../../outside.bin", "sub/link-to-parent/secret.bin"],
)
def test_external_data_outside_the_model_folder_is_refused_before_reading(
    location, tmp_path, capsys, monkeypatch
):
    folder = tmp_path / "models"
    folder.mkdir()
    (tmp_path / "outside.bin").write_bytes(bytes(16))
    (tmp_path / "secret.bin").write_bytes(bytes(16))
    (folder / "link.bin").symlink_to(tmp_path / "secret.bin")
    (folder / "sub").mkdir()
    (folder / "sub" / "link-to-parent").symlink_to(tmp_path)
    path = _external_model(folder, location)

    def must_not_read(*args, **kwargs):
        raise AssertionError("external data was read")

    monkeypatch.setattr(onnx, "load_external_data_for_model", must_not_read)
    monkeypatch.setattr(onnx.external_data_helper, "load_external_data_for_tensor", must_not_read)
    code, _, err = run_cli([path, "-q"], capsys)
    line = one_error_line(err)
    assert code == 2 and f"external data {location!r}" in line and "outside the model's folder" in line
    assert not (folder / "ext.mlmodel").exists() and not (folder / "ext.mlpackage").exists()


def test_external_data_inside_the_folder_is_read(tmp_path, capsys):
    """The control for the refusals above: a legitimate data file beside the model converts."""
    (tmp_path / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    path = _external_model(tmp_path, "w.bin")
    code, _, err = run_cli([path, "-q"], capsys)
    assert code == 0, err
    assert (tmp_path / "ext.mlpackage" / "Manifest.json").exists()


@pytest.mark.parametrize(
    "entries, message",
    [
        ({"length": str(10 << 30)}, "needs 10,737,418,240 bytes of external data but 'w.bin' holds 16"),
        ({"offset": "12"}, "needs 16 bytes of external data but 'w.bin' holds 4 from offset 12"),
        ({"offset": "-3"}, "bad external data offset '-3'"),
        ({"length": "lots"}, "bad external data length 'lots'"),
    ],
)
def test_external_data_claims_are_checked_against_the_file(entries, message, tmp_path, capsys):
    (tmp_path / "w.bin").write_bytes(bytes(16))
    path = _external_model(tmp_path, "w.bin", **entries)
    code, _, err = run_cli([path, "-q"], capsys)
    line = one_error_line(err)
    assert code == 2 and message in line, line


# --- absurd sizes ----------------------------------------------------------------------------------------

MEMORY_LIMIT = 1536 << 20  # address space for the subprocess: a real allocation of the claims fails


def _run_limited(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """bridgec in a subprocess that cannot map more than MEMORY_LIMIT bytes and must finish in 60 s."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bridgec", *map(str, args), "-q"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    done.seconds = time.monotonic() - start
    return done


def _save(model_graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(model_graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path.write_bytes(model.SerializeToString())
    return path


def _huge_cases(folder: Path) -> dict[str, tuple[list, str]]:
    vec = helper.make_tensor_value_info
    cases = {}
    # an input of 2^40 elements, given on the command line
    relu = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g", [vec("x", 1, ["n"])], [vec("y", 1, ["n"])]
    )
    cases["--input 2^40"] = ([_save(relu, folder / "relu.onnx"), "--input", f"x:{1 << 40}"], "2^30")
    cases["--input 2^20 x 2^20"] = ([folder / "relu.onnx", "--input", "x:1048576x1048576"], "2^30")
    cases["--input ranges"] = ([folder / "relu.onnx", "--input", "x:(1..1099511627776)"], "2^30")
    cases["--input 5000 digits"] = ([folder / "relu.onnx", "--input", "x:" + "9" * 5000], "18 digits")
    # ... and declared by the model
    declared = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [vec("x", 1, [1 << 20, 1 << 20, 4])],
        [vec("y", 1, [1 << 20, 1 << 20, 4])],
    )
    cases["model input 2^42"] = ([_save(declared, folder / "declared.onnx")], "2^30")
    # a weight claiming 2^40 floats with 16 bytes of data
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20], raw_data=bytes(16))
    add = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [vec("x", 1, [1, 4])],
        [vec("y", 1, [1, 4])],
        [weight],
    )
    cases["initializer 2^40"] = ([_save(add, folder / "weight.onnx")], "initializer 'w' of shape")
    # 8 GiB of external data (a sparse 10 GB file really holds it): refused before any of it is read
    sub = folder / "ext"
    sub.mkdir()
    with open(sub / "w.bin", "wb") as handle:
        handle.truncate(10 << 30)
    big = TensorProto(name="w", data_type=TensorProto.DOUBLE, dims=[1 << 30])
    big.data_location = TensorProto.EXTERNAL
    entry = big.external_data.add()
    entry.key, entry.value = "location", "w.bin"
    add = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [vec("x", TensorProto.DOUBLE, [1])],
        [vec("y", TensorProto.DOUBLE, [1 << 30])],
        [big],
    )
    cases["external 8 GiB of 10 GB"] = ([_save(add, sub / "ext.onnx")], "more than 2 GiB")
    # a node whose output would hold 2^40 elements (constant folding would allocate it)
    shape = helper.make_tensor("s", TensorProto.INT64, [2], [1 << 20, 1 << 20])
    fill = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["s"], ["c"]), helper.make_node("Add", ["x", "c"], ["y"])],
        "g",
        [vec("x", 1, [1, 1])],
        [vec("y", 1, ["a", "b"])],
        [shape],
    )
    cases["ConstantOfShape 2^40"] = ([_save(fill, folder / "fill.onnx")], "node 'ConstantOfShape")
    return cases


CASES = [
    "--input 2^40",
    "--input 2^20 x 2^20",
    "--input ranges",
    "--input 5000 digits",
    "model input 2^42",
    "initializer 2^40",
    "external 8 GiB of 10 GB",
    "ConstantOfShape 2^40",
]


@pytest.mark.parametrize("case", CASES)
def test_absurd_sizes_fail_fast_without_allocating(case, tmp_path):
    args, message = _huge_cases(tmp_path)[case]
    done = _run_limited(args, tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    line = one_error_line(done.stderr)
    assert message in line, line
    assert done.seconds < 30
    assert not list(tmp_path.rglob("*.mlmodel"))


def test_the_memory_limit_is_tight_enough_to_notice(tmp_path):
    """The control for the test above: allocating one of the refused tensors in the same limits fails."""
    code = "import numpy as np; np.ones(1 << 30, np.float32); print('allocated')"
    import resource

    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT)),
    )
    assert done.returncode != 0 and "allocated" not in done.stdout


def test_huge_input_for_a_torchscript_model_is_refused_before_torch_allocates(tmp_path, capsys):
    import torch

    path = tmp_path / "relu.pt"
    torch.jit.save(torch.jit.script(torch.nn.ReLU()), str(path))
    code, _, err = run_cli([path, "--input", "x:1x3x1048576x1048576"], capsys)
    assert code == 2 and "2^30" in one_error_line(err)


# --- interrupted runs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def relu6_model(tmp_path_factory) -> Path:
    """A small TorchScript net whose -O custom conversion has custom layers (kernels to write)."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU6(), torch.nn.Conv2d(8, 4, 1), torch.nn.Hardswish()
    ).eval()
    path = tmp_path_factory.mktemp("relu6") / "net.pt"
    torch.jit.save(torch.jit.trace(net, torch.randn(1, 3, 16, 16)), str(path))
    return path


def _convert_args(model: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bridgec",
        str(model),
        "-i",
        "1x3x16x16",
        "-O",
        "custom",
        "-o",
        str(out),
        "--report-json",
        str(out.with_suffix(".json")),
        *extra,
    ]


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def previous_outputs(relu6_model, tmp_path_factory) -> Path:
    """A finished conversion of the model: what a killed rerun must leave as it was."""
    out = tmp_path_factory.mktemp("previous") / "net.mlmodel"
    done = subprocess.run(_convert_args(relu6_model, out, "-q"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (
        out.parent / "bridgec_kernels" / "Sources" / "BridgecCustomLayers" / "HardTanhLayer.swift"
    ).exists()
    return out.parent


def _interrupt(args: list[str], stage: str, signum: int) -> tuple[subprocess.Popen, str]:
    """Run ``args`` and send ``signum`` when a progress line holds ``stage``, or after ``stage``'s
    seconds ("after 3.2s"); returns the finished process and its stderr."""
    # --progress: stage lines on the pipe, which shows none without it
    proc = subprocess.Popen(
        [*args, "--progress"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    if stage.startswith("after "):
        try:
            proc.wait(timeout=float(stage.removeprefix("after ").removesuffix("s")))
        except subprocess.TimeoutExpired:
            proc.send_signal(signum)
    else:
        deadline = time.monotonic() + 240
        for line in proc.stderr:
            if stage in line or time.monotonic() > deadline:
                proc.send_signal(signum)
                break
    err = proc.stderr.read()
    proc.wait(timeout=240)
    return proc, err


# random moments too, not only the progress lines: seconds after the start (seeded, so reproducible)
DELAYS = [round(d, 2) for d in np.random.default_rng(10).uniform(2.0, 8.0, 4)]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    "stage",
    ["loading", "running -O", "building a Core ML", "writing", *(f"after {d}s" for d in DELAYS)],
)
def test_interrupted_run_keeps_the_previous_outputs_whole(
    signum, stage, relu6_model, previous_outputs, tmp_path
):
    """Ctrl-C or SIGTERM at each stage and at random moments, over the outputs of an earlier run:
    afterwards the model, the kernels folder and the JSON report are each the earlier one or the new
    one, whole, and no staged file is left."""
    import shutil

    folder = tmp_path / "out"
    shutil.copytree(previous_outputs, folder)
    before = _tree(folder)
    out = folder / "net.mlmodel"
    # the new run differs from the earlier one (another -O), so a swap is visible
    args = _convert_args(relu6_model, out)
    args[args.index("custom")] = "lower-custom"
    args += ["--allow-missing-kernels"]
    proc, err = _interrupt(args, stage, signum)
    after = _tree(folder)
    names = sorted(p.name for p in folder.iterdir())
    assert not [n for n in names if n.startswith(".") or n.endswith((".old", ".tmp"))], names
    assert "Traceback" not in err and "error" not in err, err
    if "no output was written" in err:
        assert proc.returncode == 130, err
        assert after == before, "an interrupted run changed the earlier outputs"
    else:  # the signal came after the renames: everything is the new run, whole
        assert proc.returncode in (0, 130), err
        assert proc.returncode == 0 or "was already written completely" in err, err
        from bridgec.backends.coreml import load_spec

        assert len(load_spec(out).neuralNetwork.layers) >= 4
        assert after != before and not (folder / "bridgec_kernels").exists()  # this run needs no kernels
        assert b'"pipeline": "lower-custom"' in (folder / "net.json").read_bytes()


def test_failed_run_keeps_the_previous_outputs(previous_outputs, tmp_path, capsys):
    """A conversion that fails (here: -O none with ops the target lacks) touches nothing."""
    import shutil

    folder = tmp_path / "out"
    shutil.copytree(previous_outputs, folder)
    before = _tree(folder)
    model = tmp_path / "round.onnx"
    onnx.save(
        onnx.parser.parse_model(
            '<ir_version: 8, opset_import: ["" : 17]> g (float[1,3,4,4] x) => (float[1,3,4,4] y) { y = Round (x) }'
        ),
        str(model),
    )
    out = folder / "net.mlmodel"
    code, _, err = run_cli([model, "-O", "none", "-o", out, "--report-json", folder / "net.json"], capsys)
    assert code == 1 and "Round" in one_error_line(err)
    assert _tree(folder) == before


def test_a_report_that_cannot_be_written_is_one_line(tmp_path, capsys):
    model = tmp_path / "relu.onnx"
    onnx.save(
        onnx.parser.parse_model(
            '<ir_version: 8, opset_import: ["" : 17]> g (float[1,2] x) => (float[1,2] y) { y = Relu (x) }'
        ),
        str(model),
    )
    (tmp_path / "report.json").mkdir()  # a folder where the report file should go
    code, _, err = run_cli([model, "-q", "--report-json", tmp_path / "report.json"], capsys)
    line = one_error_line(err)
    assert code == 2 and "report.json" in line, line
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# --- determinism -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_same_input_same_bytes_across_processes(relu6_model, tmp_path):
    """Two processes (different hash seeds, different temporary folders) write identical model,
    kernels and report bytes. The same command line in each folder: the report records it."""
    trees = []
    for run, hashseed in enumerate(("1", "4242")):
        folder = tmp_path / f"run{run}"
        folder.mkdir()
        env = dict(os.environ, PYTHONHASHSEED=hashseed, PYTHONPATH=str(ROOT))
        done = subprocess.run(
            _convert_args(relu6_model, Path("net.mlmodel"), "-q"),
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            cwd=folder,
        )
        assert done.returncode == 0, done.stderr
        trees.append(_tree(folder))
    assert trees[0] == trees[1]
    kernels = [
        "bridgec_kernels/Sources/BridgecCustomLayers/HardTanhLayer.swift",
        "bridgec_kernels/KERNELS.md",
    ]
    assert {"net.mlmodel", "net.json", *kernels} <= set(trees[0])


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_same_input_same_ml_program_across_processes(relu6_model, tmp_path, precision):
    """The whole .mlpackage, weights blob included, is byte-identical across processes."""
    trees = []
    for run, hashseed in enumerate(("1", "4242")):
        out = tmp_path / f"run{run}" / "net.mlpackage"
        env = dict(os.environ, PYTHONHASHSEED=hashseed, PYTHONPATH=str(ROOT))
        args = [sys.executable, "-m", "bridgec", str(relu6_model), "-i", "1x3x16x16", "-o", str(out), "-q"]
        done = subprocess.run(
            [*args, "--precision", precision], capture_output=True, text=True, env=env, timeout=300
        )
        assert done.returncode == 0, done.stderr
        trees.append(_tree(out))
    assert trees[0] == trees[1]
    assert "Data/com.apple.CoreML/weights/weight.bin" in trees[0]


def test_same_onnx_input_same_bytes_in_one_process(tmp_path, capsys, monkeypatch):
    """The same command line (the report records it) in two folders writes the same bytes."""
    model = tmp_path / "m.onnx"
    onnx.save(
        onnx.parser.parse_model(
            '<ir_version: 8, opset_import: ["" : 11]> g (float[1,2,3,3] x) => (float[1,2,3,3] y) '
            "<float lo = {0.0}, float hi = {6.0}> { a = Clip (x, lo, hi) y = Selu (a) }"
        ),
        str(model),
    )
    outputs = []
    for run in range(2):
        folder = tmp_path / f"run{run}"
        folder.mkdir()
        monkeypatch.chdir(folder)
        code, _, err = run_cli(
            [model, "-q", "-O", "custom", "-o", "m.mlmodel", "--report-json", "m.json"], capsys
        )
        assert code == 0, err
        outputs.append(_tree(folder))
    assert outputs[0] == outputs[1]


# --- what the fuzzer found (tools/fuzz.py): each now one line -----------------------------------------


def _finding_files(folder: Path) -> dict[str, tuple[Path, str]]:
    import zipfile

    files = {}
    # a weight whose raw bytes do not fit its type (float16 x 4 needs 8 bytes, not 16)
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT16, dims=[4], raw_data=bytes(16))
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [4])],
        [weight],
    )
    path = _save(graph, folder / "raw.onnx")
    files["raw data size"] = (path, "holds 16 bytes but its type and shape [4] need 8")
    # a node name that is not UTF-8 (the checker's C++ -> Python conversion failed)
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="NAMEMARK")],
        "g",
        [helper.make_tensor_value_info("x", 1, [1, 2])],
        [helper.make_tensor_value_info("y", 1, [1, 2])],
    )
    data = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8
    ).SerializeToString()
    (folder / "name.onnx").write_bytes(data.replace(b"NAMEMARK", b"\x80NAMEMAR"))
    files["non-UTF-8 name"] = (folder / "name.onnx", "is not UTF-8 text")
    # an output made of constants only (no Core ML layer can produce it)
    model = onnx.parser.parse_model(
        '<ir_version: 8, opset_import: ["" : 17]> g (float[1,2] x) => (float[1,2] y, float[1] z) '
        "{ y = Relu (x) c = Constant <value = float[1] {2.0}> () z = Relu (c) }"
    )
    onnx.save(model, str(folder / "constant.onnx"))
    files["constant output"] = (folder / "constant.onnx", "output 'z' does not depend on any input")
    # a zip whose central directory holds a file name that is not UTF-8
    with zipfile.ZipFile(folder / "names.pt", "w") as archive:
        archive.writestr("model/\u00e9.pkl", b"x")
    raw = (folder / "names.pt").read_bytes().replace("\u00e9".encode(), b"\x80\x80")
    (folder / "names.pt").write_bytes(raw)
    files["zip name"] = (folder / "names.pt", "a damaged zip archive")
    # a .pt2 that torch cannot read (torch.export.load logged a traceback on stderr)
    with zipfile.ZipFile(folder / "broken.pt2", "w") as archive:
        archive.writestr("broken/serialized_exported_program.json", b"{}")
    files["pt2 unreadable"] = (folder / "broken.pt2", "torch.export archive")
    # a truncated .onnx with an unnamed --input (the input names were read without a check)
    relu = onnx.parser.parse_model(
        '<ir_version: 8, opset_import: ["" : 17]> g (float[1,2] x) => (float[1,2] y) { y = Relu (x) }'
    )
    (folder / "truncated.onnx").write_bytes(relu.SerializeToString()[:40])
    files["truncated with --input"] = (folder / "truncated.onnx", "not a readable ONNX model")
    return files


@pytest.mark.parametrize(
    "case",
    [
        "raw data size",
        "non-UTF-8 name",
        "constant output",
        "zip name",
        "pt2 unreadable",
        "truncated with --input",
    ],
)
def test_fuzzer_findings_are_one_line_errors(case, tmp_path):
    path, message = _finding_files(tmp_path)[case]
    done = subprocess.run(
        [sys.executable, "-m", "bridgec", str(path), "-q", "--input", "1x2"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert done.returncode == 2, done.stderr
    assert message in one_error_line(done.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("stage", ["building the Core ML", "writing", *(f"after {d}s" for d in DELAYS[:2])])
def test_interrupted_ml_program_keeps_the_previous_package_whole(signum, stage, relu6_model, tmp_path):
    """The same for an ML Program: the .mlpackage folder is the earlier one or the new one, whole."""
    out = tmp_path / "net.mlpackage"
    base = [sys.executable, "-m", "bridgec", str(relu6_model), "-i", "1x3x16x16", "-o", str(out)]
    done = subprocess.run([*base, "-q", "--author", "A"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    before = _tree(tmp_path)
    proc, err = _interrupt([*base, "--author", "B"], stage, signum)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.mlpackage"], err  # nothing staged is left
    assert "Traceback" not in err, err
    from bridgec.backends.coreml import load_spec

    author = load_spec(out).description.metadata.author
    if "no output was written" in err:
        assert proc.returncode == 130 and _tree(tmp_path) == before and author == "A"
    else:
        assert proc.returncode in (0, 130) and author == "B", err
