"""Progress that suits where it goes.

:func:`progress` is every command's progress bar: a ``tqdm`` bar when stderr is
a terminal, and otherwise (a log file, CI, ``nohup``, a cluster job) a plain
status line at most every :data:`STATUS_EVERY` seconds (:class:`StatusLines`:
position, the bar's postfix such as step, loss and tokens/s, rate and ETA), so
``./run.sh > log 2>&1`` writes a few lines a minute instead of one
carriage-return update per step.  ``disable=True`` (``--no-progress``) shows
neither.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any

from tqdm import tqdm

#: seconds between two status lines when stderr is not a terminal
STATUS_EVERY = 30.0


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    initial: int = 0,
    desc: str = "",
    unit: str = "it",
    disable: bool = False,
    stream: IO[str] | None = None,
    every: float | None = None,
    clock: Callable[[], float] | None = None,
    **bar_options: Any,
) -> tqdm | StatusLines:
    """A ``tqdm`` bar on a terminal (``bar_options`` go to it), else
    :class:`StatusLines` every ``every`` seconds (default :data:`STATUS_EVERY`)
    of ``clock`` (default ``time.monotonic``); both write to ``stream`` (default
    stderr) and take ``update``, ``set_postfix``, ``set_postfix_str``, ``close``,
    iteration and ``with``."""
    stream = sys.stderr if stream is None else stream
    every = STATUS_EVERY if every is None else every
    clock = time.monotonic if clock is None else clock
    if disable or _is_terminal(stream):
        return tqdm(iterable, total=total, initial=initial, desc=desc, unit=unit,
                    disable=disable, file=stream, **bar_options)  # fmt: skip
    return StatusLines(iterable, total=total, initial=initial, desc=desc, unit=unit,
                       stream=stream, every=every, clock=clock)  # fmt: skip


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h14m``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class StatusLines:
    """A progress bar as plain lines: one at most every ``every`` seconds of
    ``clock``, none for work that ends sooner."""

    def __init__(
        self,
        iterable: Iterable | None = None,
        *,
        total: int | None = None,
        initial: int = 0,
        desc: str = "",
        unit: str = "it",
        stream: IO[str],
        every: float = STATUS_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n = self.start = initial
        self.stream, self.every, self.clock = stream, every, clock
        self.t0 = self.last = clock()
        self.postfix = ""

    def __iter__(self) -> Iterator:
        for item in self.iterable or ():
            yield item
            self.update(1)

    def __enter__(self) -> StatusLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more; write a line when ``every`` seconds have passed since the last."""
        self.n += n
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()

    def set_postfix(self, ordered_dict: Mapping[str, Any] | None = None, refresh: bool = True,
                    **kwargs: Any) -> None:  # fmt: skip
        """What the next line adds after the position (``name value, ...``)."""
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k} {v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def close(self) -> None:
        """Nothing to clear: lines are never rewritten."""

    def line(self, now: float) -> str:
        """``DESC: N/TOTAL UNIT (P%), POSTFIX, R UNIT/s, ETA T``."""
        done, elapsed = self.n - self.start, now - self.t0
        rate = done / elapsed if elapsed > 0 else 0.0
        where = f"{self.n:,} {self.unit}"
        if self.total:
            where = f"{self.n:,}/{self.total:,} {self.unit} ({100 * self.n / self.total:.0f}%)"
        parts = [where, *([self.postfix] if self.postfix else []), f"{rate:,.3g} {self.unit}/s"]
        if self.total and rate > 0:
            parts.append(f"ETA {duration(max(0, self.total - self.n) / rate)}")
        return (f"{self.desc}: " if self.desc else "") + ", ".join(parts)
