"""The built-in scipy optimizers.

Each runs in scaled coordinates and maps scipy's exit codes onto q2mm's statuses
(:mod:`q2mm.optimizers.tracking`). Options are constructor keyword arguments;
tolerances are scipy's own, in scaled coordinates and score units.

===========================  ==================  ==============================================
name                         needs               converged when
===========================  ==================  ==============================================
scipy:lbfgsb                 gradient            relative score change < ``ftol`` or projected
                                                 gradient < ``gtol`` (scipy status 0)
scipy:nelder-mead            —                   simplex within ``xatol`` and its scores
                                                 within ``fatol``
scipy:powell                 —                   relative score change < ``ftol`` / step
                                                 < ``xtol``
scipy:trust-constr           gradient            gradient (``gtol``) or trust radius
                                                 (``xtol``) small enough (status 1 or 2)
scipy:least-squares-trf      gradient            ``ftol``, ``xtol`` or ``gtol`` met (status > 0)
scipy:least-squares-lm       gradient            as trf; MINPACK's Levenberg–Marquardt has no
                                                 bounds, so a bounded problem is refused
auto (the default)           gradient            as trf for short residual vectors, else as
                                                 lbfgsb (:class:`Auto`); or the score fell
                                                 < 0.1 % over the last 20 iterations
===========================  ==================  ==============================================

"Iterations" are scipy's (the callback runs once per iteration); least-squares
methods count one iteration per Jacobian, since both trf and MINPACK's lm compute one
per accepted step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import attrs
import numpy as np
from scipy.optimize import BFGS, least_squares, minimize
from threadpoolctl import threadpool_limits

from ..errors import ConfigError, FitFailure
from ..objective.objective import JACOBIAN_RESIDUALS_LIMIT
from ..protocols import Objective, OptimizeResult
from .tracking import Callback, ProgressTest, Stalled, Tracker


class _ScipyMinimize:
    """scipy.optimize.minimize with one method; subclasses set the exit-code mapping."""

    name: ClassVar[str]
    method: ClassVar[str]
    requires: ClassVar[frozenset[str]] = frozenset()
    converged_codes: ClassVar[frozenset[int]] = frozenset({0})
    stopped_codes: ClassVar[frozenset[int]] = frozenset()

    def __init__(self, max_iterations: int = 1000, max_evaluations: int | None = None, **tolerances: float):
        if max_iterations < 1:
            raise ConfigError(f"{self.name}: max_iterations must be at least 1")
        self.max_iterations = int(max_iterations)
        self.max_evaluations = max_evaluations
        self.tolerances = tolerances

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"maxiter": self.max_iterations, **self.tolerances}
        if self.max_evaluations is not None:
            options["maxfev" if self.method in ("Nelder-Mead", "Powell") else "maxfun"] = int(
                self.max_evaluations
            )
        return options

    #: The method's line search steps back from a penalized trial point
    #: (:meth:`Tracker.value_and_grad_or_penalty`) instead of ending the run.
    steps_back: ClassVar[bool] = False
    #: Set by the methods that take ``stall_iterations`` (:class:`LBFGSB`); off here.
    progress: ProgressTest = ProgressTest()

    def _call(self, tracker: Tracker, callback) -> Any:
        with_gradient = tracker.value_and_grad_or_penalty if self.steps_back else tracker.value_and_grad
        fun, jac = (with_gradient, True) if "gradient" in self.requires else (tracker.value, None)
        return minimize(
            fun,
            tracker.y0,
            jac=jac,
            method=self.method,
            bounds=tracker.scaled_bounds,
            callback=callback,
            options=self._options(),
        )

    def minimize(
        self,
        objective: Objective,
        x0: np.ndarray,
        bounds: Sequence[tuple[float, float]],
        callback: Callback = None,
    ) -> OptimizeResult:
        tracker = Tracker(objective, x0, bounds, callback, progress=self.progress)

        def each_iteration(intermediate_result):
            tracker.iteration(intermediate_result.x, getattr(intermediate_result, "fun", None))

        try:
            res = self._call(tracker, each_iteration)
            status = int(res.status)
            if status in self.converged_codes:
                verdict = "converged"
            elif status in self.stopped_codes:
                verdict = "stopped"
            else:
                verdict = "failed"
            return tracker.result(res.x, verdict, str(res.message))
        except Stalled as stop:
            return tracker.progress_result(stop)
        except FitFailure as exc:
            return tracker.failure(str(exc))


class LBFGSB(_ScipyMinimize):
    """L-BFGS-B (bounded quasi-Newton). Options: ``ftol``, ``gtol``, ``maxcor``;
    ``stall_iterations`` > 0 adds the progress test
    (:class:`~q2mm.optimizers.tracking.ProgressTest`, ``stall_rtol``)."""

    name = "scipy:lbfgsb"
    method = "L-BFGS-B"
    requires = frozenset({"gradient"})
    #: 1: iteration or evaluation limit; 2: the line search found no lower point
    #: ("ABNORMAL"), which happens at the edge of the region where MM relaxations
    #: converge. Either way the run ends at an evaluated, finite iterate short of
    #: the convergence test: stopped, not failed.
    stopped_codes = frozenset({1, 2})
    steps_back = True

    def __init__(
        self,
        max_iterations: int = 1000,
        max_evaluations: int | None = None,
        ftol: float = 1e-10,
        gtol: float = 1e-6,
        maxcor: int = 50,
        stall_iterations: int = 0,
        stall_rtol: float = 1e-3,
    ):
        super().__init__(max_iterations, max_evaluations, ftol=ftol, gtol=gtol, maxcor=maxcor)
        self.progress = ProgressTest(stall_iterations, stall_rtol)


class NelderMead(_ScipyMinimize):
    """Nelder–Mead simplex (derivative-free, bounded). Options: ``xatol``, ``fatol``,
    ``adaptive`` (dimension-dependent coefficients, better beyond a few parameters)."""

    name = "scipy:nelder-mead"
    method = "Nelder-Mead"
    stopped_codes = frozenset({1, 2})

    def __init__(
        self,
        max_iterations: int = 5000,
        max_evaluations: int | None = None,
        xatol: float = 1e-6,
        fatol: float = 1e-8,
        adaptive: bool = True,
    ):
        super().__init__(max_iterations, max_evaluations, xatol=xatol, fatol=fatol, adaptive=adaptive)


class Powell(_ScipyMinimize):
    """Powell's conjugate directions (derivative-free, bounded). Options: ``xtol``, ``ftol``."""

    name = "scipy:powell"
    method = "Powell"
    stopped_codes = frozenset({1, 2})

    def __init__(
        self,
        max_iterations: int = 1000,
        max_evaluations: int | None = None,
        xtol: float = 1e-6,
        ftol: float = 1e-10,
    ):
        super().__init__(max_iterations, max_evaluations, xtol=xtol, ftol=ftol)


class TrustConstr(_ScipyMinimize):
    """Trust-region interior point with a BFGS Hessian. Options: ``gtol``, ``xtol``."""

    name = "scipy:trust-constr"
    method = "trust-constr"
    requires = frozenset({"gradient"})
    converged_codes = frozenset({1, 2})
    stopped_codes = frozenset({0})

    def __init__(self, max_iterations: int = 1000, gtol: float = 1e-8, xtol: float = 1e-10):
        super().__init__(max_iterations, None, gtol=gtol, xtol=xtol)

    def _call(self, tracker: Tracker, callback) -> Any:
        return minimize(
            tracker.value_and_grad,
            tracker.y0,
            jac=True,
            hess=BFGS(),
            method=self.method,
            bounds=tracker.scaled_bounds,
            callback=callback,
            options=self._options(),
        )


class _LeastSquares:
    """scipy.optimize.least_squares on the weighted residual vector. Options:
    ``max_evaluations``, ``ftol``, ``xtol``, ``gtol``, ``x_scale``, ``stall_iterations``,
    ``stall_rtol``.

    ``x_scale = "jac"`` (the default) scales each parameter by its Jacobian column,
    which the force constants, ideal values and torsion heights of one fit need: on
    the cyclobutene-opening TS (96 parameters) unit scaling crept 546 iterations (more
    than 4 minutes) where "jac" converged in 32. ``ftol`` is scipy's own default, a
    relative score change of 1e-8 per iteration: at 1e-10 the same TS crept on 660
    iterations (62 s) for the last 0.05 % of the score, the frequency MAE moving from
    13.48 to 13.46 cm⁻¹ (187 iterations, 27 s, at 1e-8). Each iteration's SVD runs on one BLAS
    thread: the matrices are small (a few hundred rows), and OpenBLAS's threads spin
    against JAX's on a busy machine (353 × 96: 2.4 ms on one thread, 0.3–0.8 s on two
    of a loaded two-core machine).

    ``stall_iterations`` > 0 adds the progress test
    (:class:`~q2mm.optimizers.tracking.ProgressTest`, ``stall_rtol``); ``auto`` does.
    """

    name: ClassVar[str]
    method: ClassVar[str]
    requires = frozenset({"gradient", "jacobian"})

    def __init__(
        self,
        max_evaluations: int | None = None,
        ftol: float = 1e-8,
        xtol: float = 1e-10,
        gtol: float = 1e-10,
        x_scale: str | float = "jac",
        stall_iterations: int = 0,
        stall_rtol: float = 1e-3,
    ):
        self.max_evaluations = max_evaluations
        self.tolerances = {"ftol": ftol, "xtol": xtol, "gtol": gtol}
        self.x_scale = x_scale
        self.progress = ProgressTest(stall_iterations, stall_rtol)

    def minimize(
        self,
        objective: Objective,
        x0: np.ndarray,
        bounds: Sequence[tuple[float, float]],
        callback: Callback = None,
    ) -> OptimizeResult:
        tracker = Tracker(objective, x0, bounds, callback, progress=self.progress)
        if self.method == "lm" and tracker.bounded:
            raise ConfigError(
                f"{self.name} (MINPACK Levenberg–Marquardt) cannot honour bounds and these parameters have "
                "them; use scipy:least-squares-trf, or pass unbounded parameters"
            )
        first = {"done": False}

        def jac(y):
            # Both trf and lm compute one Jacobian per iteration, the first at the start.
            if first["done"]:
                tracker.iteration(y)
            first["done"] = True
            return tracker.jacobian(y)

        lower, upper = tracker.lower, tracker.upper
        try:
            with threadpool_limits(limits=1, user_api="blas"):
                res = least_squares(
                    tracker.residuals,
                    tracker.y0,
                    jac=jac,
                    method=self.method,
                    bounds=(lower, upper) if self.method != "lm" else (-np.inf, np.inf),
                    max_nfev=self.max_evaluations,
                    x_scale=self.x_scale,
                    **self.tolerances,
                )
            status = int(res.status)
            verdict = "converged" if status > 0 else "stopped" if status == 0 else "failed"
            return tracker.result(res.x, verdict, str(res.message))
        except Stalled as stop:
            return tracker.progress_result(stop)
        except FitFailure as exc:
            return tracker.failure(str(exc))


class LeastSquaresTRF(_LeastSquares):
    """Trust-region reflective least squares (bounded)."""

    name = "scipy:least-squares-trf"
    method = "trf"


class LeastSquaresLM(_LeastSquares):
    """MINPACK Levenberg–Marquardt (unbounded problems only)."""

    name = "scipy:least-squares-lm"
    method = "lm"


class Auto:
    """The default: trust-region least squares (:class:`LeastSquaresTRF`) when the
    residual vector is short enough for its Jacobian (:data:`JACOBIAN_RESIDUALS_LIMIT`),
    else L-BFGS-B (:class:`LBFGSB`), which needs only the gradient. Measured on the
    validation set (``benchmarks/validation.py``): L-BFGS-B left 7 of 18 fits "stopped"
    at 1000 iterations short of the minimum the least-squares method reaches in 25–190
    (methylamine: score 200.83 after 1000 iterations, 200.25 after 77). The result's
    message names the method used.

    Either method runs with the progress test (``stall_iterations`` = 20, ``stall_rtol``
    = 1e-3: converged once the best score fell by less than 0.1 % over 20 iterations;
    0 turns it off), because scipy's own tests end these fits deep in their slow
    tails. Measured with the default objective: on the validation set the Cl⁻ + EtCl
    S_N2 TS took 519 trust-region iterations (27 s) to gain its last 1.5 %, the
    formamide 1,3-shift TS 214 for 0.09 %, and with the test 134 and 139, every
    verdict and target unchanged; the Rh-enamide default fit
    (``benchmarks/rh_default.py``, L-BFGS-B) took 678 iterations (57 s warm) against
    124 (19.5 s) with the test, which ends 0.6 % above scipy's end point with the MM
    minima as close to the TSs (bond RMSD 0.0148 Å both, angle 1.12° → 1.16°)."""

    name = "auto"
    requires = frozenset({"gradient", "jacobian"})

    def __init__(
        self,
        max_residuals: int = JACOBIAN_RESIDUALS_LIMIT,
        stall_iterations: int = 20,
        stall_rtol: float = 1e-3,
    ):
        self.max_residuals = int(max_residuals)
        self.progress = ProgressTest(stall_iterations, stall_rtol)  # refused here, not mid-run

    def minimize(
        self,
        objective: Objective,
        x0: np.ndarray,
        bounds: Sequence[tuple[float, float]],
        callback: Callback = None,
    ) -> OptimizeResult:
        small = objective.residuals(np.asarray(x0, dtype=float)).size <= self.max_residuals
        stall = {"stall_iterations": self.progress.iterations, "stall_rtol": self.progress.rtol}
        chosen = LeastSquaresTRF(**stall) if small else LBFGSB(**stall)
        result = chosen.minimize(objective, x0, bounds, callback)
        return attrs.evolve(result, message=f"{chosen.name}: {result.message}")
