"""``--threads``: how many torch threads a training run uses, on a machine it
may share.

With T torch (OpenMP) threads on T cores, any other runnable process takes a
core from one of them, and the others then wait for it at the end of every
parallel operation: the issue that started this module saw a 2-thread run fall
2.6-4.8x while a stream of small niced commands ran beside it, although those
took a few percent of the CPU.  One thread fewer than the cores that are busy
is then faster than all of them.

``--threads auto`` (:class:`ThreadGovernor`):

* at the start it counts the other runnable tasks for a moment
  (``procs_running`` of ``/proc/stat``, sampled :data:`SAMPLES` times over
  :data:`SAMPLE_SECONDS`, this process's own sampling thread subtracted) and
  uses the cores left free (at least 1, at most torch's default when this
  module was imported, which honours ``OMP_NUM_THREADS``, and the cores this
  process may run on);
* while training, every :data:`WINDOW_SECONDS` it reads how long this
  process's threads waited for a core (the run-queue delay of
  ``/proc/self/task/*/schedstat``): when they waited more than
  :data:`CROWDED` of the window, it drops a thread; when it runs below its
  maximum and the threads waited less than :data:`QUIET`, it tries one more
  thread again after :data:`PROBE_SECONDS` (doubling that pause each time a
  try had to be taken back).

The thread count does not change the numbers: a run's losses and parameters
are the same bit for bit with 1, 2 or 3 threads (``tests/test_threads.py``
checks 1 against 2), so ``auto`` changes only the speed, and a run stays
reproducible whatever the load.  Where ``/proc`` is missing (not Linux) the
governor keeps torch's default.  An integer ``--threads N`` fixes the count.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

AUTO = "auto"
SAMPLES = 10  # start: samples of the runnable tasks ...
SAMPLE_SECONDS = 0.5  # ... over this long
FREE_MARGIN = 0.25  # a core counts as free when others use less than this of it
WINDOW_SECONDS = 20.0  # while training: one look at the run-queue delay per window
CROWDED = 0.2  # threads waited this share of the window: one thread fewer
QUIET = 0.05  # below this share: room to try one more thread
PROBE_SECONDS = 120.0  # the first pause before trying one more thread

#: torch's own thread count before any run changed it
TORCH_DEFAULT = torch.get_num_threads()


def parse_threads(value: str | int | None) -> str | int | None:
    """``--threads``: ``auto``, a positive integer, or None (torch's default)."""
    if value is None or value == AUTO:
        return value
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or str(value).strip() != str(n):
        raise ValueError(f"threads must be 'auto' or a positive integer, got {value!r}")
    return n


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), capped by torch's
    default thread count (physical cores, or ``OMP_NUM_THREADS``)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, TORCH_DEFAULT))


def others_running(samples: int = SAMPLES, seconds: float = SAMPLE_SECONDS) -> float | None:
    """The mean number of other runnable tasks on the machine (``procs_running``
    minus this sampling thread), or None where ``/proc/stat`` cannot be read."""
    counts = []
    for i in range(samples):
        n = _procs_running()
        if n is None:
            return None
        counts.append(n - 1)
        if i + 1 < samples:
            time.sleep(seconds / samples)
    return max(0.0, sum(counts) / len(counts))


def _procs_running() -> int | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("procs_running"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def threads_for(cores: int, busy: float) -> int:
    """Threads for ``cores`` usable cores when other tasks keep ``busy`` cores busy."""
    return max(1, min(cores, math.floor(cores - busy + FREE_MARGIN)))


def run_queue_wait() -> float | None:
    """Seconds this process's threads have waited for a core so far (the
    second field of each ``/proc/self/task/*/schedstat``); None where unreadable."""
    total = 0
    try:
        for task in os.listdir("/proc/self/task"):
            try:
                total += int(Path(f"/proc/self/task/{task}/schedstat").read_text().split()[1])
            except FileNotFoundError:  # the thread ended meanwhile
                continue
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e9


class ThreadGovernor:
    """Sets torch's thread count for ``--threads`` (see the module docstring)
    and, for ``auto``, adjusts it between steps (:meth:`after_step`)."""

    def __init__(self, setting: str | int | None, log: Callable[[str], None] = print):
        self.log = log
        self.before = torch.get_num_threads()  # put back by restore()
        self.auto = setting == AUTO
        self.max = usable_cores()
        if isinstance(setting, int):
            torch.set_num_threads(setting)
        elif self.auto:
            busy = others_running()
            if busy is None or run_queue_wait() is None:
                self.auto = False
                log(f"--threads auto: no /proc here; keeping torch's {self.max} threads")
            else:
                n = threads_for(self.max, busy)
                torch.set_num_threads(n)
                log(f"--threads auto: {n} of {self.max} threads ({busy:.2f} other tasks "
                    f"running on average over {SAMPLE_SECONDS:g} s)")  # fmt: skip
        self.threads = torch.get_num_threads()
        self.probe_after = PROBE_SECONDS
        self._window_start = time.perf_counter()
        self._wait_start = run_queue_wait() if self.auto else None
        self._last_change = self._window_start
        self._probing = False

    def after_step(self) -> None:
        """Between two steps: once a window has passed, look at how long the
        threads waited for a core and change the count if that says so."""
        if not self.auto:
            return
        now = time.perf_counter()
        if now - self._window_start < WINDOW_SECONDS:
            return
        wait = run_queue_wait()
        if wait is None or self._wait_start is None:
            return
        share = (wait - self._wait_start) / (now - self._window_start) / self.threads
        self._window_start, self._wait_start = now, wait
        self._decide(share, now)

    def _decide(self, share: float, now: float) -> None:
        """``share``: the share of the window each thread spent waiting for a core."""
        if share > CROWDED and self.threads > 1:
            if self._probing:  # the try did not pay: wait longer before the next one
                self.probe_after *= 2
            self._set(self.threads - 1, now, f"threads waited {share:.0%} of the time")
        elif (share < QUIET and self.threads < self.max
              and now - self._last_change >= self.probe_after):  # fmt: skip
            self._set(self.threads + 1, now, f"threads waited {share:.0%} of the time; trying")
            self._probing = True
            return
        self._probing = False

    def _set(self, n: int, now: float, why: str) -> None:
        torch.set_num_threads(n)
        self.log(f"--threads auto: {self.threads} -> {n} threads ({why})")
        self.threads, self._last_change = n, now
        self._wait_start = run_queue_wait()

    def restore(self) -> None:
        """Give torch back the thread count it had before this run."""
        torch.set_num_threads(self.before)
