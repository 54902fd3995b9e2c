""".pt2 is data: hostile torch.export archives never run code, under ``bridgec``, ``bridgec report``
and ``bridgec verify`` alike, with or without ``--trust-pickle`` for what is not a pickle.

Every hostile case starts from a real ``torch.export.save`` of a tiny module and rewrites members so
that reading the file with ``torch.export.load`` (or running the module it builds) creates
``PAYLOAD_RAN`` in the test's folder. Run against the code before frontends/pt2_archive.py (f6b537f,
from a git worktree), these created the marker: opaque_obj, sympify, guards_code, aoti_library,
aoti_zip_slip, placeholder_name, parameter_path, autograd_import, treespec_enum and from_file
(guards_code and autograd_import then exited 0 with a model). The others failed there on the exit
status or the message: bridgec converted the file whatever the member (zip_slip, backslash_name,
symlink_member, duplicate_member, compressed_member), torch refused it in its own words (absolute_name,
prepended_bytes, the targets it does not resolve, weights that overrun their record) or first
allocated what an empty record claimed (zero_record_huge_claim: 1 GiB of zeros).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import stat
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from bridgec.driver.cli import main
from bridgec.frontends import pt2_expr, pt2_guards, pt2_program

MARKER = "PAYLOAD_RAN"
MODULE = "pt2_payload_module"  # a module the payloads import: its import creates the marker


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.register_buffer("offset", torch.ones(3))
        self.scale = torch.tensor([2.0, 3.0, 4.0])  # a lifted tensor constant (data/constants/tensor_0)

    def forward(self, x):
        return torch.relu(self.linear(x)) * self.scale + self.offset


class Guarded(torch.nn.Module):
    def forward(self, x, y):
        return x.reshape(-1, 2).sum(0) + y[: x.shape[0] // 2].sum()


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pt2")
    torch.manual_seed(0)
    batch = torch.export.Dim("batch", min=1, max=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = Net().eval()
        torch.export.save(torch.export.export(net, (torch.randn(2, 4),)), folder / "static.pt2")
        dynamic = torch.export.export(net, (torch.randn(2, 4),), dynamic_shapes={"x": {0: batch}})
        torch.export.save(dynamic, folder / "dynamic.pt2")
        guarded = torch.export.export(
            Guarded(),
            (torch.randn(8, 4), torch.randn(10)),
            dynamic_shapes={"x": {0: torch.export.Dim("b", min=6, max=100)}, "y": {0: torch.export.Dim.AUTO}},
        )
        assert guarded._guards_code  # "(L['x'].size()[0] // 2) <= L['y'].size()[0]": the legitimate kind
        torch.export.save(guarded, folder / "guarded.pt2")
    return {p.stem: p for p in folder.glob("*.pt2")}


# --- rewriting archives --------------------------------------------------------------------------------


def read_members(path: Path) -> tuple[str, dict[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        root = archive.namelist()[0].split("/")[0]
        return root, {i.filename[len(root) + 1 :]: archive.read(i) for i in archive.infolist()}


def write_members(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": wanted here
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
            for info, data in entries:
                archive.writestr(info, data)


def rewrite(src: Path, dst: Path, edit) -> Path:
    """``dst``: ``src`` with ``edit(members)`` applied to its {relative name: bytes}."""
    root, members = read_members(src)
    edit(members)
    write_members(dst, [(f"{root}/{name}", data) for name, data in members.items()])
    return dst


def edit_json(members: dict, name: str, edit) -> None:
    data = json.loads(members[name])
    edit(data)
    members[name] = json.dumps(data).encode()


def edit_program(src: Path, dst: Path, edit) -> Path:
    return rewrite(src, dst, lambda members: edit_json(members, "models/model.json", edit))


def python_payload(marker: Path) -> str:
    """Python that creates ``marker``: what each code-shaped payload runs."""
    return f"__import__('pathlib').Path('{marker}').touch()"


def dotless_payload(marker: Path) -> str:
    """The same without a '.', for strings torch splits at dots."""
    path = ",".join(str(b) for b in str(marker).encode())
    return f'getattr(getattr(__import__("pathlib"),"Path")(getattr(bytes([{path}]),"decode")()),"touch")()'


def add_node(program: dict, node: dict, output_meta: str | None = None) -> None:
    graph = program["graph_module"]["graph"]
    graph["nodes"].insert(0, {"metadata": {}, "is_hop_single_tensor_return": None, **node})
    if output_meta:
        graph["tensor_values"][node["name"]] = dict(graph["tensor_values"][output_meta])


class _CreatesFile:
    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


# --- the hostile corpus: name -> builder(static archive, destination, marker folder) -> dst -------------


def opaque_obj(src: Path, dst: Path, folder: Path) -> Path:
    def edit(members):
        members["data/constants/opaque_obj_0"] = pickle.dumps(_CreatesFile(folder / MARKER), protocol=2)
        edit_json(
            members,
            "data/constants/model_constants_config.json",
            lambda c: c["config"].update(
                {
                    "evil": {
                        "path_name": "opaque_obj_0",
                        "is_param": False,
                        "use_pickle": True,
                        "tensor_meta": None,
                    }
                }
            ),
        )

    return rewrite(src, dst, edit)


def sympify(src: Path, dst: Path, folder: Path) -> Path:
    def edit(program):
        sizes = program["graph_module"]["graph"]["tensor_values"]["x"]["sizes"]
        sizes[0] = {"as_expr": {"expr_str": python_payload(folder / MARKER), "hint": {"as_int": 2}}}

    return edit_program(src, dst, edit)


def guards_code(src: Path, dst: Path, folder: Path) -> Path:
    def edit(program):
        program["guards_code"] = [f"{python_payload(folder / MARKER)} is None"]

    return edit_program(src, dst, edit)


def aoti_library(src: Path, dst: Path, folder: Path) -> Path:
    library = _payload_library(folder)

    def edit(members):
        members["data/aotinductor/model/model.wrapper.so"] = library
        members["data/aotinductor/model/model.wrapper_metadata.json"] = b'{"AOTI_DEVICE_KEY": "cpu"}'

    return rewrite(src, dst, edit)


def aoti_zip_slip(src: Path, dst: Path, folder: Path) -> Path:
    def edit(members):
        escape = "../" * 16 + str(folder / f"{MARKER}.cpp").lstrip("/")
        members[f"data/aotinductor/model/{escape}"] = b"int x;"
        members["data/aotinductor/model/model.wrapper_metadata.json"] = b'{"AOTI_DEVICE_KEY": "cpu"}'

    return rewrite(src, dst, edit)


def placeholder_name(src: Path, dst: Path, folder: Path) -> Path:
    """torch writes a placeholder's name into ``def forward(self, <name>)`` and executes it."""
    bad = f"x={python_payload(folder / MARKER)}"

    def edit(program):
        text = json.dumps(program).replace('"x"', json.dumps(bad))
        program.clear()
        program.update(json.loads(text))

    return edit_program(src, dst, edit)


def parameter_path(src: Path, dst: Path, folder: Path) -> Path:
    """torch writes a parameter's path into ``getattr(self.linear, "<part>")`` and executes it."""
    bad = f'linear.we"+str({dotless_payload(folder / MARKER)})+"ight'

    def edit(members):
        def program(p):
            for spec in p["graph_module"]["signature"]["input_specs"]:
                if spec.get("parameter", {}).get("parameter_name") == "linear.weight":
                    spec["parameter"]["parameter_name"] = bad

        edit_json(members, "models/model.json", program)
        edit_json(
            members,
            "data/weights/model_weights_config.json",
            lambda c: c["config"].update({bad: c["config"].pop("linear.weight")}),
        )

    return rewrite(src, dst, edit)


def autograd_import(src: Path, dst: Path, folder: Path) -> Path:
    """A target torch's verifier allows: it imports the module a string argument names."""

    def edit(program):
        node = {
            "target": "torch.export.custom_ops._call_custom_autograd_function_in_pre_dispatch",
            "inputs": [
                {"name": "", "arg": {"as_string": f"{MODULE}.Identity"}, "kind": 1},
                {"name": "", "arg": {"as_tensor": {"name": "x"}}, "kind": 1},
            ],
            "outputs": [{"as_tensor": {"name": "evil"}}],
            "name": "evil",
        }
        add_node(program, node, output_meta="x")

    return edit_program(src, dst, edit)


def treespec_enum(src: Path, dst: Path, folder: Path) -> Path:
    """A pytree context with ``__enum__``: treespec_loads imports the module it names."""

    def edit(program):
        signature = program["graph_module"]["module_call_graph"][0]["signature"]
        spec = json.loads(signature["in_spec"])
        enum = [{"__enum__": True, "fqn": f"{MODULE}:Identity", "name": "x"}]
        spec[1]["children_spec"][1]["context"] = json.dumps(enum)
        signature["in_spec"] = json.dumps(spec)

    return edit_program(src, dst, edit)


def from_file(src: Path, dst: Path, folder: Path) -> Path:
    """aten::from_file(shared=True) creates the file its argument names (and maps it writable)."""

    def edit(program):
        node = {
            "target": "torch.ops.aten.from_file.default",
            "inputs": [
                {"name": "filename", "arg": {"as_string": str(folder / MARKER)}, "kind": 1},
                {"name": "shared", "arg": {"as_bool": True}, "kind": 1},
                {"name": "size", "arg": {"as_int": 4}, "kind": 1},
            ],
            "outputs": [{"as_tensor": {"name": "evil"}}],
            "name": "evil",
        }
        add_node(program, node, output_meta="b_offset")

    return edit_program(src, dst, edit)


def _target(name: str):
    def build(src: Path, dst: Path, folder: Path) -> Path:
        def edit(program):
            node = {
                "target": name,
                "inputs": [{"name": "", "arg": {"as_string": python_payload(folder / MARKER)}, "kind": 1}],
                "outputs": [{"as_none": True}],
                "name": "evil",
            }
            add_node(program, node)

        return edit_program(src, dst, edit)

    return build


def _raw_entries(src: Path) -> tuple[str, list[tuple[zipfile.ZipInfo | str, bytes]]]:
    root, members = read_members(src)
    return root, [(f"{root}/{name}", data) for name, data in members.items()]


def zip_slip(src: Path, dst: Path, folder: Path) -> Path:
    root, entries = _raw_entries(src)
    write_members(dst, [*entries, (f"{root}/../../{MARKER}", b"x")])
    return dst


def absolute_name(src: Path, dst: Path, folder: Path) -> Path:
    root, entries = _raw_entries(src)
    write_members(dst, [*entries, (str(folder / MARKER), b"x")])
    return dst


def backslash_name(src: Path, dst: Path, folder: Path) -> Path:
    root, entries = _raw_entries(src)
    write_members(dst, [*entries, (f"{root}/extra/..\\..\\{MARKER}", b"x")])
    return dst


def _root(name: str):
    """Every member moved under the root folder ``name``."""

    def build(src: Path, dst: Path, folder: Path) -> Path:
        _, members = read_members(src)
        write_members(dst, [(f"{name}/{member}", data) for member, data in members.items()])
        return dst

    return build


def symlink_member(src: Path, dst: Path, folder: Path) -> Path:
    root, entries = _raw_entries(src)
    link = zipfile.ZipInfo(f"{root}/extra/link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    write_members(dst, [*entries, (link, str(folder / MARKER).encode())])
    return dst


def duplicate_member(src: Path, dst: Path, folder: Path) -> Path:
    """Two models/model.json: Python's zipfile reads the last, torch's reader may read the first."""
    root, entries = _raw_entries(src)
    sympify(src, folder / "hostile.tmp", folder)
    _, hostile = read_members(folder / "hostile.tmp")
    (folder / "hostile.tmp").unlink()
    write_members(dst, [(f"{root}/models/model.json", hostile["models/model.json"]), *entries])
    return dst


def compressed_member(src: Path, dst: Path, folder: Path) -> Path:
    root, members = read_members(src)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(f"{root}/{name}", data)
    return dst


def prepended_bytes(src: Path, dst: Path, folder: Path) -> Path:
    dst.write_bytes(b"#!/bin/sh\n" + src.read_bytes())
    return dst


def overrunning_weight(src: Path, dst: Path, folder: Path) -> Path:
    """A weight that claims a 1000x1000 view of a 48-byte record."""

    def edit(members):
        def config(c):
            meta = c["config"]["linear.weight"]["tensor_meta"]
            meta["sizes"] = [{"as_int": 1000}, {"as_int": 1000}]
            meta["strides"] = [{"as_int": 1000}, {"as_int": 1}]

        edit_json(members, "data/weights/model_weights_config.json", config)

    return rewrite(src, dst, edit)


def zero_record_huge_claim(src: Path, dst: Path, folder: Path) -> Path:
    """An empty record: torch allocates zeros of the claimed shape (here 2^28 floats, 1 GiB)."""

    def edit(members):
        members["data/weights/weight_0"] = b""

        def config(c):
            meta = c["config"]["linear.weight"]["tensor_meta"]
            meta["sizes"] = [{"as_int": 1 << 14}, {"as_int": 1 << 14}]
            meta["strides"] = [{"as_int": 1 << 14}, {"as_int": 1}]

        edit_json(members, "data/weights/model_weights_config.json", config)

    return rewrite(src, dst, edit)


def truncated_weight(src: Path, dst: Path, folder: Path) -> Path:
    def edit(members):
        members["data/weights/weight_0"] = members["data/weights/weight_0"][:16]

    return rewrite(src, dst, edit)


HOSTILE = {
    # name: (builder, what the one error line says)
    "opaque_obj": (opaque_obj, "opaque object constant"),
    "sympify": (sympify, "symbolic shape expression"),
    "guards_code": (guards_code, "is not a size guard"),
    "aoti_library": (aoti_library, "AOTInductor payload"),
    "aoti_zip_slip": (aoti_zip_slip, "'..'"),
    "placeholder_name": (placeholder_name, "not a Python identifier"),
    "parameter_path": (parameter_path, "not a dotted module path"),
    "autograd_import": (autograd_import, "is not an operator bridgec allows"),
    "treespec_enum": (treespec_enum, "enum class"),
    "from_file": (from_file, "reaches files"),
    "target_builtins_eval": (_target("builtins.eval"), "is not an operator bridgec allows"),
    "target_torch_os_system": (_target("torch.os.system"), "is not an operator bridgec allows"),
    "target_aten_save": (_target("torch.ops.aten.save.default"), "reaches files"),
    "zip_slip": (zip_slip, "'..'"),
    "absolute_name": (absolute_name, "absolute path"),
    "dotdot_root": (_root(".."), "'..'"),
    "dots_root": (_root("..."), "a root folder name torch.export.save does not write ('...')"),
    "backslash_name": (backslash_name, "backslash"),
    "symlink_member": (symlink_member, "symbolic link"),
    "duplicate_member": (duplicate_member, "same name"),
    "compressed_member": (compressed_member, "compressed"),
    "prepended_bytes": (prepended_bytes, "between or under the members"),
    "overrunning_weight": (overrunning_weight, "holds 48 bytes"),
    "zero_record_huge_claim": (zero_record_huge_claim, "holds 0 bytes"),
    "truncated_weight": (truncated_weight, "holds 16 bytes"),
}


def _payload_library(folder: Path) -> bytes:
    """A shared library whose constructor creates the marker (placeholder bytes without a compiler:
    the refusal is then checked all the same)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return b"\x7fELF not a library"
    source = folder / "payload.c"
    source.write_text(
        "#include <stdio.h>\n__attribute__((constructor)) static void run(void) "
        f'{{ fclose(fopen("{folder / MARKER}", "w")); }}\n'
    )
    library = folder / "payload.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    data = library.read_bytes()
    source.unlink()
    library.unlink()
    return data


@pytest.fixture
def payload_module(tmp_path, monkeypatch) -> Path:
    """A module on sys.path whose import creates the marker (as a file next to the model would be
    importable under ``python -m bridgec``)."""
    code = tmp_path / "code"
    code.mkdir()
    (code / f"{MODULE}.py").write_text(
        f"open({str(tmp_path / MARKER)!r}, 'w').close()\n"
        "import enum\n\n\nclass Identity(enum.Enum):\n    x = 1\n\n    @staticmethod\n    def apply(x):\n        return x\n"
    )
    monkeypatch.syspath_prepend(str(code))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    return code


def run_cli(args, capsys) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("bridgec: ") for line in lines), err
    assert [line for line in lines if line.startswith("bridgec: error: ")] == lines[-1:], err
    assert "Traceback" not in err and "internal error" not in err, err
    return lines[-1]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_archive_is_refused_before_anything_runs(
    name, archives, tmp_path, payload_module, capsys, monkeypatch
):
    build, says = HOSTILE[name]
    monkeypatch.chdir(tmp_path)
    case = build(archives["static"], tmp_path / "case.pt2", tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    for command in (
        [case, "-o", "out.mlmodel"],
        [case, "-o", "out.mlpackage", "--trust-pickle"],  # nothing here is a pickle the flag could allow
        ["report", case],
        ["verify", case],
    ):
        code, err = run_cli(command, capsys)
        line = one_error_line(err)
        assert code == 2, (command, err)
        assert says in line and "case.pt2" in line, line
        assert not list(tmp_path.rglob(f"{MARKER}*")), f"the payload ran under {command}"
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_subprocess_with_the_model_folder_on_sys_path_imports_nothing(archives, tmp_path, payload_module):
    """``python -m bridgec`` puts the working folder first on sys.path: a module lying next to the
    model must stay unimported whatever the program names."""
    for name in ("autograd_import", "treespec_enum"):
        case = HOSTILE[name][0](archives["static"], tmp_path / f"{name}.pt2", tmp_path)
        done = subprocess.run(
            [sys.executable, "-m", "bridgec", case.name, "-q", "-o", "out.mlmodel"],
            cwd=payload_module,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("bridgec: error: "), done.stderr
        assert not (tmp_path / MARKER).exists(), name


# --- what still converts ---------------------------------------------------------------------------------


def test_a_dynamic_batch_program_converts_and_checks(archives, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = run_cli([archives["dynamic"], "--input", "x:3x4", "-o", "out.mlmodel"], capsys)
    assert code == 0, err
    code, err = run_cli(["verify", archives["dynamic"], "--input", "x:5x4"], capsys)
    assert code == 0, err


@pytest.mark.parametrize("saved_as", [".x.pt2.tmp", "-x.pt2"])
def test_a_program_saved_under_a_name_starting_with_a_dot_or_dash_converts(
    saved_as, archives, tmp_path, capsys, monkeypatch
):
    """torch.export.save names the archive's root folder after the file: saved as a hidden temporary
    then renamed, the root is ".x.pt2", which torch.export.load reads like any other."""
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.load(archives["static"]), tmp_path / saved_as)
    os.replace(tmp_path / saved_as, tmp_path / "model.pt2")
    with zipfile.ZipFile(tmp_path / "model.pt2") as archive:
        roots = {n.split("/")[0] for n in archive.namelist()}
    assert roots == {os.path.splitext(saved_as)[0]}  # ".x.pt2", "-x"
    assert isinstance(torch.export.load(tmp_path / "model.pt2"), torch.export.ExportedProgram)
    code, err = run_cli([tmp_path / "model.pt2", "-o", "out.mlpackage"], capsys)
    assert code == 0, err


def test_a_program_with_guards_code_converts(archives, tmp_path, capsys, monkeypatch):
    """A size relation between inputs makes torch write guards_code; it is run, not refused."""
    monkeypatch.chdir(tmp_path)
    args = [archives["guarded"], "--input", "x:8x4", "--input", "y:10", "-o", "out.mlpackage"]
    code, err = run_cli(args, capsys)
    assert code == 0, err


def _pickled_constant(src: Path, dst: Path, value) -> Path:
    def edit(members):
        buffer = io.BytesIO()
        torch.save(value, buffer)
        members["data/constants/tensor_0"] = buffer.getvalue()
        edit_json(
            members,
            "data/constants/model_constants_config.json",
            lambda c: c["config"]["scale"].update(use_pickle=True, tensor_meta=None),
        )

    return rewrite(src, dst, edit)


def test_a_pickled_tensor_constant_needs_trust_pickle_and_then_loads(archives, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    case = _pickled_constant(archives["static"], tmp_path / "pickled.pt2", torch.tensor([2.0, 3.0, 4.0]))
    code, err = run_cli([case, "-o", "out.mlmodel"], capsys)
    line = one_error_line(err)
    assert code == 2 and "data/constants/tensor_0" in line and "--trust-pickle" in line, line
    code, err = run_cli([case, "-o", "out.mlmodel", "--trust-pickle"], capsys)
    assert code == 0, err


def test_a_pickle_payload_constant_runs_only_with_trust_pickle(archives, tmp_path, capsys, monkeypatch):
    """The control of the test above: the same slot holding a payload is refused without the flag;
    with it, the payload is what the user chose to trust."""
    monkeypatch.chdir(tmp_path)
    case = _pickled_constant(archives["static"], tmp_path / "payload.pt2", _CreatesFile(tmp_path / MARKER))
    code, err = run_cli(["verify", case], capsys)
    assert code == 2 and "--trust-pickle" in one_error_line(err)
    assert not (tmp_path / MARKER).exists()
    code, err = run_cli([case, "-o", "out.mlmodel", "--trust-pickle"], capsys)
    assert (tmp_path / MARKER).exists() and "Traceback" not in err


# --- the grammars on their own -----------------------------------------------------------------------------


def _legit_expressions():
    import sympy
    from torch.utils._sympy.functions import CeilToInt, FloorDiv, Mod, PythonMod, ToFloat, Where
    from torch.utils._sympy.numbers import int_oo

    s = sympy.Symbol("s77", positive=True, integer=True)
    u = sympy.Symbol("u0", integer=True)
    return [
        s, 2 * s, s + 1, sympy.Max(1, u), sympy.Min(s, u), FloorDiv(s, 2), Mod(s, 3), PythonMod(s, 3),
        CeilToInt(s / 3), s**2, sympy.Eq(s, 2), sympy.Ne(s, 2), s < 3, s >= 3, sympy.And(s < 3, u > 1),
        sympy.true, sympy.oo, -int_oo, sympy.Rational(1, 2), sympy.Float(1.5), ToFloat(s), Where(s < 3, s, u),
    ]  # fmt: skip


def test_shape_expressions_torch_writes_parse_to_the_same_expression():
    import sympy

    for expr in _legit_expressions():
        assert pt2_expr.parse(sympy.srepr(expr)) == expr, sympy.srepr(expr)
    assert pt2_expr.parse("s77 + 1") == sympy.Symbol("s77") + 1  # the plain form of older archives
    assert pt2_expr.parse("Max(1, s0)") == sympy.Max(1, sympy.Symbol("s0"))


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "s0.__class__",
        "(lambda: 1)()",
        "s0[0]",
        "Function('f')(s0)",
        "Symbol('a b')",
        "Symbol('s0', evil=True)",
        "Pow(Integer(10), Integer(100000))",  # 10^100000: would take long to build
        "Pow(Pow(Pow(s0, 64), 64), 64)",
        "LShift(Integer(1), Integer(10000000))",
        "Float('1e99999999')",
        "Float('1.5', precision=100000)",
        "9" * 50,
        "Integer(" * 100 + "1" + ")" * 100,
        "1 < 2 < 3",
        "Max",
        "x" * 30_000,
    ],
)
def test_other_text_is_not_a_shape_expression(text):
    with pytest.raises(pt2_expr.ExprError):
        pt2_expr.parse(text)


@pytest.mark.parametrize(
    "guard",
    [
        "(L['x'].size()[0] // 2) <= L['y'].size()[0]",
        "((-1) + L['x'].size()[0]) == L['y'].size()[0]",
        "torch.sym_max(1, 6*(L['x'].size()[0] // 2)) == 6",
        "L['args'][0].stride()[1] == 1 and not (L['x'].size()[0] == 1)",
        "math.floor(L['x'].size()[0] / 3) >= 2",
    ],
)
def test_size_guards_are_accepted(guard):
    pt2_guards.guard(guard)


@pytest.mark.parametrize(
    "guard",
    [
        "__import__('os').system('true') == 0",
        "L['x'].size()[0] == 1, print(1)",
        "L['x'].__class__ == 1",
        "L['x'].size()[0] ** 10000000 > 0",
        "(L['x'].size()[0] == 1 # comment\n)",
        'L["x"].size()[0] == 1',
        "L['x y'].size()[0] == 1",
        "torch.ops.aten.from_file('x') is None",
        "[c for c in ()] == []",
    ],
)
def test_other_guards_are_refused(guard):
    with pytest.raises(pt2_program.Refused):
        pt2_guards.guard(guard)


def test_range_constraint_keys_cannot_make_torch_count_forever():
    """torch's deserializer counts up to the number of an unbacked symbol one by one."""
    program = {"graph_module": {}, "range_constraints": {"u99999999999": {"min_val": 0, "max_val": 4}}}
    with pytest.raises(pt2_program.Refused, match="unbacked"):
        pt2_program.check_program(program)


def test_every_string_field_of_the_schema_has_a_rule():
    """A field torch adds to its schema must get a rule here before bridgec reads it (fail closed)."""
    import dataclasses
    import typing

    from torch._export.serde import schema

    missing = []
    for cls in vars(schema).values():
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)) or cls.__name__.startswith(
            ("AOTInductor", "ExternKernel")
        ):
            continue
        for field, hint in typing.get_type_hints(cls, globalns=vars(schema)).items():
            text = str(hint)
            if "str" in text and not {(cls.__name__, field), (cls.__name__, f"{field}.key")} & set(
                pt2_program.RULES
            ):
                missing.append(f"{cls.__name__}.{field}")
    assert missing == []


def test_the_loader_stand_ins_are_restored(archives):
    """pt2_archive.loading replaces sympify, pickle, the AOTInductor loader, the pytree spec reader and
    the type hints torch's deserializer reads in torch's modules for the load only."""
    from torch._export.serde import serialize
    from torch.export.pt2_archive import _package

    from bridgec.frontends import pt2_archive

    def stand_ins():
        return (
            serialize.sympy,
            serialize.treespec_loads,
            serialize.typing,
            _package.pickle,
            _package._load_aoti,
            torch._C._pickle_load_obj,
        )

    before = stand_ins()
    refusals: list[str] = []
    with pt2_archive.loading(refusals):
        program = torch.export.load(archives["dynamic"])
        assert serialize.sympy is not before[0] and serialize.treespec_loads is not before[1]
        assert serialize.typing is not before[2]
    assert stand_ins() == before
    assert refusals == []
    out = program.module()(torch.ones(3, 4))
    assert np.asarray(out.detach()).shape == (3, 3)
