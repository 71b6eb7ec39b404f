"""Preparing batches ahead of the training step.

Building a batch (vocabulary ids, the batched DGL graph and its per-frontier
schedule) is done by a background thread while the model trains on the
previous batch, so it leaves the step's critical path.  Most of the work is in
numpy, torch and DGL's C++ core, which release the GIL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Prefetcher(Generic[T]):
    """``make(key)`` for each key, ``depth`` keys ahead, in a daemon thread.

    ``get(key)`` returns the prepared result for ``key``; a key asked out of
    order (e.g. after a resume) is simply built on the spot.  Errors raised by
    ``make`` are raised again by ``get`` for that key.
    """

    def __init__(self, make: Callable[[int], T], keys: Iterable[int], depth: int = 2):
        self._make = make
        self._keys = list(keys)
        self._ready: dict[int, tuple[bool, object]] = {}
        self._cond = threading.Condition()
        self._depth = max(1, depth)
        self._taken = 0  # index into _keys of the next key expected by get
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="strae-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for i, key in enumerate(self._keys):
            with self._cond:
                while not self._stop and i >= self._taken + self._depth:
                    self._cond.wait()
                if self._stop:
                    return
            try:
                item: tuple[bool, object] = (True, self._make(key))
            except BaseException as e:  # handed to the consumer
                item = (False, e)
            with self._cond:
                self._ready[key] = item
                self._cond.notify_all()

    def get(self, key: int) -> T:
        with self._cond:
            if key in self._keys[self._taken :]:
                self._taken = self._keys.index(key, self._taken) + 1
                self._cond.notify_all()
                while key not in self._ready and self._thread.is_alive():
                    self._cond.wait()
            item = self._ready.pop(key, None)
            for old in [k for k in self._ready if k not in self._keys[self._taken :]]:
                del self._ready[old]
        if item is None:
            return self._make(key)
        ok, value = item
        if not ok:
            raise value  # type: ignore[misc]
        return value  # type: ignore[return-value]

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
