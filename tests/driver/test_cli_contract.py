"""The error contract at its edges: whatever the command line or the files hold, bridgec ends with its
own one line (exit 2 for bad input, 1 for a conversion it cannot do), never ``internal error``, never a
traceback, never silently with a status a plugin chose, and never accepts a contradiction without a
word.

- file names that are not UTF-8 (argv holds them with surrogate escapes) convert;
- ``--dump-dir`` naming a file, ``--arch`` naming a module, a function or a value are refused;
- an ``--input`` just under the element limit ends as "out of memory" where memory is short;
- a pass file, an entry point, an ``--import`` module or a pass that calls ``sys.exit`` is refused;
- one input given two shapes, ``--target ''``, an opset newer than onnx knows, ``--arch``/
  ``--arch-args`` a file does not use: refused, not silently resolved;
- an ``If`` whose branches read a graph input is not "a constant";
- onnx's messages about unnamed nodes end where their sentence ends.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from bridgec.driver.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(args, capsys):
    code = main([os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def the_line(err: str) -> str:
    """The error: the last line, one of bridgec's own, a whole sentence."""
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("bridgec: ") for line in lines), err
    assert [line for line in lines if line.startswith("bridgec: error: ")] == lines[-1:], err
    assert "Traceback" not in err and "internal error" not in err, err
    assert not lines[-1].rstrip().endswith((":", ",", "(", " of node")), lines[-1]
    return lines[-1]


def refused(args, capsys, *said: str) -> str:
    code, _, err = run_cli(args, capsys)
    line = the_line(err)
    assert code == 2, err
    for text in said:
        assert text in line, line
    return line


def subprocess_bridgec(args: list, cwd: Path, env: dict | None = None, memory: int | None = None):
    def limit() -> None:
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run(
        [sys.executable, "-m", "bridgec", *args],
        cwd=cwd,
        capture_output=True,
        timeout=120,
        preexec_fn=limit,
        env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})),
    )


def save(folder: Path, text: str, name: str = "m.onnx") -> Path:
    path = folder / name
    onnx.save(onnx.parser.parse_model(text), str(path))
    return path


RELU = '<ir_version: 8, opset_import: ["" : 17]> g (float[1,3,4,4] x) => (float[1,3,4,4] y) { y = Relu (x) }'


@pytest.fixture
def relu(tmp_path) -> Path:
    return save(tmp_path, RELU)


@pytest.fixture
def torchscript(tmp_path) -> Path:
    import torch

    path = tmp_path / "relu.pt"
    torch.jit.save(torch.jit.trace(torch.nn.ReLU(), torch.randn(1, 2)), str(path))
    return path


@pytest.fixture
def state_dict(tmp_path) -> Path:
    import torch

    path = tmp_path / "weights.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), str(path))
    return path


# --- file names that are not UTF-8 ----------------------------------------------------------------------

# A terminal whose stdout is strict UTF-8 (a UTF-8 locale other than C.UTF-8): the surrogate escape of
# the name's \xff byte cannot be printed there as it is.
STRICT = {"PYTHONIOENCODING": "utf-8:strict"}


@pytest.mark.parametrize("extra", [[], ["--author", b"caf\xe9"], ["--format", "neuralnetwork"]])
def test_an_onnx_file_whose_name_is_not_utf8_converts(extra, tmp_path):
    source = save(tmp_path, RELU)
    name = b"mod\xff.onnx"
    os.rename(source, os.path.join(os.fsencode(tmp_path), name))
    done = subprocess_bridgec([name, *extra], tmp_path, env=STRICT)
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 0, err
    assert "internal error" not in err and "Traceback" not in err
    written = {os.fsencode(p.name) for p in tmp_path.iterdir()}
    assert {b"mod\xff.mlpackage", b"mod\xff.mlmodel"} & written, written
    assert b"wrote mod" in done.stdout


def test_a_torchscript_file_whose_name_is_not_utf8_converts(torchscript, tmp_path):
    """torch hands names to C++ as UTF-8: the file is opened by bridgec instead of named."""
    name = b"r\xff.pt"
    os.rename(torchscript, os.path.join(os.fsencode(tmp_path), name))
    done = subprocess_bridgec([name, "--input", "1x2", "-q"], tmp_path, env=STRICT)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert b"r\xff.mlpackage" in {os.fsencode(p.name) for p in tmp_path.iterdir()}


# --- --dump-dir, --arch ---------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["relu.onnx-copy", "relu.onnx-copy/sub"])
def test_dump_dir_naming_a_file_is_refused(where, relu, tmp_path, capsys):
    (tmp_path / "relu.onnx-copy").write_bytes(relu.read_bytes())
    line = refused([relu, "-q", "--dump-dir", tmp_path / where], capsys, "--dump-dir")
    assert "folder" in line
    assert not (tmp_path / "m.mlpackage").exists()


@pytest.mark.parametrize(
    "arch, said",
    [
        ("os:path", "os.path is a module, not a class"),
        ("os.path:join", "os.path.join is a function, not a class"),
        ("builtins:len", "builtins.len is a function, not a class"),
        ("os:sep", "os.sep is a str, not a class"),
        ("builtins:dict", "builtins.dict is a class, but not a torch.nn.Module subclass"),
        ("os.path", "expected PKG.MODULE:CLASS"),
    ],
)
def test_arch_must_name_a_module_class(arch, said, state_dict, capsys):
    label = f"--arch {arch!r}" if ":" not in arch else f"--arch {arch}"
    refused([state_dict, "-q", "--input", "1x2", "--arch", arch], capsys, label, said)


def test_arch_naming_a_function_never_calls_it(state_dict, tmp_path, capsys):
    """``--arch os:remove --arch-args '["victim"]'`` would delete the file if bridgec called what
    --arch names before checking it is a module class."""
    victim = tmp_path / "victim.txt"
    victim.write_text("still here")
    args = json.dumps([str(victim)])
    refused(
        [state_dict, "-q", "--input", "1x2", "--arch", "os:remove", "--arch-args", args],
        capsys,
        "not a class",
    )
    assert victim.read_text() == "still here"


def test_arch_naming_a_module_class_still_works(state_dict, tmp_path, capsys):
    """The control for the refusals above."""
    out = tmp_path / "lin.mlpackage"
    code, _, err = run_cli(
        [state_dict, "-q", "--input", "1x2", "--arch", "torch.nn:Linear", "--arch-args", "[2, 2]", "-o", out],
        capsys,
    )
    assert code == 0, err
    assert out.is_dir()


# --- an --input just under the element limit ------------------------------------------------------------


@pytest.mark.parametrize("form", ["onnx", "torchscript"])
def test_an_input_just_under_the_limit_ends_as_out_of_memory(form, tmp_path):
    """2^30 - 1 float32 elements pass the limit (2^30), but this process may map only 4 GiB: the run
    ends with one line saying so (exit 1), not with numpy's MemoryError or torch's allocator error
    as an internal error."""
    if form == "onnx":
        model = "m.onnx"
        save(
            tmp_path,
            '<ir_version: 8, opset_import: ["" : 17]> g (float[N] x) => (float[N] y) { y = Relu (x) }',
        )
    else:
        import torch

        model = "m.pt"
        torch.jit.save(torch.jit.trace(torch.nn.ReLU(), torch.randn(2)), str(tmp_path / model))
    done = subprocess_bridgec([model, "-q", "--input", f"{(1 << 30) - 1}"], tmp_path, memory=4 << 30)
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert the_line(err).startswith("bridgec: error: out of memory: the model at these input shapes"), err
    assert not list(tmp_path.glob("m.ml*"))


# --- plugins that call sys.exit -------------------------------------------------------------------------

QUIT_ON_LOAD = "import sys\nsys.exit({code})\n"
QUIT_ON_RUN = '''
import sys
from bridgec.passes import Pass, register


@register
class Quit(Pass):
    """Ends the run."""

    id = "user::quit"

    def call(self, graph, ctx):
        sys.exit({code})
'''


@pytest.mark.parametrize("code", ["0", "3", "'bye'"])
@pytest.mark.parametrize("when", ["load", "run"])
def test_a_pass_file_that_calls_sys_exit_is_refused(when, code, relu, tmp_path):
    """Today the run would end there, silently, with whatever status the file chose (0: "success",
    nothing written)."""
    plugin = tmp_path / "quit.py"
    plugin.write_text((QUIT_ON_LOAD if when == "load" else QUIT_ON_RUN).format(code=code))
    args = [str(relu), "-q", "--load-passes", str(plugin)] + (
        ["--passes", "user::quit"] if when == "run" else []
    )
    done = subprocess_bridgec(args, tmp_path)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    line = the_line(err)
    assert "sys.exit(" in line, line
    assert ("--load-passes" in line) if when == "load" else ("pass user::quit" in line), line


def test_an_entry_point_plugin_that_calls_sys_exit_is_refused(monkeypatch, tmp_path):
    from importlib.metadata import EntryPoint

    from bridgec.core.errors import UsageError
    from bridgec.passes import _plugins

    (tmp_path / "quitting_plugin.py").write_text(QUIT_ON_LOAD.format(code=0))
    monkeypatch.syspath_prepend(str(tmp_path))
    point = EntryPoint(name="quitter", value="quitting_plugin", group=_plugins.GROUP)
    monkeypatch.setattr(_plugins, "entry_points", lambda group: [point] if group == _plugins.GROUP else [])
    monkeypatch.setattr(_plugins, "_loaded_entry_points", False)
    with pytest.raises(UsageError, match=r"pass plugin 'quitter' .* called sys.exit\(0\)"):
        _plugins.load_entry_points()


@pytest.mark.parametrize("where", ["--import", "--arch"])
def test_a_user_module_that_calls_sys_exit_is_refused(where, state_dict, tmp_path, capsys):
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / "quitter_mod.py").write_text("import sys\nsys.exit(0)\nimport torch\nNet = torch.nn.Linear\n")
    args = [state_dict, "-q", "--input", "1x2", "--path", code_dir, "--arch-args", "[2, 2]"]
    if where == "--import":
        args += ["--import", "quitter_mod", "--arch", "torch.nn:Linear"]
    else:
        args += ["--arch", "quitter_mod:Net"]
    try:
        refused(args, capsys, where, "sys.exit(0)")
    finally:
        sys.modules.pop("quitter_mod", None)


QUITTING_NET = """
import sys

import torch


class QuitNet(torch.nn.Module):
    def forward(self, x):
        sys.exit(5)
"""


def test_a_model_whose_code_calls_sys_exit_is_refused(tmp_path):
    """A pickled module (--trust-pickle) whose forward calls sys.exit(5): today the run ends there,
    silently, with status 5."""
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / "quitnet.py").write_text(QUITTING_NET)
    save = "import sys, torch; sys.path.insert(0, 'code'); import quitnet; torch.save(quitnet.QuitNet(), 'quit.pt')"
    subprocess.run([sys.executable, "-c", save], cwd=tmp_path, check=True, timeout=120)
    args = ["quit.pt", "-q", "--input", "1x2", "--trust-pickle", "--path", "code", "--import", "quitnet"]
    done = subprocess_bridgec(args, tmp_path)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "called sys.exit(5); nothing was written" in the_line(err)
    assert not list(tmp_path.glob("quit.ml*"))


# --- contradictions are refused, not resolved silently --------------------------------------------------


@pytest.mark.parametrize(
    "inputs",
    [
        ["x:1x3x4x4", "1x3x8x8"],
        ["1x3x8x8", "x:1x3x4x4"],
        ["x:1x3x4x4", "1x3x4x4"],  # the same shape twice is no conflict, but one of them is a mistake
    ],
)
def test_one_input_given_two_shapes_is_refused(inputs, relu, capsys):
    args = [relu, "-q"]
    for spec in inputs:
        args += ["--input", spec]
    refused(args, capsys, "--input x is given twice")


def test_one_torchscript_input_given_two_shapes_is_refused(torchscript, capsys):
    refused(
        [torchscript, "-q", "--input", "input:1x2", "--input", "1x3"], capsys, "--input input is given twice"
    )


@pytest.mark.parametrize("command", [[], ["report"], ["verify"]])
def test_an_empty_target_is_refused(command, relu, capsys):
    refused([*command, relu, "-q", "--target", ""], capsys, "unknown --target ''")


def test_empty_avoid_op_and_passes_are_refused(relu, capsys):
    refused([relu, "-q", "--avoid-op", ""], capsys, "--avoid-op ''")
    refused([relu, "-q", "--passes", ","], capsys, "--passes ','", "no pass ids")


@pytest.mark.parametrize("check", [[], ["--no-check"]], ids=["checked", "no-check"])
def test_an_opset_newer_than_onnx_knows_is_refused(check, tmp_path, capsys):
    newest = onnx.defs.onnx_opset_version()
    model = onnx.parser.parse_model(RELU)
    model.opset_import[0].version = newest + 2
    path = tmp_path / "future.onnx"
    path.write_bytes(model.SerializeToString())
    refused(
        [path, "-q", *check],
        capsys,
        f"the model uses ONNX opset {newest + 2}, newer than the installed onnx",
        f"supports (opsets 7 to {newest})",
    )
    assert not list(tmp_path.glob("future.ml*"))


def test_arch_args_without_arch_are_refused(relu, state_dict, capsys):
    for model in (relu, state_dict):
        refused(
            [model, "-q", "--input", "1x2", "--arch-args", "[2, 2]"], capsys, "--arch-args without --arch"
        )


def test_arch_for_an_onnx_file_is_refused(relu, capsys):
    refused(
        [relu, "-q", "--arch", "torch.nn:Linear"],
        capsys,
        "is an ONNX model, which holds its own architecture",
    )


def test_arch_for_a_torchscript_file_is_refused(torchscript, capsys):
    refused(
        [torchscript, "-q", "--input", "1x2", "--arch", "torch.nn:Linear", "--arch-args", "[2, 2]"],
        capsys,
        "is a TorchScript archive, which holds its own architecture",
    )


def test_arch_for_a_pt2_archive_is_refused(tmp_path, capsys):
    import torch

    path = tmp_path / "relu.pt2"
    torch.export.save(torch.export.export(torch.nn.ReLU(), (torch.randn(1, 2),)), str(path))
    refused([path, "-q", "--arch", "torch.nn:Linear"], capsys, "is a torch.export archive")


def test_arch_for_a_whole_pickled_module_is_refused(tmp_path, capsys):
    import torch

    path = tmp_path / "whole.pt"
    torch.save(torch.nn.ReLU(), str(path))
    refused(
        [path, "-q", "--input", "1x2", "--trust-pickle", "--arch", "torch.nn:Linear"],
        capsys,
        "holds a whole pickled module",
    )


# --- an If reading a graph input is not a constant -------------------------------------------------------


def _if_model(folder: Path) -> Path:
    """``y = If(true) then Relu(x) else Neg(x)``: the branches read the graph input x."""
    vi = helper.make_tensor_value_info
    then = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [], [vi("t", 1, [1, 2])])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [vi("e", 1, [1, 2])])
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
        "g",
        [vi("x", TensorProto.FLOAT, [1, 2])],
        [vi("y", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor("c", TensorProto.BOOL, [], [True])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = folder / "if.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def test_an_if_whose_branches_read_an_input_is_not_a_constant(tmp_path, capsys):
    """Refused today as "does not depend on any input (it is a constant)": its condition is a
    constant, but what it computes is x. Now the report has its row, and the conversion names the op
    the target lacks."""
    path = _if_model(tmp_path)
    code, out, err = run_cli(["report", path], capsys)
    assert code == 1, err
    assert "constant" not in err and any(line.split()[:1] == ["If"] for line in out.splitlines()), out
    code, _, err = run_cli([path, "-q"], capsys)
    line = the_line(err)
    assert code == 1 and "If x1" in line and "constant" not in line, line


# --- onnx's messages about unnamed nodes ----------------------------------------------------------------


def test_an_unsorted_graph_is_named_in_a_whole_sentence(tmp_path, capsys):
    """onnx says "input 'q' of node: \\nname:  OpType: Relu\\n is not output of any previous nodes";
    its first line alone stopped at "of node:"."""
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("Relu", ["q"], ["y"])], "g", [vi("x", 1, [1, 2])], [vi("y", 1, [1, 2])]
    )
    path = tmp_path / "unsorted.onnx"
    path.write_bytes(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    )
    refused(
        [path, "-q"],
        capsys,
        "input 'q' of an unnamed Relu node is not output of any previous nodes",
    )


def test_a_bad_node_is_named_even_without_a_name(tmp_path, capsys):
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x", "x"], ["y"], name="two_inputs")],
        "g",
        [vi("x", 1, [1, 2])],
        [vi("y", 1, [1, 2])],
    )
    path = tmp_path / "bad.onnx"
    path.write_bytes(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    )
    refused([path, "-q"], capsys, "has input size 2 not in range", "in node 'two_inputs' (Relu)")


def test_onnx_messages_keep_their_sentence():
    from bridgec.core.errors import onnx_message

    text = "Nodes in a graph must be topologically sorted, however input 'q' of node: \nname: n1 OpType: Add\n is not"
    assert onnx_message(Exception(text)).endswith("input 'q' of node 'n1' (Add) is not")
    assert onnx_message(Exception("[ShapeInferenceError] (op_type:Reshape, node name: ): bad")) == (
        "[ShapeInferenceError] (op_type:Reshape, unnamed node): bad"
    )
    assert onnx_message(Exception("")) == "Exception"


def test_a_non_utf8_name_in_a_message_is_shown_with_escapes():
    from bridgec.core.input_files import shown

    assert shown(os.fsdecode(b"mod\xff.onnx")) == "mod\\xff.onnx"
