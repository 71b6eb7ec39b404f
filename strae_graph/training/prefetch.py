"""Preparing batches ahead of the training step.

Building a batch (vocabulary ids, the batched DGL graph and its per-frontier
schedule) can be done by a background thread while the model trains on the
previous batch (``depth`` >= 1), or on the spot by the step's own thread
(``depth`` 0).

On a CPU the thread does not pay: the build is many small numpy and DGL calls
that hold the GIL, so the step's thread waits for the GIL while the builder
runs, and the builder takes a core from one of the torch threads, which then
all wait for it at the end of every parallel operation.  ``strae train``
therefore builds on the spot on a CPU (``--prefetch 0``; the build is a few
percent of a step's CPU time for the default recipe: README, "Performance")
and ahead on a GPU, whose step leaves the CPU idle while it waits for the device.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Prefetcher(Generic[T]):
    """``make(key)`` for each key, ``depth`` keys ahead, in a daemon thread
    (``depth`` 0: no thread; each key is built when asked for).

    ``get(key)`` returns the prepared result for ``key``; a key asked out of
    order (e.g. after a resume) is simply built on the spot.  Errors raised by
    ``make`` are raised again by ``get`` for that key.
    """

    def __init__(self, make: Callable[[int], T], keys: Iterable[int], depth: int = 2):
        self._make = make
        self._keys = list(keys)
        self._ready: dict[int, tuple[bool, object]] = {}
        self._cond = threading.Condition()
        self._depth = depth
        self._taken = 0  # index into _keys of the next key expected by get
        self._stop = False
        self._thread: threading.Thread | None = None
        if depth > 0:
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
        if self._thread is None:
            return self._make(key)
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
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
