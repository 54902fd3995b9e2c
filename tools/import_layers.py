"""Check that bridgec's imports go one way: driver -> frontends, backends -> passes -> runtime_kernels -> core.

Every import counts, the ones inside functions included (a lazy import is still a dependency: it
fails, or cycles, the moment it runs); only ``if TYPE_CHECKING:`` blocks are skipped. The
packages install under one name from several top-level folders (pyproject's ``package-dir``), so
the graph is read from the source folders here rather than with an import-graph library that
walks a single installed tree.

    python tools/import_layers.py          # print the violations and cycles; exit 1 if any
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

from bridgec.core.words import plural

ROOT = Path(__file__).resolve().parent.parent

# Top-level package -> source folder (pyproject.toml's [tool.setuptools] package-dir).
FOLDERS = {
    "bridgec": "bridgec",
    "bridgec.passes": "passes",
    "bridgec.frontends": "frontends",
    "bridgec.backends": "backends",
    "bridgec.runtime_kernels": "runtime_kernels",
}

# Highest first. A module may import its own layer's modules and any layer below, never one above.
# Packages in one row are independent of each other (a frontend never imports a backend).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("bridgec.driver",),
    ("bridgec.frontends", "bridgec.backends"),
    ("bridgec.passes",),
    ("bridgec.runtime_kernels",),
    ("bridgec.core",),
)


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if ".build" in path.parts:
                continue
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(imported bridgec module, line) for every import statement in the module."""
    is_package = path.name == "__init__.py"

    def walk(node: ast.AST) -> Iterator[ast.AST]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            yield child
            yield from walk(child)

    for node in walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if is_package else name.split(".")[:-1]
                here = here[: len(here) - (node.level - 1)]
                base = ".".join([*here, base] if base else here)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:  # ``from pkg import module`` depends on the module
                    yield sub, node.lineno
                elif base in known:
                    yield base, node.lineno


def layer_of(module: str) -> int | None:
    for index, row in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in row):
            return index
    return None


def package_of(module: str) -> str | None:
    for row in LAYERS:
        for p in row:
            if module == p or module.startswith(p + "."):
                return p
    return None


def violations() -> list[str]:
    known = modules()
    graph: dict[str, set[str]] = {m: set() for m in known}
    problems: list[str] = []
    for name, path in known.items():
        for target, line in _imports(name, path, known):
            if target == name:
                continue
            graph[name].add(target)
            a, b = layer_of(name), layer_of(target)
            where = f"{path.relative_to(ROOT)}:{line}"
            if a is None or b is None:
                continue  # the bridgec package itself and its __main__ sit outside the layers
            if b < a:
                problems.append(f"{where}: {name} ({package_of(name)}) imports {target} from above")
            elif a == b and package_of(name) != package_of(target):
                problems.append(f"{where}: {name} imports {target}, a sibling package of the same layer")
    problems += [f"import cycle: {' -> '.join(_path_around(c, graph))}" for c in _cycles(graph)]
    return problems


def _path_around(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A real import path from the component's first module back to itself (breadth-first, so the
    shortest), for the message: the component alone lists modules, not who imports whom."""
    start, inside = component[0], set(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for target in sorted(graph[module] & inside):
                if target == start:
                    path = [start]
                    while module != start:
                        path.insert(1, module)
                        module = came_from[module]
                    return [*path, start]
                if target not in came_from:
                    came_from[target] = module
                    following.append(target)
        frontier = following
    return [*component, start]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component (Tarjan), parent packages' ``__init__`` excluded:
    importing ``pkg.mod`` runs ``pkg/__init__`` first, which is not a dependency of ``pkg.mod``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main() -> int:
    problems = violations()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{plural(problems, 'layering problem')}; the layers are in {Path(__file__).name}'s LAYERS")
        return 1
    print(f"imports follow the layers ({' > '.join(' | '.join(r) for r in LAYERS)}); no cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
