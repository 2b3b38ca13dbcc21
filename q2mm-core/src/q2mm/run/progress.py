"""What a long fit shows on stderr while it runs.

On a terminal: one live line (rich) with the iteration, the score, the best score so
far, the elapsed time and the objective evaluations per second. When stderr is not a
terminal (a batch job, a pipe, CI): a plain log line every :data:`EVERY` iterations
instead, which a log file can hold. Nothing at all when disabled (``--quiet``,
``--json``).
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

#: Plain log lines: one every this many iterations (and the first).
EVERY = 10


class Progress:
    """Progress of one fit; :meth:`update` after every iteration, :meth:`close` at the end."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None, every: int = EVERY):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.every = every
        self.best = math.inf
        self.started = time.perf_counter()
        self._live = None
        if enabled and self.stream.isatty():
            self._live = _LiveLine(self.stream)

    def start(self) -> None:
        """The fit begins: elapsed time and rates count from here."""
        self.started = time.perf_counter()

    def update(self, iteration: int, score: float, evaluations: int = 0) -> None:
        self.best = min(self.best, score)
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.started
        rate = evaluations / elapsed if elapsed > 0 else 0.0
        if self._live is not None:
            self._live.show(iteration, score, self.best, rate)
        elif iteration == 1 or iteration % self.every == 0:
            self.stream.write(
                f"iter {iteration:5d}  score {score:.6g}  best {self.best:.6g}  "
                f"elapsed {elapsed:.1f} s  {rate:.1f} evaluations/s\n"
            )
            self.stream.flush()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


class _LiveLine:
    """The rich display: spinner, fields, elapsed time; left on screen when done."""

    def __init__(self, stream: TextIO):
        from rich.console import Console
        from rich.progress import Progress as RichProgress
        from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

        self.progress = RichProgress(
            SpinnerColumn(),
            TextColumn("fitting  iter {task.fields[iteration]:>5}"),
            TextColumn("score {task.fields[score]:.6g}  best {task.fields[best]:.6g}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[rate]:.1f} evaluations/s"),
            console=Console(file=stream),
        )
        self.task = self.progress.add_task(
            "fit", total=None, iteration=0, score=math.nan, best=math.nan, rate=0.0
        )
        self.progress.start()

    def show(self, iteration: int, score: float, best: float, rate: float) -> None:
        self.progress.update(self.task, iteration=iteration, score=score, best=best, rate=rate)

    def stop(self) -> None:
        self.progress.stop()
