"""Reading sentences: plain or gzipped text, one sentence per line, and the tokeniser.

One tokeniser decides the leaves of every structure: lower-cased words, with
punctuation split off (``"Don't stop."`` -> ``["don't", "stop", "."]``).
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

_T = TypeVar("_T")

#: words, and single symbols other than ASCII control characters (never a token)
_WORD_RE = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s\x00-\x1f\x7f]")
#: a NUL byte: a line holding one is not text (a binary file, most likely); other
#: control characters occur in real text files (U+0012 in STS-B): never tokens, no error

#: the shared data folder: $STRAE_DATA, else ../shared/data beside a checkout
DATA_DIR = Path(
    os.environ.get(
        "STRAE_DATA", Path(__file__).resolve().parent.parent.parent.parent / "shared" / "data"
    )
)
#: the corpus shipped with the project
DEFAULT_CORPUS = DATA_DIR / "corpus" / "wiki_en_10M_sentences.txt.gz"


#: what to do with a bad corpus line (None, the default of ``strae train``:
#: skip, but stop when most lines are not UTF-8 text, see :func:`read_sentences`)
ON_ERROR: tuple[str, ...] = ("skip", "raise")
#: more than this share of undecodable lines stops a default (``on_error=None``) read
MAX_UNDECODABLE_SHARE = 0.5


class DataError(ValueError):
    """Bad input data; the message names the file and line."""


def tokenize(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens of ``text``."""
    return _WORD_RE.findall(text.lower())


def check_input_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path when it is an existing, regular file; else a
    :class:`DataError` saying what it is instead (missing, a directory, ...)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if p.is_dir():
        raise DataError(f"{p}: is a directory, expected a text file")
    if not p.is_file():
        raise DataError(f"{p}: not a regular file")
    return p


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """An output file a command is about to write: its directory must exist
    (it is never created for a file; run and dataset directories are) and it
    must not be a directory itself.  Called before any work is done."""
    p = Path(path)
    if p.is_dir():
        raise DataError(f"{p}: is a directory, expected a file name")
    parent = p.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise DataError(f"{p}: directory {parent} {what} (create it first)")
    return p


def _open_binary(path: str | os.PathLike[str]) -> IO[bytes]:
    """A user file opened for reading bytes, gunzipped when its content is gzip."""
    p = check_input_file(path)
    try:
        return gzip.open(p, "rb") if _is_gzip(p) else open(p, "rb")  # noqa: SIM115
    except OSError as e:
        raise DataError(f"{p}: cannot open ({e.strerror or e})") from None


def iter_raw_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """``(line_number, raw bytes)`` of every line of a user file, plain or
    gzipped (recognised by its content): the one reader of every user text
    file.  A missing, unreadable, directory, corrupt or truncated file is a
    :class:`DataError` naming it (and the last good line)."""
    p = Path(path)
    with _open_binary(p) as f:
        lineno = 0
        while True:
            try:
                raw = f.readline()
            except (OSError, EOFError, zlib.error) as e:
                raise DataError(
                    f"{p}, after line {lineno}: file is corrupt or truncated ({e})"
                ) from None
            if not raw:
                return
            lineno += 1
            if lineno == 1 and not raw.endswith(b"\n") and b"\r" in raw.rstrip(b"\r"):
                raise DataError(
                    f"{p}: the file uses CR-only line endings (old Mac style), so it reads as "
                    f"one line; convert them first, e.g. tr '\\r' '\\n' < {p.name} > fixed.txt"
                )
            yield lineno, raw


def nul_byte(line: str) -> str | None:
    """``"a NUL byte at character 5"`` when ``line`` holds one (not text); else None."""
    at = line.find("\x00")
    return None if at < 0 else f"a NUL byte at character {at + 1}"


def iter_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` of every line of a UTF-8 file (gzipped or not),
    decoded line by line so that a bad byte is reported at its own line:
    :class:`DataError` for a missing, unreadable, corrupt or undecodable file."""
    for lineno, raw in iter_raw_lines(path):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(
                f"{path}, line {lineno}: not valid UTF-8 (byte {e.start}: {e.reason})"
            ) from None
        bad = nul_byte(line)
        if bad:
            raise DataError(f"{path}, line {lineno}: not text: it holds {bad}")
        yield lineno, line


def read_lines(path: str | os.PathLike[str]) -> list[str]:
    """Every line of a UTF-8 user file (gzipped or not) without its line end,
    with the checks of :func:`iter_lines`."""
    return [line.rstrip("\r\n") for _, line in iter_lines(path)]


def count_lines(path: str | os.PathLike[str]) -> int:
    """Lines of a user file (reading it whole: a corrupt gzip is found here)."""
    return sum(1 for _ in iter_raw_lines(path))


@dataclass
class ReadStats:
    """What reading a corpus skipped, reported in the training summary."""

    lines: int = 0
    kept: int = 0
    empty: int = 0
    too_long: int = 0
    undecodable: int = 0


def fits(
    path: object,
    line: int,
    n_tokens: int,
    max_length: int | None,
    on_error: str | None,
    stats: ReadStats,
) -> bool:
    """Whether a sentence of ``n_tokens`` (on ``line`` of ``path``) is within
    ``max_length`` (--max-length; None: no limit).  One that is not is counted
    in ``stats.too_long``, and with ``on_error == "raise"`` is a
    :class:`DataError` naming the file and line.  The one length check of every
    corpus reader (text here, ``strae parse`` datasets in
    :mod:`strae_graph.data.parsed`)."""
    if max_length is None or n_tokens <= max_length:
        return True
    stats.too_long += 1
    if on_error == "raise":
        raise DataError(
            f"{path}, line {line}: sentence of {n_tokens} tokens is longer "
            f"than the maximum {max_length} (--max-length); "
            "use --on-error skip to skip such lines"
        )
    return False


def _is_gzip(p: Path) -> bool:
    with open(p, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def read_sentences(
    path: str | os.PathLike[str],
    max_sentences: int | None = None,
    max_length: int | None = None,
    on_error: str | None = "skip",
    stats: ReadStats | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, tokens)`` for each usable line of ``path`` (plain
    or gzipped text; gzip is recognised by its magic bytes).

    Bad lines (empty or whitespace-only, not valid UTF-8 or holding a NUL byte,
    longer than ``max_length`` tokens) are skipped and counted in ``stats`` when
    ``on_error == "skip"``, else raise :class:`DataError` naming the file, the
    line and the problem.  ``on_error=None`` skips like ``"skip"`` but stops
    with a :class:`DataError` when over half of the lines read are not valid
    UTF-8 (a binary file, most likely).  A missing, unreadable or corrupt file
    is always a :class:`DataError`.
    """
    if on_error is not None and on_error not in ON_ERROR:
        raise ValueError(f"on_error must be 'skip', 'raise' or None, got {on_error!r}")
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    if max_sentences is not None and max_sentences < 1:
        raise ValueError(f"max_sentences must be at least 1 (None: all), got {max_sentences}")
    stats = stats if stats is not None else ReadStats()
    p = Path(path)
    lines = undecodable = 0
    for lineno, raw in iter_raw_lines(p):
        stats.lines += 1
        lines += 1
        try:
            line = raw.decode("utf-8")
            bad = nul_byte(line)
            why = f"not text: it holds {bad}" if bad else ""
        except UnicodeDecodeError as e:
            why = f"not valid UTF-8 (byte {e.start}: {e.reason})"
        if why:  # counted as undecodable: not UTF-8 text, or holding a NUL byte
            stats.undecodable += 1
            undecodable += 1
            if on_error == "raise":
                raise DataError(
                    f"{p}, line {lineno}: {why}; use --on-error skip to skip such lines"
                )
            continue
        tokens = tokenize(line)
        if not tokens:
            stats.empty += 1
            if on_error == "raise":
                what = "empty line" if not line.strip("\r\n") else "whitespace-only line"
                raise DataError(
                    f"{p}, line {lineno}: {what}; use --on-error skip to skip such lines"
                )
            continue
        if not fits(p, lineno, len(tokens), max_length, on_error, stats):
            continue
        stats.kept += 1
        yield lineno, tokens
        if max_sentences is not None and stats.kept >= max_sentences:
            break
    if on_error is None and undecodable > MAX_UNDECODABLE_SHARE * lines:
        raise DataError(
            f"{p}: {undecodable} of {lines} lines are not valid UTF-8 text (a binary file?); "
            "use --on-error skip to train on the rest anyway"
        )


# --- the held-out dev tail -----------------------------------------------------
def read_limit(max_sentences: int | None, dev_sentences: int) -> int | None:
    """How many usable sentences a run reads: ``max_sentences`` to train on and
    the ``dev_sentences`` after them (None: the whole corpus)."""
    return None if max_sentences is None else max_sentences + dev_sentences


def split_dev(
    sentences: Sequence[_T], dev_sentences: int, limit: int | None
) -> tuple[list[_T], list[_T]]:
    """(train, dev) of the sentences a run read (at most ``limit``): the last
    ``dev_sentences`` are dev, or, when the corpus ran out before ``limit``, at
    most a tenth of them (at least one)."""
    cut = len(sentences) - dev_count(len(sentences), dev_sentences, limit)
    return list(sentences[:cut]), list(sentences[cut:])


def dev_count(n_read: int, dev_sentences: int, limit: int | None) -> int:
    """How many of the ``n_read`` sentences read (at most ``limit``) are dev:
    the rule of :func:`split_dev`, for a reader that never holds them all."""
    if limit is not None and n_read == limit:
        return dev_sentences
    return min(dev_sentences, max(1, n_read // 10))  # a short corpus


def require_sentences(path: object, n: int, stats: ReadStats, max_length: int) -> None:
    """A :class:`DataError` when a run read fewer than 2 usable sentences,
    saying what the reader skipped."""
    if n < 2:
        st = stats
        raise DataError(
            f"{path}: {n} usable sentence(s), at least 2 needed "
            f"(read {st.lines} lines: {st.empty} empty, {st.too_long} longer than "
            f"{max_length} tokens, {st.undecodable} not UTF-8)"
        )
