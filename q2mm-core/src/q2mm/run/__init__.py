"""The run driver behind ``q2mm run``, in three stages that hand typed records on:

- :func:`~.prepare.prepare`: configuration → molecules → starting force field → MM
  systems → parameter space → objective (a :class:`~.prepare.Prepared` run). Plugins
  are resolved by name first, so a misspelt engine fails in milliseconds;
- :func:`~.fit.fit`: the optimizer on the objective, with ``checkpoint.json``
  rewritten after every iteration so that ``--resume`` continues a killed run → a
  :class:`~.result.FitResult`;
- :func:`~.report.report`: the result folder — the fitted force field,
  ``result.json`` (:meth:`~.result.FitResult.to_json`; the fields marked stable,
  :data:`~.result.RESULT_KEYS`, are what scripts may rely on) and ``report.html``.

:func:`~.evaluate.evaluate` takes the place of fit for ``q2mm evaluate``: a force
field scored as it is.

The plugin registry is passed in (default: the process-wide one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from ..config import ForceFieldSpec, RunConfig
from ..plugins import Registry
from .evaluate import evaluate
from .fit import fit
from .prepare import Prepared, prepare
from .progress import Progress
from .report import report
from .result import RESULT_KEYS, FitResult

__all__ = [
    "RESULT_KEYS",
    "FitResult",
    "Prepared",
    "Progress",
    "evaluate",
    "evaluate_forcefield",
    "fit",
    "prepare",
    "report",
    "run_fit",
]


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


def evaluate_forcefield(
    cfg: RunConfig,
    forcefield: Path | None = None,
    output: Path | None = None,
    plugins: Registry | None = None,
) -> dict[str, Any]:
    """prepare → evaluate → report for ``forcefield`` (default: the configuration's
    start); returns what ``result.json`` holds. The folder defaults to the run's
    output folder with ``-evaluate`` appended, so a fit's results stay as they are."""
    changes: dict[str, Any] = {"output": output or cfg.output.with_name(cfg.output.name + "-evaluate")}
    if forcefield is not None:
        changes["forcefield"] = ForceFieldSpec(file=forcefield.resolve(), write=())
    prepared = prepare(attrs.evolve(cfg, **changes), plugins)
    return report(prepared, evaluate(prepared), forcefields=False).to_json()
