"""Layers import downward only: no import cycle among the framework's modules.

The graph is read with `ast`, so imports inside functions count too: a function-level
import that goes back up a layer hides a cycle without breaking at import time, and still
ties the lower module to the upper one.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Cycles known and not yet broken, each as the set of its modules. Keep this empty.
KNOWN_CYCLES: list[frozenset[str]] = []


def framework_modules() -> dict[str, tuple[Path, bool]]:
    """{dotted name: (file, is a package)} of every module under framework/."""
    modules = {}
    for path in (ROOT / "framework").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _imported_names(node: ast.AST, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = package.split(".")[:len(package.split(".")) - node.level + 1]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    # `from a import b` imports a, and a.b when b is a module.
    return [module] + [f"{module}.{alias.name}" for alias in node.names]


def import_graph() -> dict[str, dict[str, int]]:
    """{module: {imported framework module: line}}, module-level and function-level."""
    modules = framework_modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for imported in _imported_names(node, package):
                target = resolve(imported)
                if target and target != name:
                    graph[name].setdefault(target, node.lineno)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def describe(cycle: frozenset[str], graph) -> str:
    edges = [f"  {a} -> {b} (line {graph[a][b]})"
             for a in sorted(cycle) for b in sorted(graph[a]) if b in cycle]
    return "cycle among " + ", ".join(sorted(cycle)) + ":\n" + "\n".join(edges)


def test_the_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    # module level, function level
    assert "framework.core.errors" in graph["framework.cli"]
    assert "framework.production.compile" in graph["framework.commands.compile"]
    assert "framework.pipeline.input_pattern" in graph["framework.ct.decay"]  # inside a function


def test_cycles_are_found_and_printed():
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    [cycle] = cycles(graph)
    assert cycle == {"a", "b", "c"}
    assert "  c -> a (line 3)" in describe(cycle, graph)


def test_no_import_cycle_among_framework_modules():
    graph = import_graph()
    new = [c for c in cycles(graph) if c not in KNOWN_CYCLES]
    assert not new, "\n".join(describe(c, graph) for c in new)


def test_known_cycles_still_exist():
    """A known cycle that is gone must leave KNOWN_CYCLES, so it cannot come back unseen."""
    found = cycles(import_graph())
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in found]
    assert not gone, f"no longer cycles, remove from KNOWN_CYCLES: {gone}"
