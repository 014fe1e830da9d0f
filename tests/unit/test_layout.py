"""The package's shape: its import graph has no cycle, and the layers import only downward.

Every import statement counts, wherever it stands (inside functions and under
``TYPE_CHECKING`` too): a cycle hidden behind a lazy import is still a cycle
for whoever reads or changes the code.

Layers, bottom up: ``wire`` and ``net`` (shared by every program), ``obs``
(counters, metrics, logs), then the programs ``ts``, ``ls`` and ``client``,
then ``cli``, ``config`` and ``demo``, which put them together. ``obs`` reads
the servers through protocols of its own, so it imports neither ``ls`` nor
``ts``; the TS and the LS never import each other.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import resolver

PACKAGE = Path(resolver.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports, by dotted name."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # ``from X import y`` imports X, and X.y when y is a module.
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {target for target in targets if target in known and target != name}
    return found


GRAPH = {name: imports_of(name, path, set(modules())) for name, path in modules().items()}


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}      # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None
    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_graph_is_read_from_the_source():
    # A parser that found nothing would pass every rule below.
    assert "resolver.ls.race" in GRAPH["resolver.ls.serve"]
    assert "resolver.obs.stats" in GRAPH["resolver.obs.metrics"]
    assert "resolver.wire" in GRAPH["resolver.ts.authority"]
    assert "resolver.net.addresses" in GRAPH["resolver.cli"]     # a from-import of names, not modules


def test_the_package_has_no_import_cycle():
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH) or [])


def test_a_cycle_is_found_when_there_is_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# (layer, layers it must never import)
FORBIDDEN = [
    ("wire", {"net", "obs", "ts", "ls", "client", "cli", "config", "demo"}),
    ("net", {"obs", "ts", "ls", "client", "cli", "config", "demo"}),
    ("obs", {"ts", "ls", "client", "cli", "config", "demo"}),
    ("ts", {"ls", "client", "cli", "config", "demo"}),
    ("ls", {"ts", "client", "cli", "config", "demo"}),
    ("client", {"ts", "cli", "config", "demo"}),
]


@pytest.mark.parametrize("lower, above", FORBIDDEN, ids=[lower for lower, _ in FORBIDDEN])
def test_a_layer_imports_only_what_lies_below_it(lower, above):
    wrong = sorted(f"{name} imports {target}" for name, targets in GRAPH.items() if layer(name) == lower
                   for target in targets if layer(target) in above)
    assert not wrong, wrong



def test_the_readme_lists_every_module_of_the_package():
    """README's Architecture tree names each module under its directory, so a new file cannot
    go undescribed."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    tree = readme[readme.index("\nresolver/\n", readme.index("## Architecture")):readme.index("### Why the hot paths")]
    listed, directory = set(), ""
    for line in tree.splitlines():
        entry = line.split()[0] if line.split() else ""
        if line.startswith("  ") and not line.startswith("    ") and entry.endswith("/"):
            directory = entry
        elif entry.endswith(".py"):
            listed.add(directory + entry if line.startswith("    ") else entry)
    modules = {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py") if path.name != "__init__.py"}
    assert modules - listed == set()
