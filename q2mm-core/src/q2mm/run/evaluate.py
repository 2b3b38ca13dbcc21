"""Score a force field against the QM data without fitting (``q2mm evaluate``): the
same metrics, verdict and report as a fit, at the prepared start — no optimizer, and
no force-field file written (the one evaluated is only read)."""

from __future__ import annotations

import time

from ..report.history import History
from .fit import assemble
from .prepare import Prepared
from .result import FitResult

EVALUATED = "evaluated"


def evaluate(prepared: Prepared) -> FitResult:
    """The result of the prepared start force field as it is: status ``evaluated``,
    zero iterations."""
    started = time.perf_counter()
    prepared.config.output.mkdir(parents=True, exist_ok=True)
    History(prepared.config.output)  # no iterations: clear any left by an earlier run
    x = prepared.space.x0
    try:
        score = prepared.objective.value(x)
    finally:
        prepared.executor.shutdown()
    return assemble(
        prepared,
        status=EVALUATED,
        message="evaluated as given, not fitted",
        x=x,
        score_initial=score,
        score_final=score,
        iterations=0,
        evaluations=prepared.counters.evaluations,
        compile_s=prepared.counters.compile_seconds,
        started=started,
        starts=[],
    )
