"""The run driver behind ``q2mm run``, in three stages that hand typed records on:

- :func:`~.prepare.prepare`: configuration → molecules → starting force field → MM
  systems → parameter space → objective (a :class:`~.prepare.Prepared` run). Plugins
  are resolved by name first, so a misspelt engine fails in milliseconds;
- :func:`~.fit.fit`: the optimizer on the objective, with ``checkpoint.json``
  rewritten after every iteration so that ``--resume`` continues a killed run → a
  :class:`~.result.FitResult`;
- :func:`~.report.report`: the result folder — the fitted force field and
  ``result.json`` (:meth:`~.result.FitResult.to_json`; the fields marked stable,
  :data:`~.result.RESULT_KEYS`, are what scripts may rely on).

The plugin registry is passed in (default: the process-wide one).
"""

from __future__ import annotations

from typing import Any

import attrs

from ..config import RunConfig
from ..plugins import Registry
from .fit import Progress, fit
from .prepare import Prepared, prepare
from .report import report
from .result import RESULT_KEYS, FitResult

__all__ = ["RESULT_KEYS", "FitResult", "Prepared", "Progress", "fit", "prepare", "report", "run_fit"]


def run_fit(
    cfg: RunConfig,
    overrides: dict[str, Any] | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    plugins: Registry | None = None,
) -> dict[str, Any]:
    """prepare → fit → report; returns what ``result.json`` holds."""
    prepared = prepare(attrs.evolve(cfg, **(overrides or {})), plugins)
    return report(prepared, fit(prepared, resume, progress)).to_json()
