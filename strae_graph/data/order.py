"""The order of the training sentences in an epoch: one algorithm for data held
in memory and for data streamed from disk (:mod:`strae_graph.data.stream`).

The global batches of an epoch are a pure function of ``(seed, epoch, the
sentence lengths, OrderSpec)``; they never depend on the number of processes
(each process takes its contiguous share of a global batch), and any batch can
be computed without the ones before it, so a run resumes mid-epoch from
``(epoch, batch index)`` alone.  Three steps, each drawing from its own
``numpy`` generator seeded by ``[seed, epoch, ...]``:

1. **block shuffle**: the sentences ``0..n-1`` are cut into blocks of
   ``block`` consecutive sentences, and the blocks are permuted (memory: one
   integer per block, not per sentence; a block is one read from disk);
2. **windows**: the permuted sequence is cut into windows of
   ``buffer_batches * batch_size`` sentences (the shuffle buffer: the most a
   streamed epoch holds at once); every window but the last holds exactly that
   many, so global batch ``b`` lies in window ``b // buffer_batches``;
3. **within a window**: the sentences are shuffled, then (``bucket``) stably
   sorted by length, cut into batches of ``batch_size`` (sentences of similar
   length share a batch: less padding in the frontier schedule), and the
   window's batches are shuffled.

An epoch has ``ceil(n / batch_size)`` batches, like a plain permutation: only
the last window can end with a short batch.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np

#: lengths of the given sentence indices (an array, or a reader of them)
Lengths = np.ndarray | Callable[[np.ndarray], np.ndarray]

# the generators of the three steps: default_rng([seed, epoch, TAG, ...])
_BLOCKS, _WINDOW = 0, 1


@dataclass(frozen=True)
class OrderSpec:
    """How an epoch's batches are drawn (recorded with a run: a resumed run
    must use the same spec to see the same batches)."""

    batch_size: int
    buffer_batches: int = 64  # the shuffle buffer, in global batches
    block: int = 128  # consecutive sentences moved together by the block shuffle
    bucket: bool = True  # batches of similar-length sentences within a window

    def __post_init__(self) -> None:
        for name in ("batch_size", "buffer_batches", "block"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @property
    def window(self) -> int:
        """Sentences per window (the shuffle buffer)."""
        return self.batch_size * self.buffer_batches

    def to_dict(self) -> dict[str, int | bool]:
        return asdict(self)


def batch_count(n: int, batch_size: int) -> int:
    """Global batches in an epoch of ``n`` sentences."""
    return math.ceil(n / batch_size)


class EpochOrder:
    """The global batches of one epoch (arrays of sentence indices), computed
    window by window on demand; ``batch(b)`` for any ``b`` in any order.

    ``lengths``: the length of every sentence as an array, or a function
    giving the lengths of an array of indices (a streamed corpus reads only
    the current window's).  Thread-safe (a prefetch thread may ask too)."""

    def __init__(self, n: int, lengths: Lengths, spec: OrderSpec, seed: int, epoch: int):
        if n < 0:
            raise ValueError(f"n must be at least 0, got {n}")
        self.n, self.spec, self.seed, self.epoch = n, spec, seed, epoch
        self._lengths = lengths
        k = spec.block
        n_blocks = math.ceil(n / k)
        perm = np.random.default_rng([seed, epoch, _BLOCKS]).permutation(n_blocks)
        sizes = np.full(n_blocks, k, dtype=np.int64)
        if n_blocks:
            sizes[-1] = n - k * (n_blocks - 1)
        self._first = perm.astype(np.int64) * k  # first sentence of each permuted block
        self._starts = np.concatenate([[0], np.cumsum(sizes[perm])])  # positions in the sequence
        self._cached: tuple[int, list[np.ndarray]] | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return batch_count(self.n, self.spec.batch_size)

    @property
    def n_windows(self) -> int:
        return math.ceil(self.n / self.spec.window)

    def window_of(self, b: int) -> int:
        """The window holding global batch ``b``."""
        return b // self.spec.buffer_batches

    def window_items(self, w: int) -> np.ndarray:
        """The sentence indices of window ``w`` (whole blocks, and parts of at
        most two blocks cut at the window's ends), in block-permuted order."""
        lo, hi = w * self.spec.window, min(self.n, (w + 1) * self.spec.window)
        if lo >= hi:
            raise IndexError(f"window {w} of an epoch with {self.n_windows} windows")
        first = int(np.searchsorted(self._starts, lo, side="right")) - 1
        last = int(np.searchsorted(self._starts, hi, side="left"))
        pieces = []
        for j in range(first, last):
            a, z = max(lo, self._starts[j]), min(hi, self._starts[j + 1])
            start = self._first[j] + (a - self._starts[j])
            pieces.append(np.arange(start, start + (z - a), dtype=np.int64))
        return np.concatenate(pieces)

    def window(self, w: int) -> list[np.ndarray]:
        """The global batches of window ``w``, in epoch order."""
        with self._lock:
            cached = self._cached
            if cached is not None and cached[0] == w:
                return cached[1]
            items = self.window_items(w)
            lengths = self._lengths(items) if callable(self._lengths) else self._lengths[items]
            batches = window_batches(items, np.asarray(lengths), self.spec,
                                     self.seed, self.epoch, w)  # fmt: skip
            self._cached = (w, batches)
            return batches

    def batch(self, b: int) -> np.ndarray:
        """The sentence indices of global batch ``b``."""
        if not 0 <= b < len(self):
            raise IndexError(f"batch {b} of an epoch with {len(self)} batches")
        return self.window(self.window_of(b))[b % self.spec.buffer_batches]

    def batches(self, start: int = 0) -> Iterator[np.ndarray]:
        """Global batches ``start, start + 1, ...`` to the end of the epoch."""
        for b in range(start, len(self)):
            yield self.batch(b)


def window_batches(
    items: np.ndarray, lengths: np.ndarray, spec: OrderSpec, seed: int, epoch: int, w: int
) -> list[np.ndarray]:
    """Step 3 of the module docstring: the batches (arrays of ``items``) of
    window ``w``, whose sentences ``items`` have ``lengths``."""
    if len(lengths) != len(items):
        raise ValueError(f"{len(items)} sentences but {len(lengths)} lengths")
    rng = np.random.default_rng([seed, epoch, _WINDOW, w])
    pos = rng.permutation(len(items))
    if spec.bucket:
        pos = pos[np.argsort(lengths[pos], kind="stable")]
    bs = spec.batch_size
    cut = [items[pos[i : i + bs]] for i in range(0, len(pos), bs)]
    return [cut[j] for j in rng.permutation(len(cut))]
