"""Checkpoints that survive kills and tell the user exactly what is wrong.

* :func:`save_checkpoint` writes atomically (temporary file, fsync, rename), so a
  kill at any moment leaves the previous file intact, and appends a SHA-256
  trailer so that a corrupted or truncated file is detected on loading (torch's
  own zip reader loads most flipped bits silently).
* :func:`load_checkpoint` turns every failure into a :class:`CheckpointError`
  naming the file; it unpickles with ``weights_only=True`` (no code runs).
* :func:`describe_state_mismatch` says how saved weights do not fit a model
  (resuming, and :func:`strae_graph.embed.load.load_run`, the one validated way
  to get a trained model back);
* :func:`run_lock` stops two processes from writing one run directory.

The state of the random generators a checkpoint holds is
:mod:`strae_graph.training.rng_state`'s (:func:`capture_rng` / :func:`restore_rng`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from strae_graph.util.fileio import LINK_HELP, atomic_write_bytes

#: marks the end of a checkpoint written by :func:`save_checkpoint`; 32 bytes of
#: SHA-256 (of everything before the marker) follow it
TRAILER_MAGIC = b"\nSTRAE-SHA256-1\n"
_TRAILER_LEN = len(TRAILER_MAGIC) + 32


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt, or from another configuration."""


def checkpoint_bytes(state: dict[str, Any]) -> bytes:
    """``torch.save`` of ``state`` followed by the SHA-256 trailer."""
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    return payload + TRAILER_MAGIC + hashlib.sha256(payload).digest()


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Atomically save a checkpoint dictionary (``torch.save`` + SHA-256 trailer).

    The file stays loadable by plain ``torch.load`` (zip readers ignore the trailer).
    """
    atomic_write_bytes(path, checkpoint_bytes(state))


def load_checkpoint(path: str | os.PathLike[str], map_location: str = "cpu") -> dict[str, Any]:
    """Load a checkpoint, turning every failure into a :class:`CheckpointError`
    that names the file: missing, unreadable, truncated, corrupted (SHA-256
    mismatch), not a torch file, or not a strae-graph checkpoint."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no checkpoint there")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, expected a .pt checkpoint file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    if not data:
        raise CheckpointError(f"{path}: empty file (truncated checkpoint?)")
    payload, verified = data, False
    if len(data) >= _TRAILER_LEN and data[-_TRAILER_LEN:-32] == TRAILER_MAGIC:
        payload = data[:-_TRAILER_LEN]
        if hashlib.sha256(payload).digest() != data[-32:]:
            raise CheckpointError(
                f"{path}: corrupted checkpoint (SHA-256 does not match its contents); "
                "use another checkpoint or retrain"
            )
        verified = True
    elif TRAILER_MAGIC in data[-(_TRAILER_LEN + 4096) :]:
        raise CheckpointError(f"{path}: corrupted checkpoint (damaged integrity trailer)")
    try:
        state = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds on bad files
        why = "corrupt" if verified else "truncated, or not a checkpoint: no integrity trailer"
        raise CheckpointError(
            f"{path}: cannot read checkpoint ({why}): {type(e).__name__}: {_sentences(str(e))}"
        ) from None
    if not isinstance(state, dict) or "model" not in state or "format" not in state:
        raise CheckpointError(f"{path}: not a strae-graph checkpoint")
    return state


def _sentences(text: str, limit: int = 200) -> str:
    """The first line of ``text``, cut after the last whole sentence within
    ``limit`` characters (at least the first sentence), never mid-sentence."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    parts = re.split(r"(?<=[.!?])\s+", line)
    out = parts[0]
    for part in parts[1:]:
        if len(out) + 1 + len(part) > limit:
            break
        out += " " + part
    return out


def has_integrity_trailer(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` ends with the SHA-256 trailer of :func:`save_checkpoint`
    (older files without one load, but corruption inside them cannot be detected)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() < _TRAILER_LEN:
            return False
        f.seek(-_TRAILER_LEN, os.SEEK_END)
        return f.read(len(TRAILER_MAGIC)) == TRAILER_MAGIC


# --- comparing weights and configurations -------------------------------------
def describe_state_mismatch(
    expected: Mapping[str, torch.Tensor], got: Mapping[str, Any]
) -> str | None:
    """None when ``got`` has exactly the keys and shapes of ``expected``, else one
    line saying which parameters are missing, unexpected or of another shape."""
    problems = []
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected {', '.join(extra)}")
    for k, v in expected.items():
        if k not in got:
            continue
        g = got[k]
        if not isinstance(g, torch.Tensor):
            problems.append(f"{k} is not a tensor")
        elif tuple(g.shape) != tuple(v.shape):
            problems.append(
                f"{k} has shape {tuple(g.shape)} in the checkpoint, {tuple(v.shape)} in the model"
            )
        elif not bool(torch.isfinite(g).all()) and g.is_floating_point():
            problems.append(f"{k} holds NaN or inf values")
    return "; ".join(problems) or None


# --- one writer per run directory ---------------------------------------------------
@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``run_dir`` (released when the process ends,
    even by SIGKILL); a second writer gets a :class:`CheckpointError`."""
    import fcntl

    lock_path = Path(run_dir) / ".lock"
    try:  # the umask applies; a link is never followed (it could truncate another file)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise CheckpointError(f"{lock_path}: {LINK_HELP}") from None
        raise
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CheckpointError(
                f"{run_dir}: another process is training into this run directory"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)
