"""The packages import in one direction: core (strae_graph) < parsers < eval <
the command line (strae_graph.cli); nothing imports a layer above its own, and
no module imports itself through others (no import circle)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RANK = {"core": 0, "parsers": 1, "eval": 2, "cli": 3}


def _layer(module: str) -> str | None:
    if module.startswith("strae_graph.cli") or module == "strae_graph.__main__":
        return "cli"
    return {"strae_graph": "core", "parsers": "parsers", "eval": "eval"}.get(module.split(".")[0])


def _imports(path: Path) -> list[str]:
    """Every absolute import of a file, at module level or inside functions."""
    out: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return out


def _modules() -> dict[str, Path]:
    """Every module of the packages, by dotted name (a package by its own name)."""
    out = {}
    for package in ("strae_graph", "parsers", "eval"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _import_graph(type_checking: bool = True) -> dict[str, set[str]]:
    """module -> the modules it imports (at module level and in functions alike;
    under ``if TYPE_CHECKING:`` only with ``type_checking``), each imported name as
    its longest prefix that is a module (``from package import module``: that
    module; a package's own ``__init__`` runs first for every import below it, and
    is not counted)."""
    modules = _modules()

    def longest(name: str) -> str | None:
        parts = name.split(".")
        return next((m for k in range(len(parts), 0, -1)
                     if (m := ".".join(parts[:k])) in modules), None)  # fmt: skip

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8")), type_checking):
            if isinstance(node, ast.Import):
                targets |= {longest(a.name) for a in node.names}
            elif node.module and node.level == 0:
                targets |= {longest(f"{node.module}.{a.name}") for a in node.names}
        graph[module] = targets - {None, module}
    return graph


def _import_nodes(tree: ast.AST, type_checking: bool) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree``, leaving out the ``if TYPE_CHECKING:``
    blocks unless ``type_checking``."""
    skip: set[int] = set()
    if not type_checking:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return [n for n in ast.walk(tree)
            if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in skip]  # fmt: skip


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle (a -> ... -> a) through each strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_circle_in(graph, group) for group in groups]


def _circle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest way from the group's first module back to itself."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & group):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    return [start]


def test_no_import_circle():
    """No module of the core, parsers, eval or the command line reaches itself
    through the imports that run (a function-level one included; an ``if
    TYPE_CHECKING:`` import never runs: it names a type, e.g. trees/draw.py's Tree)."""
    circles = _circles(_import_graph(type_checking=False))
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_the_circle_check_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert _circles(graph) == [["a", "b", "c", "a"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


#: the core's subpackages, bottom to top: a module imports only its own subpackage
#: and those of a lower rank (data and graph, embed and bench: neither imports the
#: other); the package's own __init__ (the public names) sits above them all
CORE_RANK = {"util": 0, "trees": 1, "data": 2, "graph": 2, "model": 3, "training": 4,
             "embed": 5, "bench": 5}  # fmt: skip


def _core_part(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "strae_graph" or module == "strae_graph.__main__":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def test_core_subpackages_import_downwards():
    """The order of README's Layout: util < trees < data, graph < model < training
    < embed, bench (the command line, above them all, is checked above)."""
    upward = []
    for module, targets in _import_graph().items():
        me = _core_part(module)
        if me not in CORE_RANK:
            continue
        for target in targets:
            other = _core_part(target)
            if other is None or other == me or other == "cli":
                continue
            if other not in CORE_RANK or CORE_RANK[other] >= CORE_RANK[me]:
                upward.append(f"{module} ({me}) imports {target} ({other})")
    assert not upward, "\n".join(sorted(upward))


def test_no_import_goes_up_a_layer():
    upward = []
    for package in ("strae_graph", "parsers", "eval"):
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            me = _layer(module)
            for name in _imports(path):
                other = _layer(name)
                if other is not None and RANK[other] > RANK[me]:
                    upward.append(f"{module} ({me}) imports {name} ({other})")
    assert not upward, "\n".join(upward)


def test_the_core_imports_with_parsers_and_eval_blocked():
    code = (
        "import sys\n"
        "sys.modules['parsers'] = None; sys.modules['eval'] = None\n"
        "import strae_graph, strae_graph.training.train, strae_graph.embed.embedder\n"
        "import strae_graph.bench.cases, strae_graph.model.self_strae, strae_graph.data.subwords\n"
        "import strae_graph.data.parsed, strae_graph.training.checkpoint\n"
        "import strae_graph.training.distributed, strae_graph.training.budget\n"
        "assert not any(m.startswith('strae_graph.cli') for m in sys.modules)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_the_core_never_imports_benchmarks():
    """benchmarks/ sits above the core (the command line hands the plain model in)."""
    found = []
    for path in sorted((ROOT / "strae_graph").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if _layer(module) == "core":
            found += [f"{module} imports {n}" for n in _imports(path) if n.startswith("benchmarks")]
    assert not found, "\n".join(found)
