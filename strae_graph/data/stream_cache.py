"""The on-disk form of a streamed corpus: its usable sentences as Arrow record
batches, converted once and kept in a content-hash cache.

:func:`corpus_cache` converts a plain-text corpus (read by
:func:`strae_graph.data.corpus.read_sentences`: the same tokeniser and skipping
rules as ``strae train``) or a ``strae parse`` dataset into a directory under
``cache_dir()/stream/``, keyed by the corpus's content (the text file's
SHA-256, or the dataset's fingerprint) and ``max_length``; a second run finds
it and converts nothing.  The directory holds:

* ``rows.arrow``: an Arrow IPC file, one row per usable sentence in corpus
  order (``line``: int64, ``tokens``: list<string>, and for a parsed dataset
  ``children``: list<list<int32>>), in record batches of exactly ``CHUNK`` rows
  (the last may be shorter): row ``r`` is in batch ``r // CHUNK``;
* ``lengths.i32``: the token count of every row (little-endian int32);
* ``gaps.npy``: for each row preceded by skipped lines, ``(row, position,
  empty, too_long, undecodable)`` (position: the line / dataset row it was
  read at; the counts: lines skipped before it), so that the reader's
  :class:`ReadStats` after any number of sentences is known without reading;
* ``meta.json``: the key, the row count, the statistics of the whole corpus
  and the error that ended a corrupt or truncated file (raised only when a run
  reads that far, as the plain reader would).

Rows are read with ``pread`` (:class:`pyarrow.OSFile`), not memory-mapped: the
pages of a memory map count in the process's resident memory once touched, so
an epoch over a mapped corpus would look like it holds the whole corpus.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from strae_graph.data.corpus import (
    MAX_UNDECODABLE_SHARE,
    DataError,
    ReadStats,
    check_input_file,
    read_sentences,
)
from strae_graph.data.parsed import is_parsed_corpus, iter_parsed_trees, load_parsed, read_meta
from strae_graph.util.fileio import cache_dir, file_sha256, json_sha256

FORMAT = 1
#: rows per record batch: the unit of a read (and the default block of the order)
CHUNK = 128
_TEXT = pa.schema([("line", pa.int64()), ("tokens", pa.list_(pa.string()))])
_PARSED = _TEXT.append(pa.field("children", pa.list_(pa.list_(pa.int32()))))


class CorpusCache:
    """One converted corpus (see the module docstring): lengths and rows by index."""

    def __init__(self, path: Path):
        self.path = path
        self.meta: dict[str, Any] = json.loads((path / "meta.json").read_text())
        self.rows: int = self.meta["rows"]
        self.parsed: bool = self.meta["key"]["source"]["kind"] == "parsed"
        gaps = np.load(path / "gaps.npy", allow_pickle=False)
        self._gaps = gaps.reshape(-1, 5).astype(np.int64)
        self._reader: pa.ipc.RecordBatchFileReader | None = None
        self._lock = threading.Lock()

    # -- reading -----------------------------------------------------------------
    def lengths(self, rows: np.ndarray) -> np.ndarray:
        """Token counts of ``rows``, read run by run of consecutive rows."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty(len(rows), dtype=np.int32)
        if not len(rows):
            return out
        cuts = np.flatnonzero(np.diff(rows) != 1) + 1
        with open(self.path / "lengths.i32", "rb") as f:
            for a, z in zip(np.r_[0, cuts], np.r_[cuts, len(rows)]):
                f.seek(4 * int(rows[a]))
                out[a:z] = np.frombuffer(f.read(4 * int(z - a)), dtype="<i4")
        return out

    def _batch(self, c: int) -> pa.RecordBatch:
        with self._lock:
            if self._reader is None:
                self._reader = pa.ipc.open_file(pa.OSFile(str(self.path / "rows.arrow"), "r"))
            return self._reader.get_batch(c)

    def take(self, rows: np.ndarray) -> pa.Table:
        """The rows ``rows`` (any order, repeats allowed), reading each record
        batch they lie in once."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.rows):
            raise IndexError(f"rows outside 0..{self.rows - 1}")
        chunks, where = np.unique(rows // CHUNK, return_inverse=True)
        batches = [self._batch(int(c)) for c in chunks]
        starts = np.r_[0, np.cumsum([len(b) for b in batches])[:-1]].astype(np.int64)
        table = pa.Table.from_batches(batches, schema=_PARSED if self.parsed else _TEXT)
        return table.take(pa.array(starts[where] + rows % CHUNK))

    def tables(self, lo: int, hi: int, rows_per_table: int = 64 * CHUNK) -> Iterator[pa.Table]:
        """Rows ``lo..hi-1`` in order, a table of about ``rows_per_table`` at a time."""
        step = max(1, rows_per_table // CHUNK)
        first, last = lo // CHUNK, (hi - 1) // CHUNK
        for c0 in range(first, last + 1, step):
            cs = range(c0, min(last + 1, c0 + step))
            t = pa.Table.from_batches([self._batch(c) for c in cs])
            a = max(lo - c0 * CHUNK, 0)
            yield t.slice(a, min(hi - c0 * CHUNK, len(t)) - a)

    def close(self) -> None:
        with self._lock:
            self._reader = None

    # -- what a plain reader would have reported -----------------------------------
    def stats_at(self, n_read: int, whole: bool) -> ReadStats:
        """The :class:`ReadStats` of the plain reader after ``n_read`` sentences:
        of the whole corpus when ``whole`` (it ran out), else as it stopped
        right after the ``n_read``-th sentence."""
        if whole:
            return ReadStats(**self.meta["stats"])
        r = n_read - 1
        g = int(np.searchsorted(self._gaps[:, 0], r, side="right")) - 1
        if g < 0:
            return ReadStats(lines=n_read, kept=n_read)
        row, pos, empty, too_long, undecodable = (int(v) for v in self._gaps[g])
        return ReadStats(lines=pos + r - row, kept=n_read, empty=empty, too_long=too_long,
                         undecodable=undecodable)  # fmt: skip

    def check_read(
        self, source: str, limit: int | None, max_length: int | None, on_error: str | None,
        stats: ReadStats, whole: bool,
    ) -> None:  # fmt: skip
        """Raise the :class:`DataError` the plain reader would have raised reading
        this far with ``on_error`` (replayed with that reader for its exact
        message: this happens only for bad input)."""
        if self.parsed:
            bad = on_error == "raise" and stats.too_long > 0
        else:
            skipped = stats.empty + stats.too_long + stats.undecodable
            bad = (on_error == "raise" and skipped > 0) or (
                on_error is None and stats.undecodable > MAX_UNDECODABLE_SHARE * stats.lines
            )
        if not bad and not (whole and self.meta.get("error")):
            return
        if self.parsed:
            for _ in iter_parsed_trees(source, limit, max_length, on_error=on_error or "skip"):
                pass
        else:
            for _ in read_sentences(source, limit, max_length, on_error=on_error):
                pass
        raise DataError(self.meta.get("error") or f"{source}: bad input (on_error={on_error})")


# --- converting ----------------------------------------------------------------------
def corpus_cache(
    source: str | os.PathLike[str], max_length: int | None, root: Path | None = None
) -> CorpusCache:
    """The cache entry of ``source`` (a text corpus or a ``strae parse``
    dataset) under ``max_length``, converted now when missing."""
    parsed = is_parsed_corpus(source)
    if parsed:
        src = {"kind": "parsed", "fingerprint": read_meta(source).get("fingerprint")}
    else:
        src = {"kind": "text", "sha256": file_sha256(check_input_file(source))}
    key = {"format": FORMAT, "chunk": CHUNK, "max_length": max_length, "source": src}
    root = root if root is not None else cache_dir() / "stream"
    final = root / f"{src['kind']}-{json_sha256(key)[:32]}"
    if _complete(final, key):
        return CorpusCache(final)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}."))
    try:
        convert = _convert_parsed if parsed else _convert_text
        meta = convert(str(source), max_length, tmp)
        (tmp / "meta.json").write_text(json.dumps({"key": key, **meta}, indent=1))
        if final.exists() and not _complete(final, key):
            shutil.rmtree(final, ignore_errors=True)  # a damaged entry
        # Not fileio.atomic_path (whose fixed PATH.tmp two processes would share):
        # the directory is built under a unique name (mkdtemp) and renamed into
        # place; a concurrent converter of the same key may win, the rename then
        # fails and its complete entry is used.  Concurrency-safe by design.
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished the same entry first
            if not _complete(final, key):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return CorpusCache(final)


def _complete(path: Path, key: dict[str, Any]) -> bool:
    try:
        return json.loads((path / "meta.json").read_text())["key"] == key
    except (OSError, ValueError, KeyError, TypeError):
        return False


class _Writer:
    """Rows appended in any amounts, written in record batches of ``CHUNK``."""

    def __init__(self, out: Path, schema: pa.Schema):
        self._sink = pa.OSFile(str(out / "rows.arrow"), "wb")
        self._file = pa.ipc.new_file(self._sink, schema)
        self._lengths = open(out / "lengths.i32", "wb")  # noqa: SIM115
        self._schema, self._pending, self._n_pending = schema, [], 0
        self.rows = 0

    def add(self, table: pa.Table) -> None:
        self._pending.append(table.cast(self._schema))
        self._n_pending += len(table)
        self.rows += len(table)
        lengths = pc.list_value_length(table["tokens"]).to_numpy(zero_copy_only=False)
        lengths.astype("<i4").tofile(self._lengths)
        if self._n_pending >= CHUNK:
            self._flush(final=False)

    def _flush(self, final: bool) -> None:
        t = pa.concat_tables(self._pending).combine_chunks()
        n_full = (len(t) // CHUNK) * CHUNK
        for a in range(0, n_full, CHUNK):
            self._file.write_batch(t.slice(a, CHUNK).to_batches()[0])
        rest = t.slice(n_full)
        if final and len(rest):
            self._file.write_batch(rest.combine_chunks().to_batches()[0])
            rest = rest.slice(len(rest))
        self._pending, self._n_pending = [rest], len(rest)

    def close(self) -> None:
        if self._pending:
            self._flush(final=True)
        self._file.close()
        self._sink.close()
        self._lengths.close()


def _convert_text(source: str, max_length: int | None, out: Path) -> dict[str, Any]:
    stats, gaps, error = ReadStats(), [], None
    writer = _Writer(out, _TEXT)
    lines: list[int] = []
    tokens: list[list[str]] = []
    seen = (0, 0, 0)

    def flush() -> None:
        writer.add(pa.table({"line": lines, "tokens": tokens}, schema=_TEXT))
        lines.clear()
        tokens.clear()

    try:
        for lineno, toks in read_sentences(source, None, max_length, on_error="skip", stats=stats):
            skipped = (stats.empty, stats.too_long, stats.undecodable)
            if skipped != seen:
                gaps.append((writer.rows + len(lines), lineno, *skipped))
                seen = skipped
            lines.append(lineno)
            tokens.append(toks)
            if len(lines) == CHUNK:
                flush()
    except DataError as e:  # corrupt or truncated: the rows before it stay usable
        error = str(e)
    if lines:
        flush()
    writer.close()
    np.save(out / "gaps.npy", np.asarray(gaps, dtype=np.int64).reshape(-1, 5))
    return {"rows": writer.rows, "stats": asdict(stats), "error": error}


def _convert_parsed(source: str, max_length: int | None, out: Path) -> dict[str, Any]:
    ds = load_parsed(source).with_format("arrow")
    writer = _Writer(out, _PARSED)
    gaps: list[np.ndarray] = []
    seen = last = pos = 0  # too-long rows so far, and before the last kept row; rows read
    for t in ds.iter(batch_size=64 * CHUNK):
        t = t.select(["line", "tokens", "children"])
        n = pc.list_value_length(t["tokens"]).to_numpy(zero_copy_only=False)
        keep = np.ones(len(t), bool) if max_length is None else n <= max_length
        kept = np.flatnonzero(keep)
        if len(kept):
            before = seen + np.cumsum(~keep)[kept]  # too-long rows before each kept row
            changed = before != np.r_[last, before[:-1]]
            k = kept[changed]
            rows = writer.rows + np.flatnonzero(changed)
            zeros = np.zeros(len(k), np.int64)
            gaps.append(np.stack([rows, pos + k + 1, zeros, before[changed], zeros], axis=1))
            last = int(before[-1])
        seen, pos = seen + int((~keep).sum()), pos + len(t)
        writer.add(t.filter(pa.array(keep)))
    writer.close()
    np.save(out / "gaps.npy", np.concatenate([np.zeros((0, 5), np.int64), *gaps]))
    stats = {"lines": pos, "kept": writer.rows, "empty": 0, "too_long": seen, "undecodable": 0}
    return {"rows": writer.rows, "stats": stats, "error": None}
