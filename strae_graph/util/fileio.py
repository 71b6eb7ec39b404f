"""Writing files so that a kill never leaves half of one, and hashing them.

Every write-to-temporary-then-rename in strae-graph goes through here:

* :func:`atomic_open` (and :func:`atomic_write_bytes` / :func:`atomic_write_text`
  on top of it) for a writer that takes a file object: a fresh temporary file
  beside the target, fsynced and renamed over it on a clean exit, removed on an
  exception; the file gets the mode ``open()`` would give it (umask);
* :func:`atomic_path` for a writer that wants a name (``datasets``'
  ``save_to_disk`` of a whole directory): a fresh hidden name beside ``PATH``,
  renamed over it.

Output folders are checked before anything is written (:func:`check_output_dir`:
new, empty, or the command's own output), and a command's own files are
appended to without following links (:func:`open_no_follow`).

:func:`file_sha256` is the one content hash of a file (corpora, parser models,
checkpoints), :func:`json_sha256` the fingerprint of settings and
:func:`sentences_sha256` the key of settings plus token lists; :func:`cache_dir`
is where the content-hash caches live (parser trees, BPE models).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
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
    """A fresh temporary name for a writer that needs one (a file, or a whole
    directory): ``NAME`` inside a new hidden folder ``.NAME.XXXX.tmp/`` beside
    ``path``, renamed over ``path`` on a clean exit; the folder is removed
    afterwards and on an exception.  Nothing that was there before is touched,
    except a directory at ``path`` on a clean exit: it is replaced (moved into
    the temporary folder and removed with it), so the caller checks first that
    it is its own output to replace (:func:`check_output_dir`).  A kill in the
    middle leaves the hidden folder, never a half-written ``path``."""
    path = Path(path)
    box = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    tmp, old = box / path.name, box / ".replaced"
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            os.rename(path, old)
        try:
            os.rename(tmp, path)
        except BaseException:
            if old.exists() and not path.exists():
                os.rename(old, path)  # put the old one back
            raise
    finally:
        shutil.rmtree(box, ignore_errors=True)
    _fsync_dir(path.parent)


class OutputError(ValueError):
    """An output path a command refuses to write (it would change files it did
    not create); the message names the path and what to do."""


#: what a link to a run's file says (see :func:`open_no_follow`)
LINK_HELP = "a symbolic link: strae writes its own files and never follows links (remove it)"


def open_no_follow(path: str | os.PathLike[str], mode: str = "a") -> IO[Any]:
    """Open one of a command's own files for appending (``"a"``, text) or
    reading and writing (``"r+b"``, to cut it back) without following a
    symbolic link: a link is an :class:`OutputError` naming it, so a run
    directory never writes through a link into another file."""
    flags = {"a": os.O_WRONLY | os.O_APPEND | os.O_CREAT, "r+b": os.O_RDWR}[mode]
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OutputError(f"{path}: {LINK_HELP}") from None
        raise
    return os.fdopen(fd, mode, **({"encoding": "utf-8"} if "b" not in mode else {}))


def check_output_dir(
    path: str | os.PathLike[str],
    own: Callable[[Path], bool],
    what: str,
    option: str = "--out",
) -> Path:
    """An output folder a command is about to write: it may not exist yet, be
    empty, or be one of this command's own outputs (``own(path)``); a file, or
    a folder holding anything else, is an :class:`OutputError` (nothing is
    changed).  ``what``: the command's output, e.g. "a strae run directory"."""
    p = Path(path)
    if p.is_symlink() and not p.exists():
        raise OutputError(f"{p}: a dangling symbolic link ({option})")
    if p.exists() and not p.is_dir():
        raise OutputError(f"{p}: exists and is not a directory ({option} names a folder)")
    if not p.exists():
        return p
    entries = sorted(os.listdir(p))
    if entries and not own(p):
        shown = ", ".join(n + ("/" if (p / n).is_dir() else "") for n in entries[:3])
        more = f" and {len(entries) - 3} more" if len(entries) > 3 else ""
        raise OutputError(
            f"{p}: not empty ({shown}{more}) and not {what}; {option} needs a new or empty "
            "folder (nothing was changed)"
        )
    return p


def check_not_cwd(path: str | os.PathLike[str], option: str = "--out") -> None:
    """A folder a command replaces as a whole may not be the current directory
    or hold it."""
    here, p = Path.cwd().resolve(), Path(path).resolve()
    if p == here or p in here.parents:
        raise OutputError(
            f"{path}: is the current directory or holds it; {option} needs a new folder"
        )
