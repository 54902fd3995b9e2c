"""One fact in one place: the declarations are the only source of an op's semantics, constants,
domain and status names; the IR, the kernel catalog and the frontend read them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bridgec.core import ir, ops

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    p
    for folder in ("bridgec", "passes", "frontends", "backends", "runtime_kernels", "tools")
    for p in sorted((ROOT / folder).rglob("*.py"))
]
DECLARATIONS = ROOT / "bridgec" / "core" / "ops"


def _strings(path: Path) -> list[str]:
    return [
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _outside_declarations(paths: list[Path]) -> list[Path]:
    return [p for p in paths if DECLARATIONS not in p.parents]


def test_no_module_but_the_declarations_spells_a_semantics_string_or_a_selu_constant():
    semantics = {d.semantics for d in ops.all()} | {"x if x > 0 else alpha * x"}  # the drifted one
    digits = ("1.6732632423543772", "1.0507009873554804", "1.67326319217681884765625")
    offenders = []
    for path in _outside_declarations(SOURCES):
        text = path.read_text()
        offenders += [f"{path.relative_to(ROOT)}: SELU constant {d}" for d in digits if d in text]
        offenders += [f"{path.relative_to(ROOT)}: {s!r}" for s in _strings(path) if s.strip() in semantics]
    assert offenders == []


def test_the_domain_and_status_names_are_spelt_once():
    spelt = {"ai.bridgec": [], "unsupported": []}
    for path in SOURCES:
        for s in _strings(path):
            if s in spelt:
                spelt[s].append(path.relative_to(ROOT).as_posix())
    assert spelt["ai.bridgec"] == ["bridgec/core/ops/_decl.py"]
    # status names are compared against in many places; the tuple of them is defined in one
    for path in _outside_declarations(SOURCES):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple) and all(isinstance(e, ast.Constant) for e in node.elts):
                values = {e.value for e in node.elts}
                assert not {"native", "lowered", "custom", "unsupported"} <= values, path


def test_ir_reads_the_declarations():
    assert list(ir.BRIDGEC_OPS) == [d.name for d in ops.all()]
    for decl in ops.all():
        assert ir.BRIDGEC_OPS[decl.name] == {a.name: a.kind for a in decl.attributes}
        ours = ir.function_definitions(ir.CUSTOM_DOMAIN, decl.function_names(), 17)
        theirs = sorted(decl.functions(ir.CUSTOM_DOMAIN, 17), key=lambda f: f.name)
        assert [f.SerializeToString() for f in ours] == [f.SerializeToString() for f in theirs]


def test_kernel_catalog_reads_the_declarations():
    from bridgec.runtime_kernels.catalog import KERNELS

    for spec in KERNELS.values():
        decl = ops.get(spec.op[1])
        assert spec.op == (decl.domain, decl.name)
        assert spec.reference is decl.numpy
        assert spec.description == f"{decl.name.lower()}(x) = {decl.semantics}, elementwise"
        assert list(spec.parameters) == list(decl.attribute_names)


def test_frontend_symbolics_are_the_declared_aten_forms():
    from bridgec.frontends.kept_ops import KEPT_OPS

    declared = {
        f"aten::{name}": d.name
        for d in ops.all()
        for form in d.aten
        for name in ((form.name, f"{form.name}_") if form.inplace else (form.name,))
    }
    assert {k.aten: k.op for k in KEPT_OPS} == declared


# attention's aten form takes tensors after self: tests/frontends/test_attention.py holds it to torch
@pytest.mark.parametrize("decl", [d for d in ops.all() if d.elementwise], ids=lambda d: d.name)
def test_defaults_are_torchs(decl):
    """What a torch call that omits an argument computes is what the declared defaults compute."""
    torch = pytest.importorskip("torch")
    x = torch.linspace(-8, 8, 161)
    for form in decl.aten:
        fn = getattr(torch.ops.aten, form.name)
        want = fn(x).numpy()
        got = decl.numpy(x.numpy(), **decl.aten_attrs(form, {}))
        assert got == pytest.approx(want, rel=1e-6, abs=1e-6), form.name
