"""A parsed corpus on disk: a HuggingFace ``datasets`` dataset of tokens and trees.

``parse_corpus(INPUT, structure, OUT)`` writes ``OUT`` (``Dataset.save_to_disk``)
with one row per sentence:

* ``line``: int, the sentence's line number in INPUT (1-based);
* ``tokens``: list[str], the leaves (``strae_graph.data.corpus.tokenize``, or the
  gold file's leaves);
* ``children``: list of ``[left, right]`` int pairs, :class:`Tree.children`
  (leaves ``0..n-1``, internal nodes ``n..2n-2`` in post-order, root last).

``OUT/strae_parse.json`` records the structure, its options, the seed, the
input's SHA-256 and a fingerprint of all of these.  Reading a dataset
(:func:`iter_parsed_trees`, ...) is the core's :mod:`strae_graph.data.parsed`:
training reads one as a corpus that brings its trees.  Re-running with the same
input and options finds the fingerprint and returns at once (``reused``).
Work is done in shards of ``shard_size`` sentences kept in ``OUT.partial/``
until the whole corpus is done, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from parsers.chart_tree import check_binarize
from parsers.parse_output import check_replaceable, describe
from parsers.structures import GOLD, get_structure, options_to_record
from strae_graph.data.corpus import DataError, check_input_file, count_lines, read_sentences
from strae_graph.data.parsed import (  # noqa: F401 (the reader, re-exported)
    META_FILE,
    is_parsed_corpus,
    iter_parsed_trees,
    load_parsed,
    read_meta,
)
from strae_graph.trees.errors import TreeError
from strae_graph.trees.tree import Tree
from strae_graph.util.fileio import (
    OutputError,
    atomic_path,
    check_output_dir,
    file_sha256,
    json_sha256,
)
from strae_graph.util.progress import progress as show_progress

FORMAT = 1


@dataclass
class ParseResult:
    out: str
    structure: str
    sentences: int
    reused: bool
    seconds: float
    sentences_per_s: float
    meta: dict[str, Any] = field(default_factory=dict)


#: SHA-256 of the JSON of everything that decides the output
fingerprint = json_sha256


# --- producing -------------------------------------------------------------
def _iter_input(
    path: str, structure: str, max_sentences: int | None, options: dict[str, Any]
) -> Iterator[tuple[int, list[str], Tree | None]]:
    """``(line, tokens, gold tree or None)`` for every sentence of the input."""
    if structure == GOLD:
        from parsers.gold import iter_gold_trees

        for i, (line, tree) in enumerate(iter_gold_trees(path, **options)):
            if max_sentences is not None and i >= max_sentences:
                return
            yield line, list(tree.tokens), tree
        return
    for line, toks in read_sentences(path, max_sentences):
        yield line, toks, None


def _parse_shard(
    shard_path: str,
    lines: list[int],
    sentences: list[list[str]],
    structure: str,
    seed: int,
    first_index: int,
    options: dict[str, Any],
) -> int:
    """Parse one shard and save it as a dataset at ``shard_path``; returns its size."""
    from parsers import parse_sentences

    trees = parse_sentences(sentences, structure, seed=seed, first_index=first_index, **options)
    _save_rows(shard_path, lines, trees)
    return len(trees)


def _save_rows(path: str, lines: Sequence[int], trees: Sequence[Tree]) -> None:
    import datasets

    datasets.disable_progress_bars()  # one bar (ours) per command
    features = datasets.Features(
        {
            "line": datasets.Value("int64"),
            "tokens": datasets.Sequence(datasets.Value("string")),
            "children": datasets.Sequence(datasets.Sequence(datasets.Value("int32"))),
        }
    )
    ds = datasets.Dataset.from_dict(
        {
            "line": list(lines),
            "tokens": [list(t.tokens) for t in trees],
            "children": [[list(c) for c in t.children] for t in trees],
        },
        features=features,
    )
    with atomic_path(path) as tmp:
        ds.save_to_disk(str(tmp))


def parse_corpus(
    input_path: str | os.PathLike[str],
    structure: str,
    out: str | os.PathLike[str],
    *,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    max_sentences: int | None = None,
    num_proc: int = 1,
    shard_size: int = 2000,
    progress: bool = True,
    log=print,
    overwrite: bool = True,
) -> ParseResult:
    """Parse every sentence of ``input_path`` under ``structure`` into the
    dataset directory ``out`` (see the module docstring); cached by content hash.

    ``out`` may be new, empty, or a dataset this function wrote: the same
    input and options reuse it, others replace it when ``overwrite`` (else a
    ValueError; ``strae parse`` asks for ``--overwrite``).  A folder holding
    anything else is refused before any work (:func:`check_out`)."""
    options = _checked_options(structure, options)
    source = get_structure(structure)  # a registered name, or a ValueError naming them
    src = check_input_file(input_path)
    if num_proc < 1 or shard_size < 1:
        raise ValueError("--num-proc and the shard size must be at least 1")
    if max_sentences is not None and max_sentences < 0:
        raise ValueError(f"--max-sentences must be at least 0 (0: all), got {max_sentences}")
    max_sentences = max_sentences or None  # 0 is all, as in strae train (one cache key)
    out = Path(out)
    t0 = time.perf_counter()
    key = {
        "format": FORMAT,
        "input_sha256": file_sha256(src),
        "structure": structure,
        "options": dict(options),
        "seed": seed if structure == "random" else None,
        "max_sentences": max_sentences,
    }
    if structure == "benepar":  # which model (the default resolved), by its file's hash
        from parsers.benepar_parser import benepar_model_identity, resolve_benepar_model

        key["benepar_model"] = benepar_model_identity(options.get("model"))
        options["model"] = resolve_benepar_model(options.get("model"))  # workers: no notice
    fp = fingerprint(key)
    check_output_dir(out, is_parsed_corpus, "a `strae parse` dataset")
    if is_parsed_corpus(out):
        meta = read_meta(out)
        if meta.get("fingerprint") == fp:
            dt = time.perf_counter() - t0
            return ParseResult(str(out), structure, meta["sentences"], True, dt, 0.0, meta)
        if not overwrite:
            raise OutputError(
                f"{out}: holds a dataset of another input or other options ({describe(meta)}); "
                "add --overwrite to replace it, or choose another --out"
            )
    check_replaceable(out)
    if source.kind == "parser":
        _check_parser_available(structure, options)

    # read the whole input once before anything is written: a corrupt or
    # truncated file fails here, leaving no OUT.partial/ behind
    total = _count_lines(src) if max_sentences is None else max_sentences
    partial = Path(str(out) + ".partial")
    if (partial / "fingerprint").is_file() and (partial / "fingerprint").read_text() != fp:
        shutil.rmtree(partial)  # our own shards (check_out), of other input or options
    partial.mkdir(parents=True, exist_ok=True)
    (partial / "fingerprint").write_text(fp)
    try:
        return _parse_into(src, structure, out, partial, key, fp, t0, total, seed, options,
                           max_sentences, num_proc, shard_size, progress)  # fmt: skip
    except (DataError, TreeError):  # bad input: nothing worth resuming from
        shutil.rmtree(partial, ignore_errors=True)
        raise


#: a shard of the input: (its path in the partial directory, line numbers, token
#: lists, the index of its first sentence, gold trees or None)
Shard = tuple[str, list[int], list[list[str]], int, list[Tree | None]]


def _shards(
    src: Path,
    structure: str,
    partial: Path,
    max_sentences: int | None,
    options: dict[str, Any],
    shard_size: int,
) -> Iterator[Shard]:
    """The input cut into shards of ``shard_size`` sentences."""
    lines: list[int] = []
    sents: list[list[str]] = []
    golds: list[Tree | None] = []
    index, k = 0, 0
    for line, toks, gold in _iter_input(str(src), structure, max_sentences, options):
        lines.append(line)
        sents.append(toks)
        golds.append(gold)
        if len(sents) == shard_size:
            yield str(partial / f"shard_{k:05d}"), lines, sents, index, golds
            index, k = index + len(sents), k + 1
            lines, sents, golds = [], [], []
    if sents:
        yield str(partial / f"shard_{k:05d}"), lines, sents, index, golds


def _parse_into(
    src: Path,
    structure: str,
    out: Path,
    partial: Path,
    key: dict[str, Any],
    fp: str,
    t0: float,
    total: int | None,
    seed: int,
    options: dict[str, Any],
    max_sentences: int | None,
    num_proc: int,
    shard_size: int,
    progress: bool,
) -> ParseResult:
    """The work of :func:`parse_corpus` once its input is checked: shards in
    ``partial``, then the merged dataset at ``out``."""
    bar = show_progress(total=total, desc=f"parse {structure}", unit="sent", disable=not progress,
               dynamic_ncols=True, smoothing=0.05)  # fmt: skip
    shard_paths: list[str] = []
    n_done = 0

    def shards() -> Iterator[Shard]:
        return _shards(src, structure, partial, max_sentences, options, shard_size)

    def shard_done(path: str, n: int) -> None:
        nonlocal n_done
        n_done += n
        bar.update(n)

    parse_options = {} if structure == GOLD else options
    if num_proc == 1 or structure == GOLD:
        for path, lines, sents, index, golds in shards():
            shard_paths.append(path)
            if Path(path).exists():
                shard_done(path, len(sents))
                continue
            if structure == GOLD:
                _save_rows(path, lines, [g for g in golds if g is not None])
                shard_done(path, len(sents))
            else:
                n = _parse_shard(path, lines, sents, structure, seed, index, parse_options)
                shard_done(path, n)
    else:
        with ProcessPoolExecutor(max_workers=num_proc) as pool:
            pending: dict[Any, tuple[str, int]] = {}
            for path, lines, sents, index, _ in shards():
                shard_paths.append(path)
                if Path(path).exists():
                    shard_done(path, len(sents))
                    continue
                fut = pool.submit(
                    _parse_shard, path, lines, sents, structure, seed, index, parse_options
                )
                pending[fut] = (path, len(sents))
                while len(pending) >= 2 * num_proc:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        shard_done(pending.pop(f)[0], f.result())
            for f in list(pending):
                shard_done(pending.pop(f)[0], f.result())
    bar.close()
    if n_done == 0:
        raise DataError(f"{src}: no sentences (every line is empty, or not UTF-8 text: "
                        "undecodable, or holding a NUL byte)")  # fmt: skip

    import datasets

    datasets.disable_progress_bars()
    merged = datasets.concatenate_datasets([datasets.load_from_disk(p) for p in shard_paths])
    with atomic_path(out) as tmp:  # a hidden temporary beside OUT, renamed over OUT
        merged.save_to_disk(str(tmp))
        seconds = time.perf_counter() - t0
        meta = _meta(key, fp, src, merged, num_proc, seconds)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
    shutil.rmtree(partial, ignore_errors=True)
    return ParseResult(
        str(out), structure, len(merged), False, seconds, len(merged) / seconds, meta
    )


def _meta(
    key: dict[str, Any], fp: str, src: Path, merged: Any, num_proc: int, seconds: float
) -> dict[str, Any]:
    """OUT/strae_parse.json: the fingerprint's inputs and what was written."""
    return {
        **key,
        "fingerprint": fp,
        "input": str(src.resolve()),
        "sentences": len(merged),
        "tokens": int(sum(len(t) for t in merged["tokens"])),
        "num_proc": num_proc,
        "seconds": round(seconds, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "columns": {
            "line": "1-based line number in the input",
            "tokens": "list[str]: the leaves",
            "children": "list of [left, right]: children of internal node n+i "
            "(leaves 0..n-1, internal nodes in post-order, root last)",
        },
    }


def _checked_options(structure: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of ``options`` with the options whose default changed made explicit
    (:func:`parsers.structures.options_to_record`: benepar's binarisation),
    recorded so the dataset says how its trees were made, and part of the
    fingerprint (the default, chart, is not the right-binarised parse of older
    datasets); a binarisation the structure cannot apply is refused before any work."""
    options = options_to_record(structure, options)
    if structure in ("benepar", GOLD):
        check_binarize(options.get("binarize", "right"), structure)
    return options


def _count_lines(path: Path) -> int | None:
    """Lines of a (gzipped) text file, for the progress bar; None for a zip."""
    if path.suffix == ".zip":
        return None
    return count_lines(path)


def _check_parser_available(structure: str, options: dict[str, Any]) -> None:
    """Fail before any work when the parser's model is missing."""
    if structure == "spacy":
        from parsers.spacy_parser import DEFAULT_SPACY_MODEL, load_spacy

        load_spacy(str(options.get("model", DEFAULT_SPACY_MODEL)))
    else:
        from parsers.benepar_parser import load_benepar

        load_benepar(options.get("model"))


def result_dict(res: ParseResult) -> dict[str, Any]:
    d = asdict(res)
    d.pop("meta")
    return d
