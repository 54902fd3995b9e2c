"""Special and endless inputs: every file bridgec reads must be a regular file, and sizes are bounded
before anything is allocated.

A named pipe blocks whoever opens it, ``/dev/zero`` never ends, a socket or a directory is no file:
each is refused at once, in one line naming the flag and what the path is. A file named ``.onnx`` is
recognised as ONNX from its first bytes before it is read whole. Tensors sized only by evaluating
constants (``Abs`` of a shape fed to ``ConstantOfShape``, ``Expand``, ``Tile``, ``Range``) are sized and
refused before onnxruntime (the numbers check) or constant folding computes them.

Everything runs ``python -m bridgec`` in a subprocess with a timeout (a pipe would block forever) and
an address-space limit of 4 GiB (a big allocation fails there instead of swapping the machine).
"""

from __future__ import annotations

import io
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
MEMORY_LIMIT = 4 << 30
TIMEOUT = 60  # seconds; bridgec answers each of these in one or two


def bridgec(args: list, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """``python -m bridgec ARGS`` limited to 4 GiB of address space; a hang fails the test."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    start = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bridgec", *map(os.fspath, args)],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            preexec_fn=limit,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"bridgec {' '.join(map(str, args))} hung for {TIMEOUT} s")
    return done, time.monotonic() - start


def error_line(done: subprocess.CompletedProcess) -> str:
    """The one line of a refusal: exit 2, nothing on stderr but bridgec's own lines, no traceback."""
    lines = done.stderr.strip().splitlines()
    assert lines and all(line.startswith("bridgec: ") for line in lines), done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 2, done.stderr[-3000:]
    return lines[-1]


def relu_model(folder: Path, name: str = "relu.onnx") -> Path:
    model = onnx.parser.parse_model(
        '<ir_version: 8, opset_import: ["" : 17]> g (float[1,2] x) => (float[1,2] y) { y = Relu (x) }'
    )
    path = folder / name
    onnx.save(model, str(path))
    return path


# --- special files --------------------------------------------------------------------------------------


@pytest.fixture
def short_folder():
    """A folder with a short path: a socket's path is limited to about 100 bytes."""
    import shutil

    folder = Path(tempfile.mkdtemp(prefix="bs"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def special(kind: str, folder: Path, name: str, short: Path) -> tuple[Path, str]:
    """A path of ``kind`` (what bridgec must say it is) named ``name``."""
    path = folder / name
    if kind == "fifo":
        os.mkfifo(path)
        return path, "is a named pipe (FIFO), not a regular file"
    if kind == "zero":  # /dev/zero under the flag's usual name: read whole, it never ends
        path.symlink_to("/dev/zero")
        return path, "is a character device, not a regular file"
    if kind == "socket":  # bound in a short folder (socket paths are limited to ~100 bytes), linked here
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(short / "s"))  # the socket file stays after the process closes it
        server.close()
        path.symlink_to(short / "s")
        return path, "is a socket, not a regular file"
    if kind == "directory":
        path.mkdir()
        return path, "is a directory"
    raise ValueError(kind)


KINDS = ["fifo", "zero", "socket", "directory"]

# (name of the path, arguments before it, arguments after it)
FLAGS = {
    "model": ("m.onnx", [], ["-q"]),
    "model.pt": ("m.pt", [], ["-q", "--input", "1x2"]),
    "--labels": ("labels.txt", ["{relu}", "-q", "--labels"], []),
    "--check-input": ("x.npy", ["{relu}", "-q", "--check-input"], []),
    "--check-input NAME=": ("x.npy", ["{relu}", "-q", "--check-input", "x={path}"], None),
    "--load-passes": ("passes.py", ["{relu}", "-q", "--load-passes"], []),
    "verify --inputs": ("in.npz", ["verify", "{relu}", "-q", "--inputs"], []),
    "report --load-passes": ("passes.py", ["report", "{relu}", "--load-passes"], []),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("flag", list(FLAGS))
def test_special_files_are_refused_at_once(flag, kind, tmp_path, short_folder):
    relu = relu_model(tmp_path)
    name, before, after = FLAGS[flag]
    path, said = special(kind, tmp_path, name, short_folder)
    if after is None:  # the path is inside the flag's value
        args = [a.format(relu=relu, path=path) for a in before]
    else:
        args = [a.format(relu=relu) for a in before] + [path] + after
    done, seconds = bridgec(args, tmp_path)
    line = error_line(done)
    assert said in line and name in line, line
    if flag not in ("model", "model.pt"):
        option = next(word for word in flag.split() if word.startswith("--"))
        assert line.startswith(f"bridgec: error: {option} "), line
    assert seconds < 30
    assert not list(tmp_path.glob("*.mlpackage")) and not list(tmp_path.glob("*.mlmodel"))


def test_external_data_that_is_a_pipe_is_refused(tmp_path):
    """ONNX external data is read whole by onnx: a pipe in its place would block the run."""
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2])
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "w.bin"
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    (tmp_path / "ext.onnx").write_bytes(model.SerializeToString())
    os.mkfifo(tmp_path / "w.bin")
    done, _ = bridgec([tmp_path / "ext.onnx", "-q"], tmp_path)
    line = error_line(done)
    assert "external data file 'w.bin'" in line and "named pipe (FIFO)" in line, line


def test_the_limit_is_tight_enough_to_notice(tmp_path):
    """The control: reading /dev/zero whole in the same limits does fail (so the tests above would
    see a run that tried)."""
    code = "open('/dev/zero', 'rb').read(5 << 30)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT)),
        timeout=TIMEOUT,
    )
    assert done.returncode != 0 and "MemoryError" in done.stderr


# --- an .onnx file is recognised from its head ---------------------------------------------------------


@pytest.mark.parametrize(
    "head, said",
    [
        (b"", "field 0 of wire type 0 at byte 0"),  # zeros: no protobuf field is numbered 0
        (b"\x08\x07", "field 0 of wire type 0 at byte 2"),  # ir_version, then zeros
        (b"GIF89a", "at byte 0"),
        (
            b"\x08\x07\x3a\xff\xff\xff\xff\x0f",
            "claims 4,294,967,295 bytes but the file ends",
        ),  # a graph past the end
    ],
)
def test_a_big_file_that_is_no_onnx_is_refused_from_its_head(head, said, tmp_path):
    """1.5 GB named .onnx (sparse: no disk used): refused from its first bytes, so nothing near its
    size is read or allocated (onnx would read it whole, then protobuf would fail)."""
    path = tmp_path / "big.onnx"
    with open(path, "wb") as handle:
        handle.write(head)
        handle.truncate(1536 << 20)
    done, seconds = bridgec([path, "-q"], tmp_path)
    line = error_line(done)
    assert "not a readable ONNX model" in line and said in line, line
    assert seconds < 30


def test_an_onnx_file_past_protobufs_2_gib_is_refused_unread(tmp_path):
    path = tmp_path / "huge.onnx"
    with open(path, "wb") as handle:
        handle.write(relu_model(tmp_path).read_bytes())
        handle.truncate(3 << 30)
    done, _ = bridgec([path, "-q"], tmp_path)
    line = error_line(done)
    assert "3,221,225,472 bytes, more than the 2 GiB one ONNX file can hold" in line, line


def test_a_real_model_with_another_name_is_still_recognised(tmp_path):
    """The control: the header walk accepts a real model whatever its name."""
    path = relu_model(tmp_path, "model.bin")
    done, _ = bridgec([path, "-q", "-o", tmp_path / "out.mlpackage"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.mlpackage").is_dir()


# --- numpy files whose headers claim absurd sizes ------------------------------------------------------


def npy_bytes(shape: tuple[int, ...]) -> bytes:
    """A .npy header claiming ``shape`` float32, with 16 bytes of data."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return out.getvalue() + bytes(16)


@pytest.mark.parametrize("shape, said", [((1 << 40,), "2^30"), ((1 << 29,), "the file holds 16")])
def test_check_input_header_claims_are_checked_before_numpy_allocates(shape, said, tmp_path):
    relu = relu_model(tmp_path)
    (tmp_path / "x.npy").write_bytes(npy_bytes(shape))
    done, _ = bridgec([relu, "-q", "--check-input", tmp_path / "x.npy"], tmp_path)
    line = error_line(done)
    assert line.startswith("bridgec: error: --check-input") and said in line, line


@pytest.mark.parametrize("shape, said", [((1 << 40,), "2^30"), ((1 << 29,), "the file holds 16")])
def test_verify_inputs_header_claims_are_checked_before_numpy_allocates(shape, said, tmp_path):
    relu = relu_model(tmp_path)
    with zipfile.ZipFile(tmp_path / "in.npz", "w") as archive:
        archive.writestr("x.npy", npy_bytes(shape))
    done, _ = bridgec(["verify", relu, "-q", "--inputs", tmp_path / "in.npz"], tmp_path)
    line = error_line(done)
    assert line.startswith("bridgec: error: --inputs") and "(x.npy)" in line and said in line, line


# --- sizes only constant evaluation can tell -----------------------------------------------------------


def _hostile(folder: Path, name: str) -> Path:
    """Tiny models whose huge tensor is sized by a constant that shape inference does not evaluate
    (``Abs`` has no data propagation in onnx), so only running the model would size it."""
    vi = helper.make_tensor_value_info

    def i64(n, v):
        return numpy_helper.from_array(np.array(v, dtype=np.int64), n)

    def f32(n, v):
        return numpy_helper.from_array(np.array(v, dtype=np.float32), n)

    big = [-(1 << 16), -(1 << 16)]  # |.| = 65536 x 65536: 2^32 elements
    graphs = {
        "constantofshape": (
            [
                helper.make_node("Abs", ["s"], ["a"]),
                helper.make_node("ConstantOfShape", ["a"], ["c"]),
                helper.make_node("Add", ["x", "c"], ["y"]),
            ],
            [i64("s", big)],
        ),
        "expand": (
            [helper.make_node("Abs", ["s"], ["a"]), helper.make_node("Expand", ["x", "a"], ["y"])],
            [i64("s", big)],
        ),
        "tile": (
            [helper.make_node("Abs", ["r"], ["a"]), helper.make_node("Tile", ["x", "a"], ["y"])],
            [i64("r", big)],
        ),
        "tile of a weight": (
            [
                helper.make_node("Abs", ["r"], ["a"]),
                helper.make_node("Tile", ["w", "a"], ["t"]),
                helper.make_node("Add", ["x", "t"], ["y"]),
            ],
            [f32("w", [[1.0]]), i64("r", big)],
        ),
        "range": (
            [
                helper.make_node("Abs", ["n"], ["a"]),
                helper.make_node("Range", ["z", "a", "o"], ["r"]),
                helper.make_node("Unsqueeze", ["r", "axis"], ["u"]),
                helper.make_node("Add", ["x", "u"], ["y"]),
            ],
            [f32("z", 0.0), f32("n", -(2.0**32)), f32("o", 1.0), i64("axis", [0])],
        ),
    }
    nodes, inits = graphs[name]
    graph = helper.make_graph(
        nodes, "g", [vi("x", TensorProto.FLOAT, [1, 1])], [vi("y", 1, ["a", "b"])], inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = folder / f"{name.replace(' ', '_')}.onnx"
    path.write_bytes(model.SerializeToString())
    return path


HOSTILE = ["constantofshape", "expand", "tile", "tile of a weight", "range"]


@pytest.mark.parametrize("check", [True, False], ids=["checked", "no-check"])
@pytest.mark.parametrize("name", HOSTILE)
def test_sizes_computed_from_constants_are_bounded_before_anything_runs(name, check, tmp_path):
    """Refused naming the node, before onnxruntime (the check) or constant folding (--no-check)
    allocates 16 GiB."""
    path = _hostile(tmp_path, name)
    done, seconds = bridgec([path, "-q", *([] if check else ["--no-check"])], tmp_path)
    line = error_line(done)
    assert "4,294,967,296 elements, more than bridgec's limit" in line and "node '" in line, line
    assert seconds < 30
    assert not list(tmp_path.glob("*.mlpackage"))


def test_a_folded_constant_past_2_gib_is_refused_before_it_is_computed(tmp_path):
    """2^30 float32 computed from constants alone (under the element limit, 4 GiB): a weight no Core ML
    model holds, refused before folding or the emitter allocates it."""
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(
        [
            helper.make_node("Abs", ["r"], ["a"]),
            helper.make_node("Tile", ["w", "a"], ["t"]),
            helper.make_node("Add", ["x", "t"], ["y"]),
        ],
        "g",
        [vi("x", TensorProto.FLOAT, [1, 1])],
        [vi("y", 1, ["a", "b"])],
        [
            numpy_helper.from_array(np.ones((1, 1), np.float32), "w"),
            numpy_helper.from_array(np.array([-(1 << 15), -(1 << 15)], np.int64), "r"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = tmp_path / "tile.onnx"
    path.write_bytes(model.SerializeToString())
    done, _ = bridgec([path, "-q", "--no-check"], tmp_path)
    line = error_line(done)
    assert "(4,294,967,296 bytes) from constants alone" in line, line


def test_constant_shape_arithmetic_still_folds(tmp_path):
    """The control: a small shape computed through Abs sizes a Reshape and the model converts (the
    walk evaluates it, folding still folds it)."""
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("Abs", ["s"], ["a"]), helper.make_node("Reshape", ["x", "a"], ["y"])],
        "g",
        [vi("x", TensorProto.FLOAT, [1, 6])],
        [vi("y", 1, ["a", "b"])],
        [numpy_helper.from_array(np.array([-2, -3], np.int64), "s")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = tmp_path / "reshape.onnx"
    path.write_bytes(model.SerializeToString())
    done, _ = bridgec([path, "-q", "-o", tmp_path / "out.mlpackage"], tmp_path)
    assert done.returncode == 0, done.stderr
