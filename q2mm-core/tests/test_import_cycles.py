"""No import cycles inside any of the repository's packages.

Each package's modules are read as source with :mod:`ast` (nothing is imported, so
this runs without JAX or OpenMM, in the core's own nox session) and every import
statement, at module level or inside a function, becomes an edge of the package's
module graph: ``from .a import b`` is an edge to submodule ``a.b`` when that is a
module and to ``a`` otherwise, ``import p.a.b`` an edge to the deepest module it
names. Imports under ``if TYPE_CHECKING:`` never run and are left out. A package's
``__init__`` importing its own submodules counts like any other import. Cycles are
the graph's strongly connected components of more than one module.

The packages are the folders ``q2mm-*/src/*`` of this repository, each checked when
it is importable here, so a new package is covered without an edit.
"""

from __future__ import annotations

import ast
import importlib.util
from collections import deque
from collections.abc import Iterable, Mapping
from itertools import pairwise
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]

#: module -> {imported module -> line of the first import of it}
Graph = dict[str, dict[str, int]]


def repository_packages() -> dict[str, Path]:
    """Top-level package name -> its source folder, for every ``q2mm-*/src/*``."""
    return {
        p.name: p
        for p in sorted(REPOSITORY.glob("q2mm-*/src/*"))
        if p.is_dir() and (p / "__init__.py").is_file()
    }


def package_modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package in ``root``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterable[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under ``if TYPE_CHECKING``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _deepest(name: str, modules: Mapping[str, object]) -> str | None:
    """The longest prefix of dotted ``name`` that is one of ``modules``."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def import_graph(root: Path) -> Graph:
    """The module import graph of the package in folder ``root``, its own modules only."""
    modules = package_modules(root)
    graph: Graph = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        package = module if is_package else module.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [_deepest(alias.name, modules) for alias in node.names]
            else:
                if node.level:
                    base_parts = package.split(".")
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                    base = ".".join([*base_parts, *([node.module] if node.module else [])])
                else:
                    base = node.module or ""
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else _deepest(base, modules)
                    for alias in node.names
                ]
            for target in targets:
                if target is not None and target != module:
                    edges[target] = min(edges.get(target, node.lineno), node.lineno)
        graph[module] = edges
    return graph


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one node, each sorted,
    in sorted order (iterative, so deep graphs do not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def shortest_cycle(graph: Graph, component: list[str]) -> list[str]:
    """One shortest cycle through the component's first module, as a closed path."""
    start, members = component[0], set(component)
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(graph[node]):
            if successor == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if successor in members and successor not in parent:
                parent[successor] = node
                queue.append(successor)
    raise AssertionError(f"no cycle through {start} in {component}")


def describe_cycles(graph: Graph) -> list[str]:
    """A readable line per cycle: its modules and one cycle with import lines."""
    lines = []
    for component in strongly_connected(graph):
        cycle = shortest_cycle(graph, component)
        steps = " -> ".join(f"{a} (line {graph[a][b]})" for a, b in pairwise(cycle))
        lines.append(f"{{{', '.join(component)}}}: {steps} -> {cycle[-1]}")
    return lines


PACKAGES = repository_packages()


def test_the_core_is_found():
    assert "q2mm" in PACKAGES, f"no q2mm package under {REPOSITORY}/q2mm-*/src"


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_cycles(package):
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed here")
    cycles = describe_cycles(import_graph(PACKAGES[package]))
    assert not cycles, f"import cycles in {package}:\n" + "\n".join(cycles)


def test_strongly_connected_finds_cycles():
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},
        "d": {"e"},
        "e": {"d"},
        "f": {"a", "g"},
        "g": set(),
        "h": {"h"},  # a self-loop is no cycle between modules
    }
    assert strongly_connected(graph) == [["a", "b", "c"], ["d", "e"]]
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_import_graph_reads_every_kind_of_import(tmp_path):
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from .a import thing\n",
        "a.py": "thing = 1\ndef f():\n    from . import b\n",
        "b.py": "import pkg.sub.c\n",
        "sub/__init__.py": "",
        "sub/c.py": "from ..d import name\nimport os\n",
        "d.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n"
            "from pkg import name_of_init\nfrom .sub import c\n"
        ),
    }
    for name, text in files.items():
        (root / name).write_text(text)
    graph = import_graph(root)
    assert {m: set(e) for m, e in graph.items()} == {
        "pkg": {"pkg.a"},
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.sub.c"},
        "pkg.sub": set(),
        "pkg.sub.c": {"pkg.d"},
        "pkg.d": {"pkg", "pkg.sub.c"},
    }
    assert graph["pkg.a"]["pkg.b"] == 3
    assert strongly_connected(graph) == [["pkg", "pkg.a", "pkg.b", "pkg.d", "pkg.sub.c"]]
    cycles = describe_cycles(graph)
    assert len(cycles) == 1
    assert "pkg (line 1) -> pkg.a (line 3) -> pkg.b (line 1) -> pkg.sub.c (line 1) -> pkg.d" in cycles[0]
