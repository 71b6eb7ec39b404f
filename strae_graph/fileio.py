"""Writing files so that a kill never leaves half of one, and hashing them.

Every write-to-temporary-then-rename in strae-graph goes through here:

* :func:`atomic_open` (and :func:`atomic_write_bytes` / :func:`atomic_write_text`
  on top of it) for a writer that takes a file object: a fresh temporary file
  beside the target, fsynced and renamed over it on a clean exit, removed on an
  exception; the file gets the mode ``open()`` would give it (umask);
* :func:`atomic_path` for a writer that wants a name (gensim, ``datasets``'
  ``save_to_disk`` of a whole directory): ``PATH.tmp``, renamed over ``PATH``.

:func:`file_sha256` is the one content hash of a file (corpora, parser models,
checkpoints), :func:`json_sha256` the fingerprint of settings and
:func:`sentences_sha256` the key of settings plus token lists; :func:`cache_dir`
is where the content-hash caches live (parser trees, BPE models).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def json_sha256(record: Any) -> str:
    """Hex SHA-256 of ``record``'s JSON (keys sorted): a fingerprint of settings."""
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def sentences_sha256(record: Any, sentences: Iterable[Sequence[str]]) -> str:
    """Hex SHA-256 of ``record``'s JSON (keys sorted) followed by the token
    lists (each as a newline, then its tokens joined by tabs): the key of a
    cache of what was computed from these sentences with these settings
    (parser trees, BPE models)."""
    h = hashlib.sha256(json.dumps(record, sort_keys=True).encode())
    for s in sentences:
        h.update(b"\n")
        h.update("\t".join(s).encode())
    return h.hexdigest()


def cache_dir() -> Path:
    """The root of strae-graph's caches: ``$STRAE_CACHE``, else
    ``$XDG_CACHE_HOME/strae-graph``, else ``~/.cache/strae-graph``."""
    if os.environ.get("STRAE_CACHE"):
        return Path(os.environ["STRAE_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "strae-graph"


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str],
    mode: str = "w",
    *,
    encoding: str | None = "utf-8",
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing (``mode`` ``"w"`` or
    ``"wb"``); on a clean exit it is flushed, fsynced and renamed over ``path``
    (so a reader sees the old file or the whole new one), on an exception removed."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a whole file: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # as open() would: mkstemp makes it 0600
        text = {} if mode == "wb" else {"encoding": encoding, "newline": newline}
        with os.fdopen(fd, mode, **text) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, fsync and rename."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` via a temporary file, fsync and rename."""
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """``PATH.tmp`` (a leftover of an earlier attempt removed) for a writer that
    needs a name, a file or a whole directory; renamed over ``path`` on a clean
    exit (an existing directory at ``path`` is removed first: a directory cannot
    be renamed over a non-empty one), removed on an exception."""
    path = Path(path)
    tmp = Path(str(path) + ".tmp")
    _remove(tmp)
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
