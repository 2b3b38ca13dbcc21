"""What every built-in optimizer shares: scaled coordinates, bookkeeping, statuses.

Scaled coordinates. Fitted parameters differ by orders of magnitude (a C–H force
constant ≈ 700 kcal/(mol·Å²), its r0 ≈ 1.1 Å), which cripples methods whose steps or
tolerances are isotropic (L-BFGS-B's first step, Nelder–Mead's simplex, Powell's line
searches, trust regions). Each optimizer therefore works on y = x / s with s the
parameter's natural scale (:meth:`q2mm.protocols.Objective.scales`: its start
magnitude for strengths, 1 Å / 1 rad for equilibrium values); bounds are scaled the
same way. Callbacks and results are always in x.

Statuses. ``"converged"``: the method's own convergence criterion — or the progress
test (:class:`ProgressTest`), where the optimizer was given one — was met and the
score is finite. ``"stopped"``: an iteration or evaluation limit was reached first.
``"failed"``: anything else, with the reason — including a
:class:`~q2mm.errors.FitFailure` from the objective (a non-finite value or an
unconverged MM relaxation at any trial point ends the run: a failed trial point is
never silently turned into a big number). A failed result carries the best finite
point seen so far, so a run driver can still report it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import attrs
import numpy as np

from ..errors import ConfigError, RelaxationFailure
from ..protocols import Objective, OptimizeResult

Callback = Callable[[np.ndarray, float], None] | None


@attrs.frozen
class ProgressTest:
    """A run has converged when its best score fell by less than ``rtol`` of itself
    over the last ``iterations`` iterations (``iterations`` = 0: never).

    Per-iteration tolerances (scipy's ``ftol``) cannot tell a minimum from a long
    shallow valley walked at a few 1e-5 of the score per step, and force-field fits
    have such valleys: parameters the data barely constrain drift while the score
    creeps. Measured with q2mm's defaults (``benchmarks/validation.py``,
    ``benchmarks/rh_default.py``): see :class:`q2mm.optimizers.scipy_methods.Auto`.
    """

    iterations: int = 0
    rtol: float = 1e-3

    def __attrs_post_init__(self) -> None:
        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int) or self.iterations < 0:
            raise ConfigError(f"stall_iterations must be a whole number ≥ 0, not {self.iterations!r}")
        number = isinstance(self.rtol, int | float) and not isinstance(self.rtol, bool)
        if not (number and math.isfinite(self.rtol) and self.rtol >= 0):
            raise ConfigError(f"stall_rtol must be a finite number ≥ 0, not {self.rtol!r}")

    def stalled(self, best_by_iteration: Sequence[float]) -> bool:
        if self.iterations == 0 or len(best_by_iteration) <= self.iterations:
            return False
        before, now = best_by_iteration[-1 - self.iterations], best_by_iteration[-1]
        return math.isfinite(before) and before - now < self.rtol * abs(now)

    @property
    def message(self) -> str:
        return (
            f"the score fell by less than {self.rtol:g} of itself over the last {self.iterations} iterations"
        )


class Stalled(Exception):
    """Raised by :meth:`Tracker.iteration` inside the optimizer's loop when the progress
    test ends the run at iterate ``y``; the optimizer returns a converged result there."""

    def __init__(self, y: np.ndarray):
        super().__init__()
        self.y = np.array(y, dtype=float)


class Tracker:
    """One optimizer run on an objective, in scaled coordinates y = x / scale."""

    def __init__(
        self,
        objective: Objective,
        x0: np.ndarray,
        bounds: Sequence[tuple[float, float]],
        callback: Callback,
        scale: np.ndarray | None = None,
        progress: ProgressTest = ProgressTest(),
    ) -> None:
        self.objective = objective
        self.x0 = np.asarray(x0, dtype=float)
        self.scale = objective.scales(self.x0) if scale is None else np.asarray(scale, dtype=float)
        lower = np.array([-math.inf if lo is None else lo for lo, _ in bounds], dtype=float)
        upper = np.array([math.inf if hi is None else hi for _, hi in bounds], dtype=float)
        if lower.shape != self.x0.shape:
            raise ConfigError(f"{lower.size} bounds for {self.x0.size} parameters")
        self.lower, self.upper = lower / self.scale, upper / self.scale
        self.callback = callback
        self.progress = progress
        self.iterations = 0
        self.evaluations_at_start = objective.counters.evaluations
        self.best_x = self.x0.copy()
        self.best_score = math.inf
        self.worst_score = -math.inf
        #: The best score seen when each iteration ended (the progress test's record).
        self.best_by_iteration: list[float] = []
        #: Trial points stepped back from (see :meth:`value_and_grad_or_penalty`).
        self.failed_trials: list[str] = []

    # coordinates -----------------------------------------------------------

    @property
    def y0(self) -> np.ndarray:
        return self.x0 / self.scale

    def x(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=float) * self.scale

    def clip(self, y: np.ndarray) -> np.ndarray:
        return np.clip(y, self.lower, self.upper)

    @property
    def scaled_bounds(self) -> list[tuple[float, float]]:
        return list(zip(self.lower, self.upper, strict=True))

    @property
    def bounded(self) -> bool:
        return bool(np.isfinite(self.lower).any() or np.isfinite(self.upper).any())

    # evaluations (in y) ----------------------------------------------------

    def _seen(self, x: np.ndarray, score: float) -> None:
        if math.isfinite(score):
            self.worst_score = max(self.worst_score, score)
            if score < self.best_score:
                self.best_score, self.best_x = score, x.copy()

    def value(self, y: np.ndarray) -> float:
        x = self.x(y)
        score = self.objective.value(x)
        self._seen(x, score)
        return score

    def value_and_grad(self, y: np.ndarray) -> tuple[float, np.ndarray]:
        x = self.x(y)
        score, grad = self.objective.value_and_grad(x)
        self._seen(x, score)
        return score, np.asarray(grad, dtype=float) * self.scale

    def value_and_grad_or_penalty(self, y: np.ndarray) -> tuple[float, np.ndarray]:
        """:meth:`value_and_grad`, except that a trial point whose MM relaxation does
        not converge (a non-finite value stays a failure), met after the run has
        evaluated some point, returns a score above every score seen, with a zero
        gradient: a line search then steps back toward its last iterate, which is what
        should happen. That value is never a result: results are re-evaluated at
        accepted iterates, and the failures are counted in the message. A failing
        start is still a failure."""
        try:
            return self.value_and_grad(y)
        except RelaxationFailure as exc:
            if not math.isfinite(self.worst_score):
                raise
            self.failed_trials.append(str(exc))
            return 10.0 * abs(self.worst_score) + 1.0, np.zeros_like(np.asarray(y, dtype=float))

    def residuals(self, y: np.ndarray) -> np.ndarray:
        x = self.x(y)
        r = self.objective.residuals(x)
        self._seen(x, float(r @ r))
        return r

    def jacobian(self, y: np.ndarray) -> np.ndarray:
        return self.objective.jacobian(self.x(y)) * self.scale[None, :]

    def iteration(self, y: np.ndarray, score: float | None = None) -> None:
        """One optimizer iteration ended at y: count it, tell the callback, and raise
        :class:`Stalled` where the progress test says the run is over."""
        self.iterations += 1
        self.best_by_iteration.append(self.best_score)
        if self.callback is not None:
            x = self.x(y)
            self.callback(x, float(self.objective.value(x) if score is None else score))
        if self.progress.stalled(self.best_by_iteration):
            raise Stalled(y)

    # results ---------------------------------------------------------------

    def result(self, y: np.ndarray, status: str, message: str) -> OptimizeResult:
        x = self.x(y)
        score = self.objective.value(x)
        self._seen(x, score)
        if status == "converged" and not math.isfinite(score):
            status, message = "failed", f"non-finite score at the end ({message})"
        if self.failed_trials:
            first = self.failed_trials[0]
            message += f"; stepped back from {len(self.failed_trials)} trial point(s), first: {first}"
        return OptimizeResult(
            x=x,
            score=float(score),
            iterations=self.iterations,
            evaluations=self.evaluations,
            status=status,
            message=message,
        )

    def progress_result(self, stop: Stalled) -> OptimizeResult:
        """The converged result where the progress test ended the run."""
        return self.result(stop.y, "converged", self.progress.message)

    def failure(self, reason: str) -> OptimizeResult:
        return OptimizeResult(
            x=self.best_x.copy(),
            score=float(self.best_score),
            iterations=self.iterations,
            evaluations=self.evaluations,
            status="failed",
            message=reason,
        )

    @property
    def evaluations(self) -> int:
        return self.objective.counters.evaluations - self.evaluations_at_start
