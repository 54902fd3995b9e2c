"""Fuzz the ``bridgec`` command line with damaged model files.

    python tools/fuzz.py [--cases 1000] [--seed 0] [--timeout 60] [--formats onnx,pt,pt2] [--jobs 1]
                         [--fork] [--failures DIR] [--replay DIR]

Seeds are small valid models made here (a conv + ReLU6 + conv net as ``.onnx``, TorchScript ``.pt``
and ``torch.export`` ``.pt2``). Each case truncates, bit-flips or splices a seed (or one member of a
seed's zip archive, or one field of an ONNX model) and runs ``bridgec CASE -o out.mlmodel`` (or
``--output out.mlpackage``: an ML Program) in a
subprocess, in a fresh temporary folder, with a per-case timeout.

``.pt2`` cases also get hostile member mutations (``pt2_member:*``; ``--pt2-members`` makes every
``.pt2`` case one): the program JSON with a shape expression, guard, value name, parameter path,
operator target or pytree spec swapped for a payload, members added (an opaque-object pickle, an
AOTInductor library, a member named ``../``, a duplicate, a symlink), pickled weights and inflated
size claims. Each payload creates ``PAYLOAD_RAN`` in the case folder (or, for a zip slip, a file of
its own name in ``bridgec-fuzz-slip`` under the temporary folder). A case is a finding when

- ``payload``: a payload ran (its file exists after the run),

- ``traceback``: stderr holds a Python traceback or an ``internal error`` line,
- ``hang``: the run outlived ``--timeout``,
- ``exit``: the exit status is not 0, 1 or 2,
- ``noise``: stderr holds a line that is not ``bridgec: ...`` (the one-line error contract),
- ``leftover``: the folder holds anything but the case file and, after a successful run, a complete
  ``out.mlmodel`` or ``out.mlpackage`` (and ``bridgec_kernels/``).

``--fork`` runs the cases from a fork server instead: one long-lived worker per job imports bridgec's
CLI, torch, onnx and coremltools once and ``os.fork()``s a child per case, which redirects its output to
files, changes into the case folder and calls the ``bridgec`` console script's entry point. A case then
costs its conversion, not the ~2 s of imports, which is what makes a 10,000-case soak fit in an hour.
The plain subprocess mode stays the default: it is the exact process a user runs.

Findings are copied to ``--failures`` (the case file plus ``NAME.txt`` with the command, exit status
and stderr) and ``--replay DIR`` runs them again. Exit status: 0 without findings, 1 with some.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import importlib
import io
import json
import os
import pickle
import queue
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORMATS = ("onnx", "pt", "pt2")
KINDS = ("traceback", "hang", "exit", "noise", "leftover", "payload")
INPUT = "x:1x3x8x8"
PAYLOAD = "PAYLOAD_RAN"  # what a hostile .pt2 case's payload creates in the case folder
PAYLOAD_MODULE = "pt2_payload_module"  # written next to those cases: importing it runs the payload
SLIP = Path(tempfile.gettempdir()) / "bridgec-fuzz-slip"  # where zip-slip members aim
MODES = {"pt2_members": False}  # --pt2-members: every .pt2 case is a hostile member mutation


# --- seeds -------------------------------------------------------------------------------------------


def make_seeds(folder: Path, formats: tuple[str, ...] = FORMATS) -> dict[str, bytes]:
    """Small valid models, one per format, made (and cached) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {fmt: folder / f"seed.{fmt}" for fmt in formats}
    missing = [fmt for fmt, path in paths.items() if not path.exists()]
    if missing:
        code = (
            "import sys, torch\n"
            "from pathlib import Path\n"
            "torch.manual_seed(0)\n"
            "net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU6(),\n"
            "    torch.nn.Conv2d(4, 2, 1), torch.nn.Hardtanh(-2, 2)).eval()\n"
            "x = torch.randn(1, 3, 8, 8)\n"
            "folder = Path(sys.argv[1])\n"
            "for fmt in sys.argv[2:]:\n"
            "    out = folder / f'seed.{fmt}'\n"
            "    if fmt == 'pt':\n"
            "        torch.jit.save(torch.jit.trace(net, x), str(out))\n"
            "    elif fmt == 'pt2':\n"
            "        torch.export.save(torch.export.export(net, (x,)), str(out))\n"
            "    else:\n"
            "        torch.onnx.export(net, (x,), str(out), dynamo=False, opset_version=17,\n"
            "            input_names=['x'], output_names=['y'])\n"
        )
        subprocess.run(
            [sys.executable, "-c", code, str(folder), *missing], check=True, capture_output=True, cwd=ROOT
        )
    return {fmt: paths[fmt].read_bytes() for fmt in formats}


# --- mutations -----------------------------------------------------------------------------------------


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(0, max(1, len(data)))]


def bit_flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 16, 64))):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def byte_set(data: bytes, rng: random.Random) -> bytes:
    """Overwrite a few bytes with values parsers treat specially (0, 0xff, 0x7f, 0x80)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] = rng.choice((0x00, 0xFF, 0x7F, 0x80, 0x01))
    return bytes(out)


def splice(data: bytes, other: bytes, rng: random.Random) -> bytes:
    """The head of one file and the tail of another (or a chunk of it inserted in the middle)."""
    if rng.random() < 0.5:
        return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]
    at = rng.randrange(len(data) + 1)
    start = rng.randrange(len(other) + 1)
    return data[:at] + other[start : start + rng.randint(1, 4096)] + data[at:]


def byte_mutation(data: bytes, other: bytes, rng: random.Random) -> tuple[str, bytes]:
    choice = rng.choice(("truncate", "bit_flip", "byte_set", "splice"))
    if choice == "truncate":
        return choice, truncate(data, rng)
    if choice == "bit_flip":
        return choice, bit_flip(data, rng)
    if choice == "byte_set":
        return choice, byte_set(data, rng)
    return choice, splice(data, other, rng)


def _dated(info: zipfile.ZipInfo | str, compression: int) -> zipfile.ZipInfo:
    """A member with a fixed timestamp (a name given as text would get the current time): the same
    seed gives the same bytes even when two runs straddle a tick of the zip clock (2 s)."""
    if isinstance(info, zipfile.ZipInfo):
        return info
    member = zipfile.ZipInfo(info)  # dated 1980-01-01
    member.compress_type = compression
    return member


def zip_member(data: bytes, other: bytes, rng: random.Random) -> tuple[str, bytes]:
    """Damage one member of a zip archive and write a well-formed archive around it, so the damage
    reaches torch's readers instead of stopping at the zip layer."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    index = rng.randrange(len(members))
    name = members[index][0].filename
    how, damaged = byte_mutation(members[index][1], other, rng)
    if rng.random() < 0.1:
        how, damaged = "drop", None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for i, (info, content) in enumerate(members):
            if i != index:
                archive.writestr(info, content)
            elif damaged is not None:
                archive.writestr(info, damaged)
    return f"zip_member:{how}:{Path(name).name}", buffer.getvalue()


def onnx_field(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """Change one field of a parsed ONNX model: a dimension, an attribute, an op, an edge, a weight."""
    import onnx

    model = onnx.load_from_string(data)
    graph = model.graph
    choice = rng.choice(("dim", "attr", "op", "edge", "weight", "opset", "external"))
    if choice == "dim":
        values = [v for v in (*graph.input, *graph.output) if v.type.tensor_type.shape.dim]
        dims = rng.choice(values).type.tensor_type.shape.dim
        dims[rng.randrange(len(dims))].dim_value = rng.choice((0, 1, 7, 1 << 20, 1 << 40, (1 << 63) - 1))
    elif choice == "attr":
        attrs = [a for node in graph.node for a in node.attribute]
        if attrs:
            attr = rng.choice(attrs)
            if attr.ints:
                attr.ints[rng.randrange(len(attr.ints))] = rng.choice((-1, 0, 3, 1 << 31, -(1 << 40)))
            elif attr.HasField("f"):
                attr.f = rng.choice((float("nan"), float("inf"), -1e30, 0.0))
            elif attr.HasField("i"):
                attr.i = rng.choice((-1, 0, 1 << 40))
    elif choice == "op":
        node = rng.choice(graph.node)
        node.op_type = rng.choice(("Relu", "Clip", "Conv", "Reshape", "Loop", "NoSuchOp", "Gemm", ""))
    elif choice == "edge":
        node = rng.choice(graph.node)
        names = [n for other in graph.node for n in other.output] + [i.name for i in graph.input] + [""]
        if node.input and rng.random() < 0.7:
            node.input[rng.randrange(len(node.input))] = rng.choice(names)
        else:
            node.output[0] = rng.choice(names)
    elif choice == "weight" and graph.initializer:
        tensor = rng.choice(graph.initializer)
        action = rng.random()
        if action < 0.4:
            tensor.dims[rng.randrange(len(tensor.dims))] = rng.choice((0, 1 << 20, 1 << 40))
        elif action < 0.7:
            tensor.raw_data = tensor.raw_data[: rng.randrange(len(tensor.raw_data) + 1)]
        else:
            tensor.data_type = rng.randrange(0, 24)
    elif choice == "opset":
        model.opset_import[0].version = rng.choice((1, 6, 9, 12, 25, 1 << 40))
    elif choice == "external" and graph.initializer:
        tensor = rng.choice(graph.initializer)
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (
            ("location", rng.choice(("w.bin", "../../etc/passwd", "/etc/passwd", "", "sub/../w.bin"))),
            ("offset", rng.choice(("0", "-1", "99999999999", "x"))),
            ("length", rng.choice(("16", str(10 << 30), "-5", ""))),
        ):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
    return f"onnx_field:{choice}", model.SerializeToString()


def mutate(fmt: str, seeds: dict[str, bytes], rng: random.Random) -> tuple[str, bytes]:
    data = seeds[fmt]
    other = seeds[rng.choice(sorted(seeds))]
    roll = rng.random()
    if fmt == "pt2" and (MODES["pt2_members"] or roll < 0.2):
        return pt2_member(data, rng)
    if fmt in ("pt", "pt2") and roll < 0.6:
        return zip_member(data, other, rng)
    if fmt == "onnx" and roll < 0.5:
        return onnx_field(data, rng)
    return byte_mutation(data, other, rng)


# --- hostile .pt2 members ------------------------------------------------------------------------------

# Python that creates PAYLOAD in the working folder (the case folder), in the places a .pt2 holds code
_PY = f"__import__('pathlib').Path('{PAYLOAD}').touch()"
_PY_DOTLESS = f'getattr(getattr(__import__("pathlib"),"Path")("{PAYLOAD}"),"touch")()'  # torch splits at dots
HOSTILE_STRINGS = (
    _PY,
    f"x={_PY}",  # a parameter default in ``def forward(self, x=...)``
    f'w"+str({_PY_DOTLESS})+"',  # inside ``getattr(self, "...")``
    f"{_PY} is None",
    "Pow(Integer(10), Integer(100000000))",
    "LShift(Integer(1), Integer(10000000000))",
    "Symbol('s0', positive=True, integer=True).__class__",
    "torch.os.system",
    "builtins.exec",
    "torch.ops.aten.from_file.default",
    "torch.export.custom_ops._call_custom_autograd_function_in_pre_dispatch",
    "torch.ops.higher_order.print",
    f"{PAYLOAD_MODULE}.Hook",
    "u99999999999",
    "a\rb",
    "",
    "x" * 5000,
)
HOSTILE_TARGETS = (
    "torch.os.system",
    "builtins.exec",
    "builtins.eval",
    "torch.ops.aten.from_file.default",
    "torch.ops.aten.save.default",
    "torch.ops.aten._print.default",
    "torch.export.custom_ops._call_custom_autograd_function_in_pre_dispatch",
    "torch.ops.higher_order.print",
    "torch.ops.higher_order.flat_apply",
    "torch.ops.load_library",
    "#evil:op",
)
PAYLOAD_MODULE_SOURCE = (
    f"open({PAYLOAD!r}, 'w').close()\n"
    "import enum\n\n\nclass Hook(enum.Enum):\n    x = 1\n\n    @staticmethod\n    def apply(*args):\n"
    "        return args[0] if args else None\n"
)


class _Payload:
    """Unpickling this creates PAYLOAD in the working folder."""

    def __reduce__(self):
        return (open, (PAYLOAD, "w"))


@functools.lru_cache(maxsize=1)
def payload_library() -> bytes:
    """A shared library whose constructor creates PAYLOAD in the working folder (an ELF stub when no
    C compiler is found: the archive is then refused or not all the same)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return b"\x7fELF no compiler here"
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "payload.c"
        source.write_text(
            "#include <stdio.h>\n__attribute__((constructor)) static void run(void) "
            f'{{ FILE *f = fopen("{PAYLOAD}", "w"); if (f) fclose(f); }}\n'
        )
        subprocess.run(
            [compiler, "-shared", "-fPIC", "-o", str(Path(tmp) / "payload.so"), str(source)],
            check=True,
            capture_output=True,
        )
        return (Path(tmp) / "payload.so").read_bytes()


def _strings(value):
    """(container, key) of every string value in parsed JSON."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(item, str):
            yield value, key
        else:
            yield from _strings(item)


def pt2_member(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """A hostile rewrite of a .pt2 archive (see the module docstring): what torch.export.load would
    run, extract or allocate, put where torch reads it."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        root = infos[0].filename.split("/")[0]
        members = {i.filename[len(root) + 1 :]: archive.read(i) for i in infos}
    program = json.loads(members["models/model.json"])
    graph = program["graph_module"]["graph"]
    weights = json.loads(members["data/weights/model_weights_config.json"])
    constants = json.loads(members["data/constants/model_constants_config.json"])
    extra: list[tuple[zipfile.ZipInfo | str, bytes]] = []  # members written before the others
    compression = zipfile.ZIP_STORED
    kind = rng.choice(
        ("string", "string", "expr", "guard", "target", "treespec", "opaque", "pickle", "sample_inputs",
         "aoti", "aoti_slip", "rename", "duplicate", "symlink", "inflate", "range", "compress")
    )  # fmt: skip
    detail = ""
    if kind == "string":  # any string of the program: the walk must have a rule for each
        slots = list(_strings(program))
        container, key = rng.choice(slots)
        container[key] = rng.choice(HOSTILE_STRINGS)
        detail = str(key)
    elif kind == "expr":
        name = rng.choice(sorted(graph["tensor_values"]))
        sizes = graph["tensor_values"][name]["sizes"]
        text = rng.choice((_PY, "Pow(Integer(10), Integer(100000000))", "Symbol('s0', evil=True)", "s0//0"))
        sizes[rng.randrange(len(sizes))] = {"as_expr": {"expr_str": text, "hint": {"as_int": 1}}}
    elif kind == "guard":
        program["guards_code"] = [rng.choice((f"{_PY} is None", "L['x'].size()[0] ** 10000000000 > 0", "1,"))]
    elif kind == "target":
        node = rng.choice(graph["nodes"])
        node["target"] = rng.choice(HOSTILE_TARGETS)
        argument = rng.choice((_PY, f"{PAYLOAD_MODULE}.Hook", PAYLOAD))
        node["inputs"].insert(0, {"name": "", "arg": {"as_string": argument}, "kind": 1})
        detail = node["target"]
    elif kind == "treespec":
        signature = program["graph_module"]["module_call_graph"][0]["signature"]
        spec = json.loads(signature["in_spec"])
        hooks = (
            json.dumps([{"__enum__": True, "fqn": f"{PAYLOAD_MODULE}:Hook", "name": "x"}]),
            {"default_factory_module": PAYLOAD_MODULE, "default_factory_name": "Hook", "dict_context": []},
        )
        hook = rng.choice(hooks)
        spec[1]["children_spec"][1] = {
            "type": "builtins.dict" if isinstance(hook, str) else "collections.defaultdict",
            "context": hook if isinstance(hook, str) else json.dumps(hook),
            "children_spec": [],
        }
        signature["in_spec"] = json.dumps(spec)
    elif kind == "opaque":
        prefix = rng.choice(("opaque_obj_", "custom_obj_"))
        members[f"data/constants/{prefix}0"] = pickle.dumps(_Payload(), protocol=2)
        constants["config"]["evil"] = {
            "path_name": f"{prefix}0",
            "is_param": False,
            "use_pickle": True,
            "tensor_meta": None,
        }
    elif kind == "pickle":  # a weight stored as a pickle (torch unpickles it in full)
        fqn = rng.choice(sorted(weights["config"]))
        members[f"data/weights/{weights['config'][fqn]['path_name']}"] = _torch_save_payload()
        weights["config"][fqn]["use_pickle"] = True
    elif kind == "sample_inputs":
        members["data/sample_inputs/model.pt"] = _torch_save_payload()
    elif kind == "aoti":
        members["data/aotinductor/model/model.wrapper.so"] = payload_library()
        members["data/aotinductor/model/model.wrapper_metadata.json"] = b'{"AOTI_DEVICE_KEY": "cpu"}'
    elif kind == "aoti_slip":  # torch extracts AOTInductor members to the path their name gives
        token = f"{rng.getrandbits(48):012x}"
        target = str(SLIP / token).lstrip("/")
        members[f"data/aotinductor/model/{'../' * 16}{target}"] = b"slipped"
        members["data/aotinductor/model/model.wrapper_metadata.json"] = b'{"AOTI_DEVICE_KEY": "cpu"}'
        detail = token
    elif kind == "rename":
        name = rng.choice(sorted(members))
        token = f"{rng.getrandbits(48):012x}"
        new = rng.choice(
            (
                f"../../{name}",
                str(SLIP / token),
                name.replace("/", "\\"),
                f"{name}/",
                f"./{name}",
                f"a//{name}",
            )
        )
        members[new] = members.pop(name)
        detail = token if new.startswith("/") else ""
    elif kind == "duplicate":  # a second copy that one zip reader may take and another not
        hostile = json.loads(members["models/model.json"])
        hostile["guards_code"] = [f"{_PY} is None"]
        extra.append((f"{root}/models/model.json", json.dumps(hostile).encode()))
    elif kind == "symlink":
        name = rng.choice(sorted(members))
        link = zipfile.ZipInfo(f"{root}/{name}")
        link.create_system = 3
        link.external_attr = (0o120777) << 16
        extra.append((link, members.pop(name)))
    elif kind == "inflate":  # a claim of more bytes than the record holds, or a record emptied
        fqn = rng.choice(sorted(weights["config"]))
        meta = weights["config"][fqn]["tensor_meta"]
        big = rng.choice((1 << 14, 1 << 20, 1 << 40, (1 << 63) - 1))
        meta["sizes"][0] = {"as_int": big}
        if rng.random() < 0.5:
            members[f"data/weights/{weights['config'][fqn]['path_name']}"] = b""
    elif kind == "range":
        program["range_constraints"][rng.choice(("u99999999999", "s0 + x.__class__", "zuf9" * 10))] = {
            "min_val": 0,
            "max_val": 4,
        }
    elif kind == "compress":
        compression = zipfile.ZIP_DEFLATED
    members["models/model.json"] = json.dumps(program).encode()
    members["data/weights/model_weights_config.json"] = json.dumps(weights).encode()
    members["data/constants/model_constants_config.json"] = json.dumps(constants).encode()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": the point of one kind
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for info, content in extra:
                archive.writestr(_dated(info, compression), content)
            for name, content in members.items():
                archive.writestr(
                    _dated(name if name.startswith("/") else f"{root}/{name}", compression), content
                )
    return f"pt2_member:{kind}" + (f":{detail}" if detail else ""), buffer.getvalue()


@functools.lru_cache(maxsize=1)
def _torch_save_payload() -> bytes:
    """A torch.save zip whose pickle creates PAYLOAD when unpickled in full."""
    import torch

    buffer = io.BytesIO()
    torch.save(((_Payload(),), {}), buffer)
    return buffer.getvalue()


def payload_markers(folder: Path, mutation: str) -> list[Path]:
    """Where a case's payload would have left its file."""
    markers = [folder / PAYLOAD]
    token = mutation.rsplit(":", 1)[-1]
    if mutation.startswith("pt2_member:") and len(token) == 12:
        markers.append(SLIP / token)
    return markers


# --- running a case ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    mutation: str
    returncode: int | None
    seconds: float
    stderr: str
    findings: list[str] = field(default_factory=list)
    slow: bool = False  # timed out once, finished on the retry


OUTPUT = {"name": "out.mlmodel"}  # what every case writes: set by --output


def cli_args(case: Path, fmt: str) -> list[str]:
    """The ``bridgec`` arguments for one case (run in the case's folder)."""
    args = [case.name, "-q", "-o", OUTPUT["name"]]
    if fmt == "pt":  # TorchScript records no shapes
        args += ["--input", INPUT]
    return args


def command(case: Path, fmt: str) -> list[str]:
    return [sys.executable, "-m", "bridgec", *cli_args(case, fmt)]


def _environment(extra_path: tuple[str, ...] = ()) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join((*extra_path, str(ROOT))), PYTHONHASHSEED="0")


def run_subprocess(case: Path, fmt: str, timeout: float) -> tuple[int | None, str]:
    """One ``bridgec`` process: (exit status or None on timeout, stderr)."""
    try:
        done = subprocess.run(
            command(case, fmt),
            cwd=case.parent,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=_environment(),
        )
        return done.returncode, done.stderr
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return None, stderr


# --- fork server -----------------------------------------------------------------------------------------

ENTRY = "bridgec.driver.cli:main"  # what the ``bridgec`` console script calls (pyproject's [project.scripts])
# Imported once by each worker, so a case pays its conversion only. The lazily imported parts of the
# torch path (torch.export, dynamo, the ONNX exporter) are most of the import time.
PRELOAD = (
    "torch",
    "torch.export",
    "torch._dynamo",
    "torch.onnx",
    "onnx",
    "onnx.version_converter",
    "onnxruntime",
    "onnx_graphsurgeon",
    "coremltools",
    "bridgec.driver.convert",
    "bridgec.frontends.onnx_file",
    "bridgec.frontends.pytorch",
    "bridgec.frontends.torchscript",
    "bridgec.backends.coreml",
)


def _exit_status(code: object) -> int:
    """The process exit status ``sys.exit(code)`` gives, as the interpreter computes it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _run_child(entry, request: dict, protocol: tuple[int, ...]) -> None:
    """In the forked child: become ``bridgec ARGS`` run in the case folder, then exit. Never returns."""
    status = 1
    try:
        os.setpgid(0, 0)  # the worker kills the whole group on a timeout
        for fd in protocol:
            os.close(fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        # the file descriptors, not only sys.stdout: torch and onnx print from C++
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        os.chdir(request["cwd"])
        sys.argv = ["bridgec", *request["argv"]]
        _set_torch_threads()
        try:
            status = _exit_status(entry())
        except SystemExit as exc:
            status = _exit_status(exc.code)
        except BaseException:  # noqa: BLE001 - what the interpreter prints for an uncaught exception
            traceback.print_exc()
            status = 1
        import atexit

        atexit._run_exitfuncs()  # as at the end of a real process (weakref finalizers, temp files)
    except BaseException:  # noqa: BLE001 - a broken child must still exit, never return into the worker
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed stream has nothing left to flush
                stream.flush()
        os._exit(status)


def _set_torch_threads() -> None:
    """One intra-op and one inter-op thread: the worker must fork before torch starts a thread pool,
    and the children of a 1-job soak must not fight over the cores."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
        with contextlib.suppress(RuntimeError):  # settable once, before any inter-op work
            torch.set_num_interop_threads(1)


def _wait(pid: int, timeout: float) -> int | None:
    """The child's exit status, or None after killing its process group at ``timeout``."""
    deadline = time.monotonic() + timeout
    pidfd = os.pidfd_open(pid)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([pidfd], [], [], left)[0]:
                if time.monotonic() < deadline:
                    continue
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)  # in case it died before its setpgid
                os.waitpid(pid, 0)
                return None
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)  # -N for a signal, like subprocess
    finally:
        os.close(pidfd)


def serve(entry_spec: str, preload: tuple[str, ...]) -> None:
    """The worker: read one JSON request a line on stdin, fork a child per request, answer a JSON line
    ``{"returncode": int | null}`` on the protocol pipe (stdout at start)."""
    answers = os.fdopen(os.dup(1), "w")
    protocol = (0, answers.fileno())
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # what imports print must not garble the protocol
    os.close(null)
    sys.stdout = os.fdopen(1, "w", closefd=False)
    for name in preload:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    module, _, function = entry_spec.partition(":")
    entry = getattr(importlib.import_module(module), function)
    _set_torch_threads()
    running: list[int] = []

    def stop(signum, frame):  # the driver was interrupted: take the running case down too
        for pid in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    answers.write(json.dumps({"ready": True, "threads": threading.active_count()}) + "\n")
    answers.flush()
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _run_child(entry, request, protocol)
        running[:] = [pid]
        answers.write(json.dumps({"returncode": _wait(pid, request["timeout"])}) + "\n")
        answers.flush()
        running.clear()


class ForkServer:
    """A worker process running :func:`serve`; ``run`` converts one case in a fork of it."""

    def __init__(self, entry: str = ENTRY, preload: tuple[str, ...] = PRELOAD, path: tuple[str, ...] = ()):
        self.entry, self.preload, self.path = entry, preload, path
        self.process: subprocess.Popen | None = None
        self.logs = Path(tempfile.mkdtemp(prefix="bridgec-fuzz-fork-"))
        self.restarts = 0  # times the worker died under a case

    def start(self) -> None:
        code = (
            "import sys, runpy; fuzz = runpy.run_path(sys.argv[1]); "
            "fuzz['serve'](sys.argv[2], tuple(filter(None, sys.argv[3].split(','))))"
        )
        with (self.logs / "worker.log").open("ab") as log:  # libraries' import-time chatter
            self.process = subprocess.Popen(
                [sys.executable, "-c", code, __file__, self.entry, ",".join(self.preload)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=_environment(self.path),
                cwd=ROOT,
            )
        ready = self.process.stdout.readline()
        if not ready:
            log = (self.logs / "worker.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"fork server did not start (exit status {self.process.wait()}):\n{log}")

    def run(self, case: Path, fmt: str, timeout: float) -> tuple[int | None, str]:
        if self.process is None:
            self.start()
        out, err = self.logs / "stdout", self.logs / "stderr"
        request = {
            "cwd": str(case.parent),
            "argv": cli_args(case, fmt),
            "timeout": timeout,
            "stdout": str(out),
            "stderr": str(err),
        }
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:  # the worker itself died: that is the case's doing; the next case restarts it
            status = self.process.wait()
            self.process = None
            self.restarts += 1
            stderr = err.read_text(errors="replace") if err.exists() else ""
            return 128 + abs(status), stderr + f"\n[fuzz] the fork server died (exit status {status})"
        return json.loads(answer)["returncode"], err.read_text(errors="replace")

    def kill(self) -> None:
        """Stop the worker and the case it runs now (its SIGTERM handler kills the case)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=30)
        shutil.rmtree(self.logs, ignore_errors=True)


def _complete_model(path: Path) -> bool:
    try:
        from bridgec.backends.coreml import load_spec

        spec = load_spec(path)
        if spec.WhichOneof("Type") == "mlProgram":
            return any(
                block.operations
                for function in spec.mlProgram.functions.values()
                for block in function.block_specializations.values()
            )
        return len(spec.neuralNetwork.layers) > 0
    except Exception:  # noqa: BLE001 - anything unreadable is not complete
        return False


def run_case(
    name: str, fmt: str, mutation: str, data: bytes, timeout: float, runner: ForkServer | None = None
) -> Outcome:
    """Run one case, in a ``bridgec`` subprocess or (``runner``) in a fork of a fork server."""
    with tempfile.TemporaryDirectory(prefix="bridgec-fuzz-") as tmp:
        folder = Path(tmp)
        case = folder / f"case.{fmt}"
        case.write_bytes(data)
        if mutation.startswith("onnx_field:external"):
            (folder / "w.bin").write_bytes(bytes(64))
        if mutation.startswith("pt2_member:"):  # importable: `python -m` puts the folder on sys.path
            (folder / f"{PAYLOAD_MODULE}.py").write_text(PAYLOAD_MODULE_SOURCE)
        expected = {case.name, "w.bin", f"{PAYLOAD_MODULE}.py"}
        markers = payload_markers(folder, mutation)
        ran: list[str] = []
        start = time.monotonic()
        slow = False
        for limit in (timeout, timeout * 4):  # a timeout is retried once with 4x the time: a busy
            # machine makes a slow case (an export that succeeds) look like a hang
            if runner is None:
                returncode, stderr = run_subprocess(case, fmt, limit)
            else:
                returncode, stderr = runner.run(case, fmt, limit)
            for marker in markers:  # before a retry clears the folder
                if marker.exists():
                    ran.append(str(marker))
                    marker.unlink()
            if returncode is not None:
                break
            slow = True
            for leftover in folder.iterdir():  # what the killed run left is not the retry's doing
                if leftover.name not in expected:
                    shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        outcome = Outcome(name, mutation, returncode, time.monotonic() - start, stderr, slow=slow)
        if ran:
            outcome.findings.append("payload")
            outcome.stderr += f"\n[fuzz] the payload ran: {', '.join(sorted(set(ran)))}"
        if returncode is None:
            outcome.findings.append("hang")
        elif returncode not in (0, 1, 2):
            outcome.findings.append("exit")
        if "Traceback" in stderr or "internal error" in stderr:
            outcome.findings.append("traceback")
        if any(line.strip() and not line.startswith("bridgec: ") for line in stderr.splitlines()):
            outcome.findings.append("noise")
        left = sorted(p.name for p in folder.iterdir() if p.name not in expected)
        from bridgec.driver.files import KERNELS_FOLDER, KERNELS_MARKER

        if returncode == 0:
            if OUTPUT["name"] in left and _complete_model(folder / OUTPUT["name"]):
                left.remove(OUTPUT["name"])
            if KERNELS_FOLDER in left and (folder / KERNELS_FOLDER / KERNELS_MARKER).exists():
                left.remove(KERNELS_FOLDER)
        if left and returncode is not None:
            outcome.findings.append("leftover")
            outcome.stderr += f"\n[fuzz] left behind: {', '.join(left)}"
        return outcome


def save_failure(folder: Path, outcome: Outcome, fmt: str, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{outcome.name}.{fmt}").write_bytes(data)
    (folder / f"{outcome.name}.txt").write_text(
        f"findings: {', '.join(outcome.findings)}\nmutation: {outcome.mutation}\n"
        f"command: {' '.join(command(Path(f'case.{fmt}'), fmt)[1:])}\n"
        f"exit status: {outcome.returncode}\nseconds: {outcome.seconds:.1f}\n--- stderr ---\n{outcome.stderr}"
    )


# --- driver --------------------------------------------------------------------------------------------


@dataclass
class Summary:
    cases: int = 0
    seconds: float = 0.0
    findings: Counter = field(default_factory=Counter)
    exit_codes: Counter = field(default_factory=Counter)
    mutations: Counter = field(default_factory=Counter)
    formats: Counter = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)
    slow: int = 0
    interrupted: bool = False  # stopped by Ctrl-C or SIGTERM before all cases ran

    def add(self, outcome: Outcome, fmt: str) -> None:
        self.cases += 1
        self.formats[fmt] += 1
        self.slow += outcome.slow and outcome.returncode is not None
        self.exit_codes["timeout" if outcome.returncode is None else str(outcome.returncode)] += 1
        self.mutations[outcome.mutation.split(":")[0]] += 1
        for kind in outcome.findings:
            self.findings[kind] += 1
        if outcome.findings:
            self.failed.append(outcome.name)

    def render(self) -> str:
        lines = [
            f"{self.cases} cases in {self.seconds:.0f} s ({self.cases / max(self.seconds, 1e-9):.2f} cases/s)"
            + (" (interrupted)" if self.interrupted else ""),
            "formats: " + ", ".join(f"{k} {v}" for k, v in sorted(self.formats.items())),
            "findings: " + ", ".join(f"{kind} {self.findings[kind]}" for kind in KINDS),
            f"slow (finished only on the retry with 4x --timeout): {self.slow}",
            "exit status: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.exit_codes.items())),
            "mutations: " + ", ".join(f"{k} {v}" for k, v in sorted(self.mutations.items())),
        ]
        if self.failed:
            lines.append(
                f"failing cases: {', '.join(self.failed[:20])}{' ...' if len(self.failed) > 20 else ''}"
            )
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            "cases": self.cases,
            "seconds": round(self.seconds, 1),
            "interrupted": self.interrupted,
            "formats": dict(sorted(self.formats.items())),
            "findings": {kind: self.findings[kind] for kind in KINDS},
            "slow": self.slow,
            "exit_codes": dict(sorted(self.exit_codes.items())),
            "mutations": dict(sorted(self.mutations.items())),
            "failed": self.failed,
        }


def generate(count: int, seed: int, formats: tuple[str, ...], seeds: dict[str, bytes]):
    """``count`` cases (name, format, mutation, bytes), the same for the same seed."""
    rng = random.Random(seed)
    for index in range(count):
        fmt = formats[index % len(formats)]
        mutation, data = mutate(fmt, seeds, rng)
        yield f"case{seed}-{index:06d}", fmt, mutation, data


def fuzz(
    cases: int,
    seed: int = 0,
    timeout: float = 60.0,
    formats: tuple[str, ...] = FORMATS,
    jobs: int = 1,
    failures: Path | None = None,
    seed_dir: Path | None = None,
    progress=None,
    fork: bool = False,
) -> Summary:
    from bridgec.backends.coreml import load_spec  # noqa: F401 - imported here, not in the threads

    seeds = make_seeds(seed_dir or Path(tempfile.gettempdir()) / "bridgec-fuzz-seeds", formats)
    summary = Summary()
    start = time.monotonic()
    runners: queue.Queue[ForkServer | None] = queue.Queue()
    servers = [ForkServer() for _ in range(max(1, jobs))] if fork else []
    for server in servers or [None] * max(1, jobs):
        runners.put(server)

    def one(case):
        name, fmt, mutation, data = case
        runner = runners.get()  # each thread drives one worker at a time
        try:
            return fmt, data, run_case(name, fmt, mutation, data, timeout, runner)
        finally:
            runners.put(runner)

    pending: collections.deque = collections.deque()
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        # a few cases in flight, not all of them: a 10,000-case soak must not hold every case's
        # bytes, and an interrupted one stops after the cases already running
        for case in generate(cases, seed, formats, seeds):
            pending.append(pool.submit(one, case))
            while len(pending) >= 2 * max(1, jobs) or (pending and pending[0].done()):
                _take(pending.popleft().result(), summary, failures, progress)
        while pending:
            _take(pending.popleft().result(), summary, failures, progress)
    except KeyboardInterrupt:  # Ctrl-C (or SIGTERM from main): keep what ran, say it was cut short
        summary.interrupted = True
        for future in pending:
            future.cancel()
        for server in servers:
            server.kill()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for server in servers:
            server.close()
    summary.seconds = time.monotonic() - start
    return summary


def _take(result: tuple[str, bytes, Outcome], summary: Summary, failures: Path | None, progress) -> None:
    fmt, data, outcome = result
    summary.add(outcome, fmt)
    if outcome.findings and failures is not None:
        save_failure(failures, outcome, fmt, data)
    if progress is not None:
        progress(summary, outcome)


def replay(folder: Path, timeout: float, fork: bool = False) -> Summary:
    summary = Summary()
    start = time.monotonic()
    runner = ForkServer() if fork else None
    try:
        for case in sorted(p for p in folder.iterdir() if p.suffix.lstrip(".") in FORMATS):
            info = case.with_suffix(".txt")
            mutation = "replay"
            if info.exists():
                for line in info.read_text().splitlines():
                    if line.startswith("mutation: "):
                        mutation = line.removeprefix("mutation: ")
            fmt = case.suffix.lstrip(".")
            outcome = run_case(case.stem, fmt, mutation, case.read_bytes(), timeout, runner)
            summary.add(outcome, fmt)
            status = ", ".join(outcome.findings) or "ok"
            last = outcome.stderr.strip().splitlines()[-1:] or [""]
            print(f"{case.name}: {status} (exit {outcome.returncode}) {last[0][:200]}")
    finally:
        if runner is not None:
            runner.close()
    summary.seconds = time.monotonic() - start
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000, help="number of cases (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same cases (default 0)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case (default 60)")
    parser.add_argument(
        "--formats", default=",".join(FORMATS), help=f"comma-separated subset of {','.join(FORMATS)}"
    )
    parser.add_argument("--jobs", type=int, default=1, help="cases run at once (default 1)")
    parser.add_argument(
        "--fork",
        action="store_true",
        help="run cases in forks of a worker that imported bridgec and torch once (faster; the default "
        "runs each case as its own bridgec process)",
    )
    parser.add_argument(
        "--failures", type=Path, default=Path("fuzz-failures"), help="folder for failing cases"
    )
    parser.add_argument("--replay", type=Path, metavar="DIR", help="run the cases saved in DIR again")
    parser.add_argument(
        "--pt2-members",
        action="store_true",
        help="make every .pt2 case a hostile member mutation (payloads in the program JSON, AOTInductor "
        "and pickle members, zip slip names, inflated sizes); a payload that runs is a finding",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the summary as JSON")
    parser.add_argument("--every", type=int, default=100, help="print progress every N cases")
    parser.add_argument(
        "--output",
        choices=("out.mlmodel", "out.mlpackage"),
        default="out.mlmodel",
        help="what each case writes: a NeuralNetwork (default) or an ML Program",
    )
    args = parser.parse_args(argv)
    OUTPUT["name"] = args.output
    MODES["pt2_members"] = args.pt2_members

    def interrupt(signum, frame):  # `kill PID` stops a soak like Ctrl-C: with its summary
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    if args.replay:
        summary = replay(args.replay, args.timeout, args.fork)
    else:
        formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
        unknown = [f for f in formats if f not in FORMATS]
        if unknown or not formats:
            parser.error(f"--formats: choose from {', '.join(FORMATS)}")

        def progress(summary: Summary, outcome: Outcome) -> None:
            if outcome.findings:
                print(f"{outcome.name} ({outcome.mutation}): {', '.join(outcome.findings)}", flush=True)
            if summary.cases % args.every == 0:
                found = sum(summary.findings.values())
                print(f"[{summary.cases}/{args.cases}] findings so far: {found}", flush=True)

        summary = fuzz(
            args.cases,
            args.seed,
            args.timeout,
            formats,
            args.jobs,
            args.failures,
            progress=progress,
            fork=args.fork,
        )
    print(summary.render())
    if args.json:
        args.json.write_text(json.dumps(summary.as_dict(), indent=2) + "\n")
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
