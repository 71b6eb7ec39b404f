"""Graceful stops: SIGINT / SIGTERM become a flag the training loop checks
between steps, and checkpoint writes are never cut short by a signal.

* the first SIGINT or SIGTERM sets :attr:`StopRequest.signal`; the loop saves a
  checkpoint and returns;
* a second SIGINT raises :class:`KeyboardInterrupt` at once, except inside
  :meth:`StopRequest.deferred` (a checkpoint being written), where it is held
  until the block ends, so the checkpoint is complete either way;
* SIGKILL cannot be caught: atomic checkpoint writes (strae_graph.checkpoint)
  make sure the last checkpoint on disk is always whole.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Context manager installing the handlers (only in the main thread)."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.count = 0
        self._old: dict[int, Any] = {}
        self._deferring = 0
        self._pending_interrupt = False

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    @property
    def requested(self) -> bool:
        return self.signal is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signal).name if self.signal is not None else ""

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.signal is None:
            self.signal = signum
            return
        if signum == signal.SIGINT:
            if self._deferring:
                self._pending_interrupt = True
            else:
                raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold a second Ctrl-C until the block (a checkpoint write) is done."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if not self._deferring and self._pending_interrupt:
            self._pending_interrupt = False
            raise KeyboardInterrupt
