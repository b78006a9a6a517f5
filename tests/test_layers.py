"""The package's import graph, read from the source with `ast` (nothing is imported): no cycle,
and no module imports from a layer above its own. Every import counts, a lazy one inside a
function and one under TYPE_CHECKING included: a cycle hidden in a function is still one.

Layers, bottom up: the ground floor (errors, names, config, ...) -> data -> models ->
training -> tuning | verification (side by side, neither imports the other) -> entrypoints
(the `python -m diffexp.<verb>` modules, the command-line precheck, the Hydra plugins, and
the top-level `benchmarks/` package beside the library)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

GROUND = (
    "errors",
    "names",
    "config",
    "config_checks",
    "io_utils",
    "registry",
    "runtime",
    "security",
    "secret_args",
    "file_checks",
)
ENTRYPOINTS = (
    "train",
    "analyze",
    "verify",
    "select_pmts",
    "demo",
    "phases",
    "precheck",
)
RANKS = {"ground": 0, "data": 1, "models": 2, "training": 3, "tuning": 4, "verification": 4}
ENTRYPOINT_RANK = 5


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    folders = ("diffexp", "hydra_plugins", "benchmarks")
    files = [path for folder in folders for path in (REPO / folder).rglob("*.py")]
    return {module_name(path): path for path in files if "__pycache__" not in path.parts}


def imported_modules(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules `path` imports: `from a.b import c` is module a.b.c when that is
    a module of ours, else a.b; a relative import is resolved against the module's package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in known else base)
    return {module for module in found if module in known and module != name}


def import_graph() -> dict[str, set[str]]:
    modules = source_modules()
    known = set(modules)
    return {name: imported_modules(path, name, known) for name, path in modules.items()}


def layer(module: str) -> tuple[str, int]:
    """(layer name, rank) of a project module."""
    parts = module.split(".")
    if parts[0] in ("hydra_plugins", "benchmarks"):
        return "entrypoints", ENTRYPOINT_RANK
    if len(parts) == 1 or parts[1] in GROUND:
        return "ground", RANKS["ground"]
    if parts[1] in ENTRYPOINTS:
        return "entrypoints", ENTRYPOINT_RANK
    assert parts[1] in RANKS, f"{module}: add its folder to a layer in {__file__}"
    return parts[1], RANKS[parts[1]]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_the_graph_is_read_from_the_source():
    graph = import_graph()
    assert "diffexp.tuning.sweeper.async_sweeper" in graph
    assert "diffexp.tuning.study" in graph["diffexp.tuning.trial.job"]  # a lazy import
    assert "diffexp.errors" in graph["hydra_plugins.diffexp_sweeper.sweeper"]


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def package_of(module: str, modules: dict[str, Path]) -> str:
    """The package a module belongs to; the package's own `__init__` belongs to it. diffexp's
    top-level modules are two floors (the ground and the entrypoints), so they are named by
    their layer: otherwise every entrypoint -> tuning -> ground path would read as a cycle."""
    package = module if modules[module].name == "__init__.py" else module.rpartition(".")[0]
    if package == "diffexp" and module != "diffexp":
        return f"diffexp[{layer(module)[0]}]"
    return package


def package_graph(graph: dict[str, set[str]], modules: dict[str, Path]) -> dict[str, set[str]]:
    """Which package imports which: an edge for every module import across packages."""
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        source = package_of(module, modules)
        edges = packages.setdefault(source, set())
        edges.update(package_of(t, modules) for t in targets if package_of(t, modules) != source)
    return packages


def test_no_package_import_cycle():
    """Issue 25: `tuning` and `tuning.trial` imported each other (liveness used the trial
    record, the job used liveness). Packages import in one direction, as modules do."""
    graph = package_graph(import_graph(), source_modules())
    assert "diffexp.tuning" in graph["diffexp.tuning.trial"]  # the check sees the packages
    assert find_cycle(graph) is None


def test_a_package_cycle_without_a_module_cycle_is_found():
    modules = {"p.a": Path("a.py"), "p.b": Path("b.py"), "p.sub.c": Path("c.py")}
    graph = {"p.a": {"p.sub.c"}, "p.b": set(), "p.sub.c": {"p.b"}}
    assert find_cycle(graph) is None
    assert find_cycle(package_graph(graph, modules)) == ["p", "p.sub", "p"]


def test_no_module_imports_from_a_layer_above_its_own():
    upward = []
    for module, targets in import_graph().items():
        name, rank = layer(module)
        for target in targets:
            target_name, target_rank = layer(target)
            if target_rank > rank or (target_rank == rank and target_name != name):
                upward.append(f"{module} ({name}) imports {target} ({target_name})")
    assert upward == []


def test_the_library_never_imports_the_benchmarks():
    """`benchmarks/` sits beside the library: it measures diffexp, diffexp never needs it."""
    graph = import_graph()
    assert "benchmarks.runner" in graph  # the benchmarks are read too
    users = sorted(
        m
        for m, deps in graph.items()
        if not m.startswith("benchmarks") and any(dep.startswith("benchmarks") for dep in deps)
    )
    assert users == []
