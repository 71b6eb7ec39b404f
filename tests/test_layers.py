"""The packages import in one direction: core (strae_graph) < parsers < eval <
the command line (strae_graph.cli); nothing imports a layer above its own."""

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
