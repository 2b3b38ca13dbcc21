"""Q2MM's classic cycle: a gradient pass, a sensitivity ranking, a simplex on the few
most sensitive parameters — repeated until a cycle improves the score by less than
``min_improvement`` (1 %).

One cycle, in scaled coordinates (:mod:`q2mm.optimizers.tracking`):

1. Gradient pass. The Jacobian J of the weighted residuals r (finite differences or
   analytical, whatever the objective gives) defines Levenberg–Marquardt trial steps
   δ(λ) = −(JᵀJ + λ·diag(JᵀJ))⁻¹ Jᵀr for a ladder of damping factors λ, as Q2MM tried
   several step sizes per gradient; each is clipped to the bounds and the best trial
   is taken if it lowers the score.
2. Sensitivity ranking. Under the same Gauss–Newton model, moving parameter i alone
   can lower the score by (Jᵀr)ᵢ² / (JᵀJ)ᵢᵢ — a unit-free measure of how much the
   score still depends on it. The ``simplex_parameters`` highest rank first (from the
   cycle's Jacobian: a second one would double the cost of a cycle).
3. Simplex. Nelder–Mead on those parameters only, the rest held, within the bounds,
   for at most ``simplex_iterations`` iterations.

Converged when a cycle improves the score by less than ``min_improvement`` (relative);
stopped after ``max_cycles``. The callback runs once per cycle.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize

from ..errors import ConfigError, FitFailure
from ..protocols import Objective, OptimizeResult
from .tracking import Callback, Tracker

DAMPING = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


class GradSimp:
    name = "grad-simp"
    requires = frozenset({"gradient"})

    def __init__(
        self,
        max_cycles: int = 20,
        min_improvement: float = 0.01,
        simplex_parameters: int = 3,
        simplex_iterations: int = 200,
        damping: Sequence[float] = DAMPING,
    ):
        if max_cycles < 1 or simplex_parameters < 1 or simplex_iterations < 1:
            raise ConfigError("grad-simp: max_cycles, simplex_parameters and simplex_iterations must be ≥ 1")
        if not 0 < min_improvement < 1:
            raise ConfigError(f"grad-simp: min_improvement must be in (0, 1), got {min_improvement}")
        self.max_cycles = int(max_cycles)
        self.min_improvement = float(min_improvement)
        self.simplex_parameters = int(simplex_parameters)
        self.simplex_iterations = int(simplex_iterations)
        self.damping = tuple(float(d) for d in damping)

    def _gradient_pass(self, tracker: Tracker, y: np.ndarray, score: float):
        r = tracker.residuals(y)
        jac = tracker.jacobian(y)
        jtj = jac.T @ jac
        jtr = jac.T @ r
        diag = np.diag(jtj).copy()
        diag[diag <= 0] = 1.0
        best_y, best_score = y, score
        for lam in self.damping:
            try:
                step = np.linalg.solve(jtj + lam * np.diag(diag), -jtr)
            except np.linalg.LinAlgError:
                continue
            trial = tracker.clip(y + step)
            trial_score = tracker.value(trial)
            if trial_score < best_score:
                best_y, best_score = trial, trial_score
        sensitivity = np.where(np.diag(jtj) > 0, jtr**2 / np.where(np.diag(jtj) > 0, np.diag(jtj), 1.0), 0.0)
        return best_y, best_score, sensitivity

    def _simplex(self, tracker: Tracker, y: np.ndarray, chosen: np.ndarray):
        def on_subset(sub):
            full = y.copy()
            full[chosen] = sub
            return tracker.value(full)

        bounds = [(tracker.lower[i], tracker.upper[i]) for i in chosen]
        res = minimize(
            on_subset,
            y[chosen],
            method="Nelder-Mead",
            bounds=bounds,
            options={"maxiter": self.simplex_iterations, "xatol": 1e-8, "fatol": 1e-10, "adaptive": True},
        )
        out = y.copy()
        out[chosen] = res.x
        return out

    def minimize(
        self,
        objective: Objective,
        x0: np.ndarray,
        bounds: Sequence[tuple[float, float]],
        callback: Callback = None,
    ) -> OptimizeResult:
        tracker = Tracker(objective, x0, bounds, callback)
        y = tracker.clip(tracker.y0)
        try:
            score = tracker.value(y)
            for cycle in range(1, self.max_cycles + 1):
                start = score
                y, score, sensitivity = self._gradient_pass(tracker, y, score)
                chosen = np.argsort(-sensitivity, kind="stable")[: self.simplex_parameters]
                chosen = chosen[sensitivity[chosen] > 0]
                if chosen.size:
                    candidate = self._simplex(tracker, y, np.sort(chosen))
                    candidate_score = tracker.value(candidate)
                    if candidate_score < score:
                        y, score = candidate, candidate_score
                tracker.iteration(y, score)
                if start == 0 or (start - score) / start < self.min_improvement:
                    return tracker.result(
                        y,
                        "converged",
                        f"cycle {cycle} improved the score by less than {self.min_improvement:.1%}",
                    )
            return tracker.result(y, "stopped", f"{self.max_cycles} cycles, still improving")
        except FitFailure as exc:
            return tracker.failure(str(exc))
