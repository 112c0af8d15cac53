"""Progress of long evaluations: a bar on a terminal, log lines everywhere else.

An evaluation on two cores runs for hours. With its output going to a file, a progress bar is
invisible (or a wall of carriage returns), so off a terminal the same progress is logged as a
line at most every `every_s` seconds — and at every tenth of the work — with the rate and the
time left, so `tail -f` on the log tells how far it is.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

log = logging.getLogger(__name__)


class _Lines:
    """`update`/`describe` as log lines."""

    def __init__(self, total: int, unit: str, every_s: float) -> None:
        self.total, self.unit, self.every_s = total, unit, every_s
        self.done = 0
        self.what = ""
        self._start = self._last = time.monotonic()
        self._step = max(1, total // 10)

    def describe(self, what: str) -> None:
        self.what = what

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if (
            now - self._last >= self.every_s
            or self.done % self._step == 0
            or self.done == self.total
        ):
            self._last = now
            log.info("%s", self.line(now - self._start))

    def line(self, elapsed: float) -> str:
        """
        >>> p = _Lines(200, "answers", 60); p.done = 50; p.describe("guarded")
        >>> p.line(600.0)
        'guarded: 50/200 answers (25 %), 12.0 s each, about 30 min left'
        """
        each = elapsed / self.done if self.done else 0.0
        left = each * (self.total - self.done)
        head = f"{self.what}: " if self.what else ""
        return (
            f"{head}{self.done}/{self.total} {self.unit} "
            f"({100 * self.done / max(self.total, 1):.0f} %), {each:.1f} s each, "
            f"about {left / 60:.0f} min left"
        )


class _Bar:
    def __init__(self, bar: tqdm) -> None:
        self._bar = bar

    def describe(self, what: str) -> None:
        self._bar.set_description(what)

    def update(self, n: int = 1) -> None:
        self._bar.update(n)


@contextmanager
def progress(
    total: int, unit: str, *, show: bool | None = None, every_s: float = 60.0
) -> Iterator[_Lines | _Bar]:
    """A progress reporter: a tqdm bar when `show` (default: stderr is a terminal), else
    log lines on the `eval.progress` logger."""
    if show is None:
        show = sys.stderr.isatty()
    if show:
        with tqdm(total=total, unit=unit.rstrip("s")) as bar:
            yield _Bar(bar)
    else:
        yield _Lines(total, unit, every_s)
