"""Graceful stops: SIGINT / SIGTERM become a flag the training loop checks
between steps, and checkpoint writes are never cut short by a signal.

* the first SIGINT or SIGTERM sets :attr:`StopRequest.signal`; the loop saves a
  checkpoint and returns;
* a second SIGINT raises :class:`KeyboardInterrupt` at once, except inside
  :meth:`StopRequest.deferred` (a checkpoint being written), where it is held
  until the block ends, so the checkpoint is complete either way;
* SIGKILL cannot be caught: atomic checkpoint writes (strae_graph.training.checkpoint)
  make sure the last checkpoint on disk is always whole;
* :func:`quiet_after_stop` (the command line's handler): once a run has
  stopped on a signal, further Ctrl-Cs while the process exits are ignored,
  instead of raising in the middle of the interpreter's shutdown.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Context manager installing the handlers (only in the main thread)."""

    #: True when the latest StopRequest block ended with a stop requested
    ended_on_signal = False

    def __init__(self) -> None:
        self.signal: int | None = None
        self.count = 0
        self._old: dict[int, Any] = {}
        self._deferring = 0
        self._pending_interrupt = False
        self._closing = False

    def __enter__(self) -> StopRequest:
        StopRequest.ended_on_signal = False
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing = True  # a signal now is not raised while the handlers are restored
        StopRequest.ended_on_signal = self.requested
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
        if signum == signal.SIGINT and not self._closing:
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


@dataclass
class RunProgress:
    """Where a training run stands, kept up to date by the loop for the sentence
    that a run stopped at once by a (second) Ctrl-C leaves
    (:func:`strae_graph.training.run_dir.interrupted_note`)."""

    step: int | None = None  # the last step taken
    checkpoint_step: int | None = None  # the step of the checkpoint on disk (last.pt)
    stop: StopRequest | None = None  # the run's stop request, once the loop runs


def quiet_after_stop(signum: int, frame: Any) -> None:
    """SIGINT handler of the command line around a training run: Ctrl-C raises
    :class:`KeyboardInterrupt` as usual, except after a run has stopped on a
    signal (:attr:`StopRequest.ended_on_signal`): the process is then on its
    way out with status 130, and a late second Ctrl-C is ignored rather than
    raised in the middle of the summary or the interpreter's shutdown."""
    if StopRequest.ended_on_signal:
        return
    raise KeyboardInterrupt
