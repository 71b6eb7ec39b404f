"""The work of ``strae parse`` in shards (:func:`parsers.parsed_corpus.parse_corpus`
runs it): the input cut into shards of ``shard_size`` sentences
(:func:`input_shards`), each parsed (gold trees: read) and saved as a dataset in
``OUT.partial/`` (:func:`run_shards`: in this process, or in ``num_proc``
worker processes), a shard already there (an interrupted run's) kept as it is,
and the finished shards read back as one dataset (:func:`merged_shards`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from parsers.structures import GOLD
from strae_graph.data.corpus import read_sentences
from strae_graph.trees.tree import Tree
from strae_graph.util.fileio import atomic_path

#: a shard of the input: (its path in the partial directory, line numbers, token
#: lists, the index of its first sentence, gold trees or None)
Shard = tuple[str, list[int], list[list[str]], int, list[Tree | None]]


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


def input_shards(
    src: Path,
    structure: str,
    partial: Path,
    max_sentences: int | None,
    options: dict[str, Any],
    shard_size: int,
) -> Iterator[Shard]:
    """The input cut into shards of ``shard_size`` sentences (read as they are
    consumed), each with its path in ``partial``."""
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


def run_shards(
    shards: Iterable[Shard],
    structure: str,
    seed: int,
    options: dict[str, Any],
    num_proc: int,
    done: Callable[[int], Any],
) -> list[str]:
    """Save every shard that is not saved yet, calling ``done(sentences)`` as each
    shard is finished (or found finished); the shards' paths, in input order.
    Gold trees are saved here; a parser runs here or in ``num_proc`` processes."""
    if structure == GOLD:
        return _run_here(shards, structure, seed, {}, done)
    if num_proc == 1:
        return _run_here(shards, structure, seed, options, done)
    return _run_in_processes(shards, structure, seed, options, num_proc, done)


def _run_here(
    shards: Iterable[Shard], structure: str, seed: int, options: dict[str, Any],
    done: Callable[[int], Any],
) -> list[str]:  # fmt: skip
    """:func:`run_shards` in this process."""
    paths = []
    for path, lines, sents, index, golds in shards:
        paths.append(path)
        if Path(path).exists():
            done(len(sents))
        elif structure == GOLD:
            _save_rows(path, lines, [g for g in golds if g is not None])
            done(len(sents))
        else:
            done(_parse_shard(path, lines, sents, structure, seed, index, options))
    return paths


def _run_in_processes(
    shards: Iterable[Shard], structure: str, seed: int, options: dict[str, Any],
    num_proc: int, done: Callable[[int], Any],
) -> list[str]:  # fmt: skip
    """:func:`run_shards` in ``num_proc`` worker processes, at most two shards
    each in flight (so the input is read only a little ahead of the parsing)."""
    paths = []
    with ProcessPoolExecutor(max_workers=num_proc) as pool:
        pending: list[Future[int]] = []  # in the order of submission
        for path, lines, sents, index, _ in shards:
            paths.append(path)
            if Path(path).exists():
                done(len(sents))
                continue
            pending.append(pool.submit(_parse_shard, path, lines, sents, structure, seed,
                                       index, options))  # fmt: skip
            while len(pending) >= 2 * num_proc:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                pending = [f for f in pending if f not in finished]
                for f in finished:
                    done(f.result())
        for f in pending:
            done(f.result())
    return paths


def merged_shards(paths: Sequence[str]) -> Any:
    """The saved shards at ``paths`` as one ``datasets.Dataset``, in order."""
    import datasets

    datasets.disable_progress_bars()
    return datasets.concatenate_datasets([datasets.load_from_disk(p) for p in paths])
