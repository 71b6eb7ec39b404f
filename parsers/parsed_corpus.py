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
until the whole corpus is done, so an interrupted run resumes where it stopped
(:mod:`parsers.parse_shards`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from parsers.chart_tree import check_binarize
from parsers.parse_output import check_replaceable, describe
from parsers.parse_shards import Shard, input_shards, merged_shards, run_shards
from parsers.structures import GOLD, get_structure, options_to_record
from strae_graph.data.corpus import DataError, check_input_file, count_lines
from strae_graph.data.parsed import (  # noqa: F401 (the reader, re-exported)
    META_FILE,
    is_parsed_corpus,
    iter_parsed_trees,
    load_parsed,
    read_meta,
)
from strae_graph.trees.errors import TreeError
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
    anything else is refused before any work
    (:func:`parsers.parse_output.check_replaceable`)."""
    options = _checked_options(structure, options)
    source = get_structure(structure)  # a registered name, or a ValueError naming them
    src = check_input_file(input_path)
    max_sentences = _checked_sizes(num_proc, shard_size, max_sentences)
    out = Path(out)
    t0 = time.perf_counter()
    key = _fingerprint_inputs(src, structure, options, seed, max_sentences)
    if structure == "benepar":  # the workers get the default resolved: no notice from each
        from parsers.benepar_parser import resolve_benepar_model

        options["model"] = resolve_benepar_model(options.get("model"))
    fp = fingerprint(key)
    reused = _reused(out, structure, fp, overwrite, t0)
    if reused is not None:
        return reused
    if source.kind == "parser":
        _check_parser_available(structure, options)

    # read the whole input once before anything is written: a corrupt or
    # truncated file fails here, leaving no OUT.partial/ behind
    total = _count_lines(src) if max_sentences is None else max_sentences
    partial = _partial_dir(out, fp)
    shards = input_shards(src, structure, partial, max_sentences, options, shard_size)
    try:
        paths, n = _run_with_bar(shards, structure, seed, options, num_proc, total, progress)
        if n == 0:
            raise DataError(f"{src}: no sentences (every line is empty, or not UTF-8 text: "
                            "undecodable, or holding a NUL byte)")  # fmt: skip
        result = _write_dataset(paths, out, structure, src, key, fp, num_proc, t0)
    except (DataError, TreeError):  # bad input: nothing worth resuming from
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(partial, ignore_errors=True)
    return result


def _checked_sizes(num_proc: int, shard_size: int, max_sentences: int | None) -> int | None:
    """``max_sentences`` as the cache key holds it (0 is all, None), once the sizes
    are checked."""
    if num_proc < 1 or shard_size < 1:
        raise ValueError("--num-proc and the shard size must be at least 1")
    if max_sentences is not None and max_sentences < 0:
        raise ValueError(f"--max-sentences must be at least 0 (0: all), got {max_sentences}")
    return max_sentences or None  # 0 is all, as in strae train (one cache key)


def _fingerprint_inputs(
    src: Path, structure: str, options: dict[str, Any], seed: int, max_sentences: int | None
) -> dict[str, Any]:
    """Everything that decides the output: the dataset's fingerprint is its hash."""
    key = {
        "format": FORMAT,
        "input_sha256": file_sha256(src),
        "structure": structure,
        "options": dict(options),
        "seed": seed if structure == "random" else None,
        "max_sentences": max_sentences,
    }
    if structure == "benepar":  # which model (the default resolved), by its file's hash
        from parsers.benepar_parser import benepar_model_identity

        key["benepar_model"] = benepar_model_identity(options.get("model"))
    return key


def _reused(out: Path, structure: str, fp: str, overwrite: bool, t0: float) -> ParseResult | None:
    """The result for the dataset at ``out`` when it has the fingerprint ``fp``;
    else None once ``out`` may be (re)written (an error when it may not)."""
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
    return None


def _partial_dir(out: Path, fp: str) -> Path:
    """``OUT.partial/`` for the work of fingerprint ``fp``: kept from an
    interrupted run of the same work, emptied when it holds other work."""
    partial = Path(str(out) + ".partial")
    if (partial / "fingerprint").is_file() and (partial / "fingerprint").read_text() != fp:
        shutil.rmtree(partial)  # our own shards (check_replaceable), of other work
    partial.mkdir(parents=True, exist_ok=True)
    (partial / "fingerprint").write_text(fp)
    return partial


def _run_with_bar(
    shards: Iterator[Shard], structure: str, seed: int, options: dict[str, Any], num_proc: int,
    total: int | None, progress: bool,
) -> tuple[list[str], int]:  # fmt: skip
    """:func:`parsers.parse_shards.run_shards` under a progress bar: the shards'
    paths and the number of sentences in them."""
    bar = show_progress(total=total, desc=f"parse {structure}", unit="sent", disable=not progress,
               dynamic_ncols=True, smoothing=0.05)  # fmt: skip
    n_done = 0

    def done(n: int) -> None:
        nonlocal n_done
        n_done += n
        bar.update(n)

    paths = run_shards(shards, structure, seed, options, num_proc, done)
    bar.close()
    return paths, n_done


def _write_dataset(
    shard_paths: list[str], out: Path, structure: str, src: Path, key: dict[str, Any], fp: str,
    num_proc: int, t0: float,
) -> ParseResult:  # fmt: skip
    """The shards merged into the dataset at ``out`` with its record (written
    beside ``out``, then renamed over it); the result of the whole call."""
    merged = merged_shards(shard_paths)
    with atomic_path(out) as tmp:  # a hidden temporary beside OUT, renamed over OUT
        merged.save_to_disk(str(tmp))
        seconds = time.perf_counter() - t0
        meta = _meta(key, fp, src, merged, num_proc, seconds)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
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
