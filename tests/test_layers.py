"""The layer order (issue #19): nothing in hedge/ imports hedge.app but the entry points, and no package of
this repository (fmz_compat, hedge, tools) has an import circle, alone or through another package.

The graph is read from the source (ast), every import counted: at module level, inside a function and under
`if TYPE_CHECKING:`. A lazy or type-only import is the usual way to hide a circle from the interpreter
without removing it: `risk.py` annotating `app: App` under TYPE_CHECKING was exactly the coupling the issue
removes (it now names what it uses of its host in `risk.RiskHost`), so an import is an import here; each
violation names its kind so the fix can start with the cheap ones.

Today's violations are listed below. The list may only shrink: a new violation fails, and so does a listed
one that has gone (delete its line, so the list stays the truth). An edge is `importer -> imported`; a circle
is reported as the edges inside a strongly connected component of the package's graph.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = "hedge.app"
ENTRY_POINTS = {"hedge", "hedge.app"}  # hedge/__init__ may re-export App; strategy.py is outside the package

# module -> hedge.app: the modules that take the whole App (issue #19's components remove these)
ALLOWED_APP_IMPORTS: set[str] = set()

# edges inside an import circle, per package (fmz_compat's three circles of issue #19 are gone)
ALLOWED_CIRCLE_EDGES = {
    "fmz_compat": set(),
    "hedge": set(),
    "tools": set(),
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(packages: str | tuple[str, ...], root: Path) -> dict[str, Path]:
    names = (packages,) if isinstance(packages, str) else packages
    return {module_name(p, root): p for package in names for p in sorted((root / package).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, kind: str = "module level") -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement with where it stands: module level, in a function, under TYPE_CHECKING."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, kind
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _imports(node, "in a function" if kind == "module level" else kind)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), "under TYPE_CHECKING")
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), kind)
        else:
            yield from _imports(node, kind)


def _resolve(importer: str, is_package: bool, node: ast.Import | ast.ImportFrom,
             known: dict[str, Path]) -> Iterator[str]:
    """The modules of this repository an import statement names: `from pkg import mod` names pkg.mod when
    that is a module, else pkg (the importer needs pkg's namespace, not its submodules)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    base = node.module or ""
    if node.level:
        anchor = importer.split(".") if is_package else importer.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        yield candidate if candidate in known else base


def import_graph(packages: str | tuple[str, ...], root: Path = ROOT) -> dict[tuple[str, str], set[str]]:
    """(importer, imported) -> the kinds of import that make the edge, for modules of `packages`."""
    modules = package_modules(packages, root)
    edges: dict[tuple[str, str], set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, kind in _imports(tree):
            for target in _resolve(name, path.name == "__init__.py", node, modules):
                if target in modules and target != name:
                    edges.setdefault((name, target), set()).add(kind)
    return edges


def _pop_component(stack: list[str], on_stack: set[str], root: str) -> set[str]:
    """The stack down to `root`: one strongly connected component of Tarjan's algorithm."""
    component = set()
    while True:
        member = stack.pop()
        on_stack.discard(member)
        component.add(member)
        if member == root:
            return component


def strongly_connected(edges: dict[tuple[str, str], set[str]]) -> list[set[str]]:
    """Tarjan's algorithm: the components with more than one module (the circles)."""
    graph: dict[str, list[str]] = {}
    for a, b in sorted(edges):
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = _pop_component(stack, on_stack, node)
            if len(component) > 1:
                found.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return found


def circle_edges(edges: dict[tuple[str, str], set[str]]) -> dict[str, set[str]]:
    components = strongly_connected(edges)
    return {f"{a} -> {b}": kinds for (a, b), kinds in edges.items()
            if any(a in c and b in c for c in components)}


def _report(what: str, found: dict[str, set[str]], allowed: set[str]) -> str:
    new = sorted(set(found) - allowed)
    gone = sorted(allowed - set(found))
    lines = [f"{what}:"]
    lines += [f"  NEW  {edge}   ({', '.join(sorted(found[edge]))})" for edge in new]
    lines += [f"  GONE {edge}   (fixed: delete it from the allowlist in tests/test_layers.py)"
              for edge in gone]
    lines += ["today's list:"]
    lines += [f"  {edge}   ({', '.join(sorted(kinds))})" for edge, kinds in sorted(found.items())]
    return "\n".join(lines)


def test_nothing_in_hedge_imports_hedge_app_but_the_entry_points() -> None:
    found = {f"{a} -> {b}": kinds for (a, b), kinds in import_graph("hedge").items()
             if b == APP and a not in ENTRY_POINTS}
    assert set(found) == ALLOWED_APP_IMPORTS, _report("imports of hedge.app outside the entry points", found,
                                                      ALLOWED_APP_IMPORTS)


@pytest.mark.parametrize("package", sorted(ALLOWED_CIRCLE_EDGES))
def test_no_import_circle_but_the_listed_ones(package: str) -> None:
    found = circle_edges(import_graph(package))
    allowed = ALLOWED_CIRCLE_EDGES[package]
    assert set(found) == allowed, _report(f"edges inside import circles of {package}", found, allowed)


def test_no_import_circle_across_the_packages() -> None:
    """fmz_compat builds on hedge (the simulator uses its venue mechanics), tools on both: an import back
    the other way would make a circle no single package shows."""
    found = circle_edges(import_graph(tuple(sorted(ALLOWED_CIRCLE_EDGES))))
    allowed = set().union(*ALLOWED_CIRCLE_EDGES.values())
    assert set(found) == allowed, _report("edges inside import circles across the packages", found, allowed)


def test_the_checker_sees_lazy_type_only_relative_and_from_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import c\n")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\n"
                              "if TYPE_CHECKING:\n    from pkg.b import B\n")
    (pkg / "b.py").write_text("def f():\n    from .sub import c\n    return c\n")
    (pkg / "sub" / "c.py").write_text("import pkg.a\nfrom pkg import b as _b\n")
    edges = import_graph("pkg", tmp_path)
    assert edges == {("pkg.a", "pkg.b"): {"under TYPE_CHECKING"}, ("pkg.b", "pkg.sub.c"): {"in a function"},
                     ("pkg.sub", "pkg.sub.c"): {"module level"}, ("pkg.sub.c", "pkg.a"): {"module level"},
                     ("pkg.sub.c", "pkg.b"): {"module level"}}
    assert circle_edges(edges).keys() == {"pkg.a -> pkg.b", "pkg.b -> pkg.sub.c", "pkg.sub.c -> pkg.a",
                                          "pkg.sub.c -> pkg.b"}


def test_the_checker_sees_a_circle_through_two_packages(tmp_path: Path) -> None:
    for package in ("one", "two"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "one" / "a.py").write_text("def f():\n    from two import b\n    return b\n")
    (tmp_path / "two" / "b.py").write_text("import one.a\n")
    assert circle_edges(import_graph("one", tmp_path)) == {}
    assert circle_edges(import_graph(("one", "two"), tmp_path)).keys() == {"one.a -> two.b", "two.b -> one.a"}
