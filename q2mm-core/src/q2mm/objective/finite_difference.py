"""The finite-difference path: NumPy residuals, and Jacobians over parameters by
bound-aware finite differences fanned out over an executor.

Used by the objective when the engine gives Hessians but no parameter derivatives
(OpenMM, the NumPy test engine). Each parameter gets a step sized for what it is
(:meth:`q2mm.parameters.ParameterSpace.scales`): force constants and other strengths
relative to their value, equilibrium lengths and angles, phases and charges absolute.
The step
is taken centrally when both x ± h lie inside the bounds, one-sided away from a bound
otherwise (a parameter sitting on its bound — a force constant at zero — is never
evaluated outside it), and shortened to the room available when the interval is
narrower than the step.

Every displaced point is an independent residual-vector evaluation; they go out
through an :class:`~q2mm.protocols.Executor` in ``chunks`` (one task per chunk, so a
process pool pickles the path once per chunk, not once per point). Process pools
work: the path pickles without its engine sessions and prepares them again in the
worker; thread pools get one set of sessions per thread (:mod:`.sessions`). Which
executor pays depends on what a point costs and on the machine:
``benchmarks/bench_harmonic_engine.py`` times serial, threads and processes side by
side.

The path keeps no state between evaluations: its results depend on ``x`` alone.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from ..errors import ConfigError, RelaxationFailure
from ..parameters import ParameterSpace
from ..protocols import Counters, Executor, ScalingExecutor
from .binding import WeightedResiduals
from .sessions import Sessions

#: Default step as a fraction of the parameter's natural scale.
STEP_FRACTION = 1e-4


@attrs.frozen(eq=False)
class Stencil:
    """Displaced points and how to combine their residuals into Jacobian columns:
    column i = (r[plus[i]] − r[minus[i]]) / width[i], where index −1 means the base
    point x and a zero width means a fixed parameter (interval of zero length)."""

    points: np.ndarray  # (m, n)
    plus: np.ndarray
    minus: np.ndarray
    width: np.ndarray


def stencil(x: np.ndarray, steps: np.ndarray, bounds: Sequence[tuple[float, float]]) -> Stencil:
    x = np.asarray(x, dtype=float)
    points: list[np.ndarray] = []
    plus = np.full(x.size, -1)
    minus = np.full(x.size, -1)
    width = np.zeros(x.size)

    def add(i: int, offset: float) -> int:
        p = x.copy()
        p[i] += offset
        points.append(p)
        return len(points) - 1

    for i, (h, (lo, hi)) in enumerate(zip(steps, bounds, strict=True)):
        lo = -math.inf if lo is None else float(lo)
        hi = math.inf if hi is None else float(hi)
        up, down = hi - x[i], x[i] - lo
        if up >= h and down >= h:
            plus[i], minus[i], width[i] = add(i, h), add(i, -h), 2.0 * h
        elif up >= h or up >= down:
            step = min(h, up)
            if step > 0:
                plus[i], width[i] = add(i, step), step
        else:
            step = min(h, down)
            minus[i], width[i] = add(i, -step), step
    array = np.array(points).reshape(len(points), x.size)
    return Stencil(points=array, plus=plus, minus=minus, width=width)


def jacobian(points: Stencil, base: np.ndarray, displaced: Sequence[np.ndarray]) -> np.ndarray:
    """Jacobian (len(base), n) from the residuals at the stencil's points."""
    base = np.asarray(base, dtype=float)
    rows = np.array([np.asarray(r, dtype=float) for r in displaced]).reshape(len(displaced), base.size)

    def at(index: int) -> np.ndarray:
        return base if index < 0 else rows[index]

    jac = np.zeros((base.size, points.width.size))
    for i, w in enumerate(points.width):
        if w > 0:
            jac[:, i] = (at(points.plus[i]) - at(points.minus[i])) / w
    return jac


def evaluate_points(
    task: Callable[[np.ndarray], list[np.ndarray]],
    points: np.ndarray,
    executor: Any | None,
    chunks: int | None = None,
) -> list[np.ndarray]:
    """``task`` maps a (k, n) block of points to k residual vectors. Without an
    executor everything runs here, in one block; otherwise the points are split into
    ``chunks`` blocks (default: what a :class:`~q2mm.protocols.ScalingExecutor` asks
    for, else the CPU count) and mapped through the executor, in order. Exceptions (a
    :class:`~q2mm.errors.FitFailure` in a worker) propagate."""
    if len(points) == 0:
        return []
    if executor is None:
        return list(task(points))
    default = executor.parallelism() if isinstance(executor, ScalingExecutor) else os.cpu_count()
    n_chunks = max(1, min(len(points), chunks or default or 1))
    blocks = [b for b in np.array_split(points, n_chunks) if len(b)]
    return [r for block in executor.map(task, blocks) for r in block]


class FiniteDifferencePath:
    """Residuals from an engine's sessions (Hessians, energies, relaxations) in NumPy;
    Jacobians by finite differences. Adds what it evaluates to ``counters``."""

    name = "finite-difference"

    def __init__(
        self,
        space: ParameterSpace,
        sessions: Sessions,
        weighting: WeightedResiduals,
        names: Sequence[str],
        counters: Counters,
        executor: Executor | None = None,
        step: float = STEP_FRACTION,
        chunks: int | None = None,
    ) -> None:
        self.space = space
        self.sessions = sessions
        self.weighting = weighting
        self.names = tuple(names)
        self.counters = counters
        self.executor = executor
        self.step = step
        self.chunks = chunks

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "executor": None}

    def quantities(self, x: np.ndarray, needs: Sequence[frozenset[str]]) -> tuple[np.ndarray, list[dict]]:
        """Full values and, per structure, the MM quantities named in ``needs``."""
        values = np.asarray(self.space.expand(np.asarray(x, dtype=float), np), dtype=float)
        sessions = self.sessions.get()
        out = [
            self._structure(s, session, wanted, values)
            for s, (session, wanted) in enumerate(zip(sessions, needs, strict=True))
        ]
        return values, out

    def _structure(self, s: int, session: Any, wanted: frozenset[str], values: np.ndarray) -> dict[str, Any]:
        quantities: dict[str, Any] = {}
        if "hessian" in wanted:
            quantities["hessian"] = np.asarray(session.hessian(values), dtype=float)
        if "energy" in wanted:
            quantities["energy"] = float(session.energy(values))
        if "relaxed" in wanted:
            quantities["relaxed"] = self._relaxed(s, session, values)
        if "relaxed_hessian" in wanted:  # at the minimum just found (asked with "relaxed")
            at_minimum = session.hessian(values, quantities["relaxed"])
            quantities["relaxed_hessian"] = np.asarray(at_minimum, dtype=float)
        if "values" in wanted:
            quantities["values"] = values
        return quantities

    def _relaxed(self, s: int, session: Any, values: np.ndarray) -> np.ndarray:
        relaxed = session.minimize(values)
        if not relaxed.converged:
            raise RelaxationFailure(
                f"MM relaxation of {self.names[s]} did not converge (largest gradient "
                f"{relaxed.gradient_norm:.3g} kcal/mol/Å after {relaxed.iterations} iterations)"
            )
        return np.asarray(relaxed.coordinates, dtype=float)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        values, quantities = self.quantities(x, self.weighting.needs)
        with np.errstate(all="ignore"):
            r = np.asarray(self.weighting(values, quantities, np), dtype=float)
        return self.weighting.checked(r)

    def _evaluate_block(self, points: np.ndarray) -> list[np.ndarray]:
        return [self.residuals(p) for p in points]

    def jacobian(self, x: np.ndarray, residuals: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """From the residuals at ``x`` (``residuals``: the objective's) and one evaluation
        per stencil point."""
        return self._jacobian(x, residuals(x))

    def _jacobian(self, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        points = stencil(x, self.step * self.space.scales(x), self.space.bounds)
        displaced = evaluate_points(self._evaluate_block, points.points, self.executor, self.chunks)
        self.counters.evaluations += len(points.points)
        return jacobian(points, base, displaced)

    def residuals_if_evaluated(self, x: np.ndarray) -> None:
        """Never: every evaluation here goes through the objective, which keeps the last."""
        return None

    def value_and_grad(
        self, x: np.ndarray, residuals: Callable[[np.ndarray], np.ndarray]
    ) -> tuple[float, np.ndarray]:
        r = residuals(x)
        return float(r @ r), 2.0 * self._jacobian(x, r).T @ r

    def traced_score(self):
        raise ConfigError(
            f"engine {self.sessions.engine.name!r} is not traceable: there is no analytical path"
        )
