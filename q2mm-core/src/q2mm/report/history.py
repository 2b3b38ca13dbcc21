"""``history.jsonl``: one line per optimizer iteration — iteration, score, and the
score by residual where it came free — for the report's convergence curve.

Appended line by line (one ``write`` of a short line in append mode, flushed), so a
killed run leaves every finished line; a torn last line is skipped when read. A
resumed run first drops the lines past the checkpoint it continues from, so the
history stays one iteration per line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..io.atomic import write_text_atomic

HISTORY = "history.jsonl"


class History:
    """The append-only iteration record of one run folder."""

    def __init__(self, folder: Path, resume_from: int | None = None):
        self.path = folder / HISTORY
        kept = (
            [e for e in read_history(folder) if e["iteration"] <= resume_from]
            if resume_from is not None
            else []
        )
        write_text_atomic(self.path, "".join(json.dumps(e) + "\n" for e in kept))

    def append(self, iteration: int, score: float, by_residual: dict[str, float] | None) -> None:
        entry: dict[str, Any] = {"iteration": iteration, "score": score}
        if by_residual is not None:
            entry["by_residual"] = by_residual
        with self.path.open("a") as f:
            f.write(json.dumps(entry) + "\n")


def read_history(folder: Path) -> list[dict[str, Any]]:
    """The iterations recorded in ``folder`` (none if it has no history)."""
    path = Path(folder) / HISTORY
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the torn last line of a killed run
        if isinstance(entry, dict) and "iteration" in entry and "score" in entry:
            entries.append(entry)
    return entries
