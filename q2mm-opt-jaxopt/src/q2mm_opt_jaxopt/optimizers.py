"""The registered in-JIT optimizers (``jaxopt:*`` and ``optax:*``).

Each implements :class:`q2mm.protocols.Optimizer`: ``minimize`` compiles (or reuses)
one program that runs the whole optimization — every iteration, line search and
convergence test — inside ``jax.lax.while_loop`` (:mod:`q2mm_opt_jaxopt.loop`), then
runs it once. They work in the core's scaled coordinates (y = x / natural size,
:class:`q2mm.optimizers.tracking.Tracker`) and need a traceable objective: the score
function they compile is the objective's ``traced_score()`` (+inf where an MM relaxation
failed), which already holds every residual kind and the transition-state curvature
handling of the objective.

Time is reported in two parts, compiling and running: the result carries
``compile_seconds`` and ``run_seconds`` and the message states both; score
evaluations made inside the program are its ``program_evaluations``. The run driver
adds both to what the objective's own counters say (``timing.compile_s`` and
``evaluations`` of ``result.json``): the objective never sees the program's work.
The callback runs once, with the result, after the compiled run: iterations happen
inside one program and cannot call back cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import attrs
import numpy as np
from q2mm.errors import ConfigError
from q2mm.optimizers.tracking import Callback, Tracker
from q2mm.protocols import Objective, OptimizeResult

from . import methods
from .loop import REASON, VERDICT, Status
from .programs import Problem, controls, program, run


@attrs.frozen(eq=False)
class InJitResult(OptimizeResult):
    """An :class:`~q2mm.protocols.OptimizeResult` with the time spent running (its
    ``compile_seconds`` is 0 when the program was already compiled)."""

    run_seconds: float = 0.0


def refuse_untraceable(objective: Objective, name: str) -> None:
    if not objective.traceable:
        raise ConfigError(
            f"optimizer {name!r} needs a JAX-traceable objective but engine {objective.engine_name!r} "
            "is not traceable; "
            "use a scipy optimizer (e.g. scipy:lbfgsb, or multistart with a scipy inner optimizer) "
            "or a traceable engine (jax)"
        )


def make_problem(objective: Objective, points: np.ndarray, bounds: Sequence[tuple[float, float]]) -> Problem:
    trackers = [Tracker(objective, point, bounds, None) for point in np.atleast_2d(points)]
    return Problem(
        y0=np.stack([t.y0 for t in trackers]),
        lower=np.stack([t.lower for t in trackers]),
        upper=np.stack([t.upper for t in trackers]),
        scale=np.stack([t.scale for t in trackers]),
    )


def to_result(
    outcome: dict[str, np.ndarray],
    problem: Problem,
    row: int,
    index: int | None,
    compile_s: float,
    run_s: float,
) -> InJitResult:
    """Start ``row`` of a problem from row ``index`` of an outcome (None: unbatched)."""
    pick = (lambda a: a) if index is None else (lambda a: a[index])
    status = Status(int(pick(outcome["status"])))
    score = float(pick(outcome["score"]))
    iterations = int(pick(outcome["iterations"]))
    verdict = VERDICT[status]
    reason = REASON[status].format(criticality=float(pick(outcome["criticality"])), iterations=iterations)
    if verdict != "failed" and not math.isfinite(score):
        verdict, reason = "failed", f"no finite score was met ({reason})"
    evaluations = int(pick(outcome["evaluations"]))
    return InJitResult(
        x=np.asarray(pick(outcome["best"]), dtype=float) * problem.scale[row],
        score=score,
        iterations=iterations,
        evaluations=evaluations,
        program_evaluations=evaluations,
        status=verdict,
        message=f"{reason}; compile {compile_s:.2f} s, run {run_s:.3f} s",
        compile_seconds=compile_s,
        run_seconds=run_s,
    )


class InJitOptimizer:
    """Base of the registered optimizers: a method plus run-time limits. ``gtol`` is
    on the projected gradient (∞-norm, scaled coordinates), ``ftol`` on the relative
    score change of a step, as for scipy:lbfgsb."""

    name: ClassVar[str]
    requires: ClassVar[frozenset[str]] = frozenset({"traceable"})

    def __init__(self, method: Any, max_iterations: int, gtol: float, ftol: float) -> None:
        if max_iterations < 1:
            raise ConfigError(f"{self.name}: max_iterations must be at least 1, got {max_iterations}")
        if not (gtol >= 0 and ftol >= 0):
            raise ConfigError(f"{self.name}: gtol and ftol must be ≥ 0, got {gtol}, {ftol}")
        self.method = method
        self.max_iterations = int(max_iterations)
        self.gtol = float(gtol)
        self.ftol = float(ftol)

    @property
    def limits(self):
        return controls(self.max_iterations, self.gtol, self.ftol)

    def minimize(
        self,
        objective: Objective,
        x0: np.ndarray,
        bounds: Sequence[tuple[float, float]],
        callback: Callback = None,
    ) -> InJitResult:
        refuse_untraceable(objective, self.name)
        x0 = np.asarray(x0, dtype=float)
        problem = make_problem(objective, x0, bounds)
        compiled, new = program(objective, self.method, x0.size)
        compile_s = compiled.compile_seconds if new else 0.0
        outcome, run_s = run(compiled.executable, problem.rows(0), self.limits)
        result = to_result(outcome, problem, 0, None, compile_s, run_s)
        if callback is not None and math.isfinite(result.score):
            callback(result.x, result.score)
        return result


def _check_line_search(name: str, max_line_search: int, history: int = 1) -> None:
    if max_line_search < 1 or history < 1:
        raise ConfigError(f"{name}: max_line_search and history must be at least 1")


class JaxoptLBFGS(InJitOptimizer):
    """jaxopt.LBFGS (zoom line search) on transformed coordinates (bounds by a
    sigmoid/softplus transform, :mod:`q2mm_opt_jaxopt.bounds`)."""

    name = "jaxopt:lbfgs"

    def __init__(
        self,
        max_iterations: int = 1000,
        gtol: float = 1e-6,
        ftol: float = 1e-10,
        history: int = 10,
        max_line_search: int = 30,
    ):
        _check_line_search(self.name, max_line_search, history)
        super().__init__(methods.JaxoptLBFGS(history, max_line_search), max_iterations, gtol, ftol)


class JaxoptLBFGSB(InJitOptimizer):
    """jaxopt.LBFGSB: L-BFGS-B with native box bounds."""

    name = "jaxopt:lbfgsb"

    def __init__(
        self,
        max_iterations: int = 1000,
        gtol: float = 1e-6,
        ftol: float = 1e-10,
        history: int = 10,
        max_line_search: int = 30,
    ):
        _check_line_search(self.name, max_line_search, history)
        super().__init__(methods.JaxoptLBFGSB(history, max_line_search), max_iterations, gtol, ftol)


class JaxoptGradientDescent(InJitOptimizer):
    """Projected gradient descent with Barzilai–Borwein steps and jaxopt's Armijo
    backtracking; bounds by projection."""

    name = "jaxopt:gradient-descent"

    def __init__(
        self,
        max_iterations: int = 5000,
        gtol: float = 1e-6,
        ftol: float = 1e-10,
        max_line_search: int = 30,
        decrease_factor: float = 0.5,
    ):
        _check_line_search(self.name, max_line_search)
        if not 0 < decrease_factor < 1:
            raise ConfigError(f"{self.name}: decrease_factor must be in (0, 1), got {decrease_factor}")
        super().__init__(
            methods.ProjectedGradientDescent(max_line_search, float(decrease_factor)),
            max_iterations,
            gtol,
            ftol,
        )


class _OptaxFirstOrder(InJitOptimizer):
    """Options: ``learning_rate`` (scaled units per step), ``schedule`` (constant,
    cosine: decays to ``final_fraction`` × the rate over ``decay_steps``,
    exponential: × ``decay_rate`` every ``decay_steps``). ``ftol`` defaults to 0: a
    first-order step's score change says little about optimality."""

    rule: ClassVar[str]

    def __init__(
        self,
        max_iterations: int = 2000,
        gtol: float = 1e-6,
        ftol: float = 0.0,
        learning_rate: float = 1e-2,
        schedule: str = "constant",
        decay_steps: int = 1000,
        decay_rate: float = 0.1,
        final_fraction: float = 0.0,
        **extra: float | None,
    ):
        if schedule not in methods.SCHEDULES:
            raise ConfigError(
                f"{self.name}: unknown schedule {schedule!r}; choose one of {', '.join(methods.SCHEDULES)}"
            )
        if (
            not learning_rate > 0
            or decay_steps < 1
            or not 0 < decay_rate <= 1
            or not 0 <= final_fraction <= 1
        ):
            raise ConfigError(
                f"{self.name}: need learning_rate > 0, decay_steps ≥ 1, 0 < decay_rate ≤ 1, "
                "0 ≤ final_fraction ≤ 1"
            )
        method = methods.OptaxFirstOrder(
            rule=self.rule,
            learning_rate=float(learning_rate),
            schedule=schedule,
            decay_steps=int(decay_steps),
            decay_rate=float(decay_rate),
            final_fraction=float(final_fraction),
            **extra,
        )
        super().__init__(method, max_iterations, gtol, ftol)


class OptaxAdam(_OptaxFirstOrder):
    """optax.adam, projected onto the bounds."""

    name = "optax:adam"
    rule = "adam"

    def __init__(self, **options: Any):
        super().__init__(**options)


class OptaxAdamW(_OptaxFirstOrder):
    """optax.adamw, projected onto the bounds. ``weight_decay`` pulls every scaled
    parameter towards zero, i.e. shrinks it relative to its natural size: a
    regularizer a force-field fit rarely wants; offered for completeness."""

    name = "optax:adamw"
    rule = "adamw"

    def __init__(self, weight_decay: float = 1e-4, **options: Any):
        if not weight_decay >= 0:
            raise ConfigError(f"{self.name}: weight_decay must be ≥ 0, got {weight_decay}")
        super().__init__(weight_decay=float(weight_decay), **options)


class OptaxSGD(_OptaxFirstOrder):
    """optax.sgd (optionally with ``momentum``), projected onto the bounds."""

    name = "optax:sgd"
    rule = "sgd"

    def __init__(self, momentum: float | None = None, **options: Any):
        if momentum is not None and not 0 <= momentum < 1:
            raise ConfigError(f"{self.name}: momentum must be in [0, 1), got {momentum}")
        super().__init__(momentum=None if momentum is None else float(momentum), **options)


class OptaxLBFGS(InJitOptimizer):
    """optax.lbfgs (zoom line search) on transformed coordinates (bounds by a
    sigmoid/softplus transform, :mod:`q2mm_opt_jaxopt.bounds`)."""

    name = "optax:lbfgs"

    def __init__(
        self,
        max_iterations: int = 1000,
        gtol: float = 1e-6,
        ftol: float = 1e-10,
        history: int = 10,
        max_line_search: int = 30,
    ):
        _check_line_search(self.name, max_line_search, history)
        super().__init__(methods.OptaxLBFGS(history, max_line_search), max_iterations, gtol, ftol)
