"""Reading sentences: plain or gzipped text, one sentence per line, and the tokeniser.

One tokeniser decides the leaves of every structure: lower-cased words, with
punctuation split off (``"Don't stop."`` -> ``["don't", "stop", "."]``).
"""

from __future__ import annotations

import gzip
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_WORD_RE = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]")

#: the shared data folder: $STRAE_DATA, else ../shared/data beside a checkout
DATA_DIR = Path(
    os.environ.get("STRAE_DATA", Path(__file__).resolve().parent.parent.parent / "shared" / "data")
)
#: the corpus shipped with the project
DEFAULT_CORPUS = DATA_DIR / "corpus" / "wiki_en_10M_sentences.txt.gz"


class DataError(ValueError):
    """Bad input data; the message names the file and line."""


def tokenize(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens of ``text``."""
    return _WORD_RE.findall(text.lower())


def open_text(path: str | os.PathLike[str]) -> IO[str]:
    """Open a UTF-8 text file, gzipped or not, with a clear error if it is missing."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if p.is_dir():
        raise DataError(f"{p}: is a directory, expected a text file")
    raw: IO[bytes]
    try:
        raw = gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")  # noqa: SIM115
    except OSError as e:
        raise DataError(f"{p}: cannot open ({e.strerror or e})") from None
    return io.TextIOWrapper(raw, encoding="utf-8", errors="strict")


@dataclass
class ReadStats:
    """What reading a corpus skipped, reported in the training summary."""

    lines: int = 0
    kept: int = 0
    empty: int = 0
    too_long: int = 0
    undecodable: int = 0


def read_sentences(
    path: str | os.PathLike[str],
    max_sentences: int | None = None,
    max_length: int | None = None,
    on_error: str = "skip",
    stats: ReadStats | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, tokens)`` for each usable line of ``path``.

    Empty or whitespace-only lines are always skipped (and counted).  Lines
    longer than ``max_length`` tokens and undecodable lines are skipped and
    counted when ``on_error == "skip"``, else raise :class:`DataError` naming
    the file and line.
    """
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
    stats = stats if stats is not None else ReadStats()
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        f = opener(p, "rb")
    except OSError as e:
        raise DataError(f"{p}: cannot open ({e})") from None
    with f:
        lineno = 0
        while True:
            try:
                raw = f.readline()
            except (OSError, EOFError) as e:
                raise DataError(f"{p}, after line {lineno}: file is corrupt ({e})") from None
            if not raw:
                break
            lineno += 1
            stats.lines += 1
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                stats.undecodable += 1
                if on_error == "raise":
                    raise DataError(f"{p}, line {lineno}: not valid UTF-8 ({e.reason})") from None
                continue
            tokens = tokenize(line)
            if not tokens:
                stats.empty += 1
                continue
            if max_length is not None and len(tokens) > max_length:
                stats.too_long += 1
                if on_error == "raise":
                    raise DataError(
                        f"{p}, line {lineno}: sentence of {len(tokens)} tokens is longer "
                        f"than the maximum {max_length} (--max-length)"
                    )
                continue
            stats.kept += 1
            yield lineno, tokens
            if max_sentences is not None and stats.kept >= max_sentences:
                break
