#!/usr/bin/env python
"""The mechanical half of issue 27: the core's flat modules moved into
subpackages, and every reference to them rewritten.

    python scripts/restructure.py           # move, rewrite, format, then check
    python scripts/restructure.py --check   # only check: list what does not resolve

What it does, in order (each step does nothing where it is already done, so
running it twice changes nothing, and it runs on a newer main as well):

1. refuses to start when ``strae_graph/`` holds a module :data:`MOVES` does not
   place (add it to MOVES), or when a module and its destination both exist;
2. creates the subpackages (:data:`PACKAGES`: an ``__init__.py`` holding only
   a docstring) and ``git mv``\\ s every module of :data:`MOVES` that is still in
   its old place (a ``Path(__file__)...parent`` chain in a moved file gets one
   ``.parent`` more per level it went down);
3. rewrites every reference in the repository's text files (``git ls-files``,
   this script excepted): ``import`` statements of Python files (function-level
   and ``TYPE_CHECKING`` ones too) name the new modules, and a name imported
   from a module that only re-imports it is imported from the module that
   defines it (what a package exports, ``strae_graph``'s public names and
   ``strae_graph.cli``'s, stays as it is); dotted names
   (``strae_graph.train_loop.Trainer``) and file paths (``strae_graph/order.py``)
   in code, strings, comments, docstrings and the README become the new ones.
   A string that is exactly a dotted path (a ``monkeypatch`` target, ``python
   -m``) keeps the module its name is looked up in.  A moved module's old name
   that is now a package's (``strae_graph.model``) is read as the old module,
   except in an import statement;
4. sorts and formats the Python files it changed (``ruff``), and lists what
   ``ruff check`` still finds in them (a line the longer names made too long);
5. checks the result: every dotted name, path and ``from strae_graph... import``
   must resolve in the new tree; it prints what does not and exits 1.  Old file
   names without their folder (``train_loop.py`` in prose) are listed as
   warnings.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import subprocess
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()
PACKAGE = "strae_graph"

#: the new subpackages and their docstrings (what lives there, what it may import)
PACKAGES: dict[str, str] = {
    "strae_graph.util": (
        "Helpers with no knowledge of StrAE: the one DGL import (with the GraphBolt\n"
        "workaround), atomic file writes and hashes, NaN-safe JSON, progress bars.\n"
        "Imports nothing of strae_graph."
    ),
    "strae_graph.trees": (
        "Sentence trees: the binary :class:`~strae_graph.trees.tree.Tree` (drawing\n"
        "included), the n-ary form bracket strings and nltk trees parse to, the\n"
        "balanced shape, and the ``parse`` callable the layers above hand the core.\n"
        "Imports only strae_graph.util."
    ),
    "strae_graph.data": (
        "Data on disk and its order: the corpus reader and tokeniser, the vocabulary,\n"
        "BPE pieces, bracket files, ``strae parse`` datasets, the epoch order and\n"
        "streamed corpora.  Imports trees and util."
    ),
    "strae_graph.graph": (
        "Trees as batched DGL graphs (up and down edges, entangled DAGs) and their\n"
        "per-level message-passing blocks.  Imports trees and util."
    ),
    "strae_graph.model": (
        "The model: its configuration (defaults and checks), compose and decompose\n"
        "functions of both families, StrAE's passes, the objectives and their losses\n"
        "(their precision and buffers), the memory check, and Self-StrAE's merge loop.\n"
        "Imports graph, trees, data.vocab and util."
    ),
    "strae_graph.training": (
        "Training a run: TrainConfig and the presets, the training data and batches,\n"
        "the run's state, loop and step, the run directory and checkpoints, the\n"
        "learning-rate schedule, time budgets, torchrun, Ctrl-C, prefetching and torch\n"
        "threads.\n"
        "Imports model, graph, data, trees and util."
    ),
    "strae_graph.embed": (
        "Using a trained run: loading it back (checked), embeddings of words,\n"
        "sentences and tree nodes, Self-StrAE trees from a trained model, and the\n"
        "model directory (with its model card) a model is exported to and loaded from.\n"
        "Imports training (its checkpoints), model, graph, data, trees and util."
    ),
    "strae_graph.bench": (
        "``strae bench``: the cases, how a step is timed, the report.  Imports\n"
        "training, model, graph, data, trees and util."
    ),
}

#: old module -> new module, every module of main's strae_graph/ (a missing old
#: module is skipped).  The ones main added after the first run (b5fd59b):
#: progress (util: every command's progress bar, nothing of StrAE), subwords_file
#: (data, beside subwords), model_memory and workspace (model: the model's size
#: and the losses' buffers), precision (model: the losses' products), run_files,
#: threads and prefetch (training: a run's files, torch threads, batch building),
#: model_dir and model_card (embed: a trained model saved and loaded for use)
MOVES: dict[str, str] = {
    "strae_graph._dgl": "strae_graph.util.dgl",
    "strae_graph.fileio": "strae_graph.util.fileio",
    "strae_graph.jsonsafe": "strae_graph.util.jsonsafe",
    "strae_graph.progress": "strae_graph.util.progress",
    "strae_graph.tree": "strae_graph.trees.tree",
    "strae_graph.tree_io": "strae_graph.trees.brackets",
    "strae_graph.tree_draw": "strae_graph.trees.draw",
    "strae_graph.tree_shapes": "strae_graph.trees.shapes",
    "strae_graph.tree_source": "strae_graph.trees.source",
    "strae_graph.corpus": "strae_graph.data.corpus",
    "strae_graph.vocab": "strae_graph.data.vocab",
    "strae_graph.subwords": "strae_graph.data.subwords",
    "strae_graph.subwords_file": "strae_graph.data.subwords_file",
    "strae_graph.tree_dataset": "strae_graph.data.parsed",
    "strae_graph.order": "strae_graph.data.order",
    "strae_graph.stream": "strae_graph.data.stream",
    "strae_graph.stream_cache": "strae_graph.data.stream_cache",
    "strae_graph.graph": "strae_graph.graph.batch",
    "strae_graph.schedule": "strae_graph.graph.schedule",
    "strae_graph.model": "strae_graph.model.strae",
    "strae_graph.functions": "strae_graph.model.functions",
    "strae_graph.objectives": "strae_graph.model.objectives",
    "strae_graph.losses": "strae_graph.model.losses",
    "strae_graph.cross_entropy": "strae_graph.model.cross_entropy",
    "strae_graph.workspace": "strae_graph.model.workspace",
    "strae_graph.model_memory": "strae_graph.model.memory",
    "strae_graph.precision": "strae_graph.model.precision",
    "strae_graph.self_strae": "strae_graph.model.self_strae",
    "strae_graph.train": "strae_graph.training.train",
    "strae_graph.train_config": "strae_graph.training.config",
    "strae_graph.presets": "strae_graph.training.presets",
    "strae_graph.train_data": "strae_graph.training.data",
    "strae_graph.train_batches": "strae_graph.training.batches",
    "strae_graph.train_state": "strae_graph.training.state",
    "strae_graph.train_loop": "strae_graph.training.loop",
    "strae_graph.train_step": "strae_graph.training.step",
    "strae_graph.run_dir": "strae_graph.training.run_dir",
    "strae_graph.run_files": "strae_graph.training.run_files",
    "strae_graph.checkpoint": "strae_graph.training.checkpoint",
    "strae_graph.rng_state": "strae_graph.training.rng_state",
    "strae_graph.schedule_lr": "strae_graph.training.lr_schedule",
    "strae_graph.budget": "strae_graph.training.budget",
    "strae_graph.distributed": "strae_graph.training.distributed",
    "strae_graph.interrupt": "strae_graph.training.interrupt",
    "strae_graph.prefetch": "strae_graph.training.prefetch",
    "strae_graph.threads": "strae_graph.training.threads",
    "strae_graph.embed": "strae_graph.embed.embedder",
    "strae_graph.model_dir": "strae_graph.embed.model_dir",
    "strae_graph.model_card": "strae_graph.embed.model_card",
    "strae_graph.bench": "strae_graph.bench.cases",
    "strae_graph.bench_report": "strae_graph.bench.report",
    "strae_graph.bench_timing": "strae_graph.bench.timing",
}

#: modules that stay at the top of strae_graph/
TOP = ("strae_graph.__init__", "strae_graph.__main__")

#: text files rewritten besides Python ones
TEXT_SUFFIXES = (".py", ".md", ".toml", ".sh", ".txt", ".cfg", ".ini", ".yaml", ".yml", ".rst")

DOTTED = re.compile(r"(?<![\w.])strae_graph(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(r"(?<![\w/])strae_graph(?:/[A-Za-z_]\w*)+\.py\b")


# --- the tree ------------------------------------------------------------------------
def module_path(module: str) -> Path:
    return ROOT.joinpath(*module.split(".")).with_suffix(".py")


def package_init(package: str) -> Path:
    return ROOT.joinpath(*package.split("."), "__init__.py")


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@dataclass
class Symbols:
    """What each module of strae_graph defines and what it imports from strae_graph."""

    modules: set[str] = field(default_factory=set)
    packages: set[str] = field(default_factory=set)
    defined: dict[str, set[str]] = field(default_factory=dict)
    imported: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)


def _targets(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [n for e in node.elts for n in _targets(e)]
    return []


def read_symbols() -> Symbols:
    sym = Symbols()
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        mod = module_of(path)
        sym.modules.add(mod)
        if path.name == "__init__.py":
            sym.packages.add(mod)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined: set[str] = set()
        imported: dict[str, tuple[str, str]] = {}
        for node in _top_level(tree.body):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Assign):
                defined.update(n for t in node.targets for n in _targets(t))
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                defined.update(_targets(node.target))
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    if node.module.split(".")[0] == PACKAGE:
                        imported[a.asname or a.name] = (node.module, a.name)
                    else:
                        defined.add(a.asname or a.name)
            elif isinstance(node, ast.Import):
                defined.update((a.asname or a.name).split(".")[0] for a in node.names)
        sym.defined[mod] = defined
        sym.imported[mod] = imported
    return sym


def _top_level(body: list[ast.stmt]):
    """The statements of a module body, looking into top-level if/try blocks (not
    into ``if TYPE_CHECKING:``, whose names do not exist at run time)."""
    for node in body:
        yield node
        if isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
            yield from _top_level(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            yield from _top_level(node.body + node.orelse + node.finalbody)
            for h in node.handlers:
                yield from _top_level(h.body)


# --- names: old -> new -----------------------------------------------------------------
class Names:
    def __init__(self, sym: Symbols):
        self.sym = sym

    def split(self, parts: list[str]) -> tuple[str | None, list[str]]:
        """The longest prefix of ``parts`` that is a module of the tree, and the rest."""
        for k in range(len(parts), 0, -1):
            m = ".".join(parts[:k])
            if m in self.sym.modules:
                return m, parts[k:]
        return None, parts

    def resolves(self, parts: list[str], imported_ok: bool = True) -> bool:
        m, rest = self.split(parts)
        if m is None:
            return False
        if not rest:  # a module; a package named as a moved module is the old module
            return m not in MOVES
        name = rest[0]
        if name in self.sym.defined[m] or m == PACKAGE and name in self.sym.imported[m]:
            return True
        return imported_ok and name in self.sym.imported[m]

    def new(self, parts: list[str], follow: bool) -> list[str]:
        """``parts`` (a dotted name, old or new) in the new tree; with ``follow``, a
        name a module only re-imports is named in the module that defines it."""
        if not self.resolves(parts):
            for k in range(len(parts), 1, -1):
                old = ".".join(parts[:k])
                # old is a moved module unless a module of the new package follows it
                below = k < len(parts) and ".".join(parts[: k + 1]) in self.sym.modules
                if old in MOVES and not below and not self.resolves(parts[:k]):
                    parts = MOVES[old].split(".") + parts[k:]
                    break
        if follow:
            parts = self.follow(parts)
        return parts

    def follow(self, parts: list[str]) -> list[str]:
        for _ in range(20):  # a chain of re-imports
            m, rest = self.split(parts)
            if m is None or m in self.sym.packages or not rest or rest[0] in self.sym.defined[m]:
                return parts  # a package's names are its API (strae_graph, strae_graph.cli)
            source = self.sym.imported[m].get(rest[0])
            if source is None:
                return parts
            parts = self.new(source[0].split("."), follow=False) + [source[1], *rest[1:]]
        return parts


# --- rewriting ------------------------------------------------------------------------
def rewrite_dotted(text: str, names: Names, follow: bool, exact_string: bool = False) -> str:
    def sub(m: re.Match[str]) -> str:
        return ".".join(names.new(m.group().split("."), follow))

    if exact_string:
        return DOTTED.sub(lambda m: ".".join(names.new(m.group().split("."), False)), text)
    text = DOTTED.sub(sub, text)
    return PATH.sub(lambda m: rewrite_path(m.group(), names), text)


def rewrite_path(path: str, names: Names) -> str:
    parts = path[: -len(".py")].split("/")
    new = names.new(parts, follow=False)
    m, rest = names.split(new)
    if m is None or rest:
        return path
    return "/".join(new) + ".py"


def _alias(name: str, local: str) -> str:
    return name if name == local else f"{name} as {local}"


def rewrite_imports(src: str, names: Names) -> str:
    """Every ``import`` of a strae_graph module names its new place (see the module
    docstring); statements that need no change keep their text."""
    lines = src.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []  # (first line, last line, new text), 1-based
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == PACKAGE:
                edit = _from_import(lines, node, names)
                if edit is not None:
                    edits.append(edit)
        elif isinstance(node, ast.Import):
            renames = {}
            for a in node.names:
                if a.name.split(".")[0] == PACKAGE:
                    new = ".".join(names.new(a.name.split("."), follow=False))
                    if new != a.name:
                        renames[a.name] = new
            if renames:
                edits.append(_module_only(lines, node, renames))
    for first, last, text in sorted(edits, reverse=True):
        lines[first - 1 : last] = [text]
    return "".join(lines)


def _from_import(lines: list[str], node: ast.ImportFrom, names: Names):
    """The edit of one ``from strae_graph... import ...`` statement, or None."""
    module = node.module or ""
    groups: list[tuple[str, list[str]]] = []
    for a in node.names:
        if a.name == "*":
            target = [*names.new(module.split("."), follow=False), "*"]
        else:
            target = names.new([*module.split("."), a.name], follow=True)
        mod, item = ".".join(target[:-1]), _alias(target[-1], a.asname or a.name)
        if groups and groups[-1][0] == mod:
            groups[-1][1].append(item)
        else:
            groups.append((mod, [item]))
    before = [(module, [_alias(a.name, a.asname or a.name) for a in node.names])]
    if groups == before:
        return None
    if len(groups) == 1 and groups[0][1] == before[0][1]:
        return _module_only(lines, node, {module: groups[0][0]})
    return _regenerate(lines, node, groups)


def _module_only(lines: list[str], node: ast.stmt, renames: dict[str, str]) -> tuple[int, int, str]:
    """The statement's text with each module name of ``renames`` replaced."""
    first, last = node.lineno, node.end_lineno or node.lineno
    text = "".join(lines[first - 1 : last])
    for old, new in renames.items():
        pattern = re.compile(rf"(?<![\w.]){re.escape(old)}(?![\w.])")
        text = pattern.sub(new, text, count=1)
    return first, last, text


def _regenerate(lines: list[str], node: ast.ImportFrom, groups) -> tuple[int, int, str]:
    """One ``from M import ...`` line per module; comments of the statement kept."""
    first, last = node.lineno, node.end_lineno or node.lineno
    text = "".join(lines[first - 1 : last])
    comments = [t.string for t in _tokens(text) if t.type == tokenize.COMMENT]
    after = "  " + " ".join(comments) if comments else ""
    indent = " " * node.col_offset
    out = [f"{indent}from {mod} import {', '.join(items)}{after}\n" for mod, items in groups]
    return first, last, "".join(out)


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    try:
        return list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError):
        return []


def import_spans(src: str) -> list[tuple[int, int]]:
    """Character ranges of the import statements of ``src``."""
    offsets = line_offsets(src)
    spans = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            start = offsets[node.lineno - 1] + node.col_offset
            end = offsets[(node.end_lineno or node.lineno) - 1] + (node.end_col_offset or 0)
            spans.append((start, end))
    return sorted(spans)


def line_offsets(src: str) -> list[int]:
    offsets = [0]
    for line in src.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    return offsets


def rewrite_python(src: str, names: Names) -> str:
    """Imports first (:func:`rewrite_imports`), then dotted names: in comments and
    strings (a string that is exactly a dotted name keeps its lookup module), and
    in code outside import statements."""
    src = rewrite_imports(src, names)
    offsets = line_offsets(src)
    pieces: list[tuple[int, int, str]] = []  # (start, end, kind): "code", "text", "exact"
    pos = 0
    for tok in _tokens(src):
        if tok.type not in (tokenize.STRING, tokenize.COMMENT):
            continue
        start = offsets[tok.start[0] - 1] + tok.start[1]
        end = offsets[tok.end[0] - 1] + tok.end[1]
        exact = tok.type == tokenize.STRING and DOTTED.fullmatch(tok.string.strip("\"'rbf"))
        pieces += [(pos, start, "code"), (start, end, "exact" if exact else "text")]
        pos = end
    pieces.append((pos, len(src), "code"))
    for start, end in import_spans(src):  # imports are rewritten already
        pieces = [p for q in pieces for p in _cut(q, start, end)]
    out = []
    for start, end, kind in pieces:
        text = src[start:end]
        if kind == "code":
            text = rewrite_dotted(text, names, follow=False)
        elif kind in ("text", "exact"):
            text = rewrite_dotted(text, names, follow=kind == "text", exact_string=kind == "exact")
        out.append(text)
    return "".join(out)


def _cut(piece: tuple[int, int, str], start: int, end: int) -> list[tuple[int, int, str]]:
    """``piece`` with the range ``start:end`` marked "keep"."""
    a, z, kind = piece
    if z <= start or a >= end:
        return [piece]
    out = []
    if a < start:
        out.append((a, start, kind))
    out.append((max(a, start), min(z, end), "keep"))
    if z > end:
        out.append((end, z, kind))
    return out


# --- the steps ------------------------------------------------------------------------
def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def text_files() -> list[Path]:
    listed = git("ls-files", "-co", "--exclude-standard").splitlines()
    return [
        ROOT / p
        for p in sorted(set(listed))
        if p != SELF and p.endswith(TEXT_SUFFIXES) and (ROOT / p).is_file()
    ]


def precheck() -> list[str]:
    problems = []
    for path in sorted((ROOT / PACKAGE).glob("*.py")):
        mod = module_of(path) if path.name != "__init__.py" else f"{PACKAGE}.__init__"
        if mod not in MOVES and mod not in TOP:
            problems.append(f"{path.relative_to(ROOT)}: not placed; add it to MOVES")
    for old, new in MOVES.items():
        if module_path(old).exists() and module_path(new).exists():
            problems.append(f"{module_path(old).relative_to(ROOT)} and its destination "
                            f"{module_path(new).relative_to(ROOT)} both exist")  # fmt: skip
    return problems


def make_packages() -> None:
    for package, doc in PACKAGES.items():
        init = package_init(package)
        if not init.exists():
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_text(f'"""{doc}"""\n', encoding="utf-8")
            git("add", str(init.relative_to(ROOT)))


def move_modules() -> list[str]:
    moved = []
    for old, new in MOVES.items():
        src, dst = module_path(old), module_path(new)
        if not src.exists():
            continue
        git("mv", str(src.relative_to(ROOT)), str(dst.relative_to(ROOT)))
        more = ".parent" * (len(new.split(".")) - len(old.split(".")))
        text = dst.read_text(encoding="utf-8")
        fixed = re.sub(r"(Path\(__file__\)\.resolve\(\)(?:\.parent)+)", rf"\g<1>{more}", text)
        if fixed != text:
            dst.write_text(fixed, encoding="utf-8")
            print(f"{dst.relative_to(ROOT)}: Path(__file__) chain one level deeper")
        moved.append(f"{old} -> {new}")
    return moved


def rewrite_all(names: Names) -> list[Path]:
    changed = []
    for path in text_files():
        src = path.read_text(encoding="utf-8")
        if path.suffix == ".py":
            new = rewrite_python(src, names)
        else:
            new = rewrite_dotted(src, names, follow=True)
        if new != src:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def ruff(paths: list[Path]) -> None:
    py = [str(p) for p in paths if p.suffix == ".py"]
    if not py:
        return
    exe = Path(sys.executable).with_name("ruff")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "ruff"]
    subprocess.run([*cmd, "check", "--fix", "--select", "I", "--quiet", *py], cwd=ROOT)
    subprocess.run([*cmd, "format", "--quiet", *py], cwd=ROOT, check=True)
    left = subprocess.run([*cmd, "check", "--output-format", "concise", "--quiet", *py],
                          cwd=ROOT, capture_output=True, text=True).stdout  # fmt: skip
    for line in left.splitlines():  # e.g. a docstring line the longer names made too long
        print(f"to mend by hand: {line}")


def check(names: Names) -> tuple[list[str], list[str]]:
    """(errors, warnings): references that do not resolve; old file names without
    their folder, and a package named like the module it replaces (ambiguous)."""
    errors, warnings = [], []
    old_files = {o.rsplit(".", 1)[1] for o, n in MOVES.items()
                 if o.rsplit(".", 1)[1] != n.rsplit(".", 1)[1]}  # fmt: skip
    bare = re.compile(rf"(?<![\w/.])({'|'.join(sorted(old_files))})\.py\b")
    for path in text_files():
        rel = path.relative_to(ROOT)
        src = path.read_text(encoding="utf-8")
        skip = import_spans(src) if path.suffix == ".py" else []  # checked below
        offsets = line_offsets(src)
        for lineno, line in enumerate(src.splitlines(), 1):
            for m in DOTTED.finditer(line):
                at = offsets[lineno - 1] + m.start()
                parts = m.group().split(".")
                if any(a <= at < z for a, z in skip) or names.resolves(parts):
                    continue
                if names.split(parts) == (m.group(), []):
                    warnings.append(f"{rel}:{lineno}: {m.group()} (package or old module?)")
                else:
                    errors.append(f"{rel}:{lineno}: {m.group()}")
            for m in PATH.finditer(line):
                if not (ROOT / m.group()).exists():
                    errors.append(f"{rel}:{lineno}: {m.group()}")
            for m in bare.finditer(line):
                warnings.append(f"{rel}:{lineno}: {m.group()} (an old file name)")
        if path.suffix == ".py":
            errors += _unresolved_imports(rel, src, names)
    return errors, warnings


def _unresolved_imports(rel: Path, src: str, names: Names) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != PACKAGE:
                continue
            for a in node.names:
                if a.name != "*" and not names.resolves([*node.module.split("."), a.name]):
                    out.append(f"{rel}:{node.lineno}: from {node.module} import {a.name}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check; change nothing")
    args = ap.parse_args(argv)
    if not args.check:
        problems = precheck()
        if problems:
            print("restructure: not started:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 2
        make_packages()
        for line in move_modules():
            print(f"moved {line}")
        changed = rewrite_all(Names(read_symbols()))
        ruff(changed)
        print(f"rewrote references in {len(changed)} files")
    errors, warnings = check(Names(read_symbols()))
    for w in warnings:
        print(f"warning: {w}")
    for e in errors:
        print(f"unresolved: {e}")
    if errors:
        print(f"restructure: {len(errors)} references do not resolve", file=sys.stderr)
        return 1
    print("restructure: every reference resolves")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
