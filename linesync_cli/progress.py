"""Progress of long work, on stderr: a Rich bar on a terminal, plain lines elsewhere.

One helper for every command, so `links sync` and `backfill` (and what comes next)
look and pace alike: on a terminal a transient bar (a spinner while the total is
unknown) with the elapsed time; piped or in cron, the same text as a plain line at
most every `plain_every` seconds, so a log is neither silent nor flooded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console

PLAIN_EVERY_SECONDS = 10.0


class ProgressLine:
    """Use as a context manager; call `update(text, completed=, total=)` as work moves."""

    def __init__(self, console: Console, label: str, *, plain_every: float = PLAIN_EVERY_SECONDS,
                 with_bar: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.label = label
        self.plain_every = plain_every
        self.with_bar = with_bar  # a bar needs a total; without one a spinner turns
        self._clock = clock
        self._bar: Any = None
        self._task: Any = None
        self._last_plain = clock()

    def __enter__(self) -> ProgressLine:
        if self.console.is_terminal:
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            columns: list[Any] = (
                [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}")]
                if self.with_bar else [SpinnerColumn(), TextColumn("{task.fields[info]}")]
            )
            self._bar = Progress(*columns, TimeElapsedColumn(), console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=None, info=self.label)
        return self

    def update(self, text: str, *, completed: float | None = None, total: float | None = None) -> None:
        """Show `text` (markup: escape untrusted parts); `completed`/`total` move the bar."""
        if self._bar is not None:
            self._bar.update(self._task, completed=completed, total=total, info=text)
            return
        now = self._clock()
        if now - self._last_plain >= self.plain_every:
            self._last_plain = now
            # Never wrapped: paths and counts in it must stay copyable.
            self.console.print(f"{self.label}: {text}", highlight=False, soft_wrap=True)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
