"""Finite-difference Jacobians over parameters, bound-aware, fanned out in parallel.

Used by the objective when the engine gives Hessians but no parameter derivatives
(OpenMM, Tinker, the NumPy test engine). Each parameter gets a step sized for what
it is (:func:`parameter_scale`): force constants and other strengths relative to
their value, equilibrium lengths and angles, phases and charges absolute. The step
is taken centrally when both x ± h lie inside the bounds, one-sided away from a bound
otherwise (a parameter sitting on its bound — a force constant at zero — is never
evaluated outside it), and shortened to the room available when the interval is
narrower than the step.

Every displaced point is an independent residual-vector evaluation; they go out
through an :class:`~q2mm.protocols.Executor` in ``chunks`` (one task per chunk, so a
process pool pickles the objective once per chunk, not once per point).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

#: Fields whose natural scale is absolute (1 Å, 1 rad, 1 e): equilibrium geometry,
#: phases, charges, vdW radii, dipole positions. Everything else is a strength (force
#: constants k, k1…k6, epsilon, dipole moments), scaled by its own magnitude.
ABSOLUTE_FIELDS = frozenset({"r0", "theta0", "phi0", "radius", "q", "position", "reduction"})
ABSOLUTE_PREFIXES = ("phase", "r1_0", "r2_0")
#: Default step as a fraction of the parameter's scale.
STEP_FRACTION = 1e-4


def field_of(parameter_id: str) -> str:
    """``"bond:C-H@12.r0"`` → ``"r0"`` (parameter ids are ``f"{row.key}.{field}"``)."""
    return parameter_id.rsplit(".", 1)[-1]


def parameter_scale(parameter_id: str, value: float) -> float:
    """The magnitude on which a parameter varies: 1 (Å, rad, e) for absolute fields,
    max(|value|, 1) for strengths."""
    field = field_of(parameter_id)
    if field in ABSOLUTE_FIELDS or field.startswith(ABSOLUTE_PREFIXES):
        return 1.0
    return max(abs(float(value)), 1.0)


def step_sizes(ids: Sequence[str], x: np.ndarray, fraction: float = STEP_FRACTION) -> np.ndarray:
    return np.array([fraction * parameter_scale(pid, v) for pid, v in zip(ids, x, strict=True)])


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


def jacobian(st: Stencil, base: np.ndarray, displaced: Sequence[np.ndarray]) -> np.ndarray:
    """Jacobian (len(base), n) from the residuals at the stencil's points."""
    base = np.asarray(base, dtype=float)
    rows = np.array([np.asarray(r, dtype=float) for r in displaced]).reshape(len(displaced), base.size)

    def at(index: int) -> np.ndarray:
        return base if index < 0 else rows[index]

    jac = np.zeros((base.size, st.width.size))
    for i, w in enumerate(st.width):
        if w > 0:
            jac[:, i] = (at(st.plus[i]) - at(st.minus[i])) / w
    return jac


def evaluate_points(
    task: Callable[[np.ndarray], list[np.ndarray]],
    points: np.ndarray,
    executor: Any | None,
    chunks: int | None = None,
) -> list[np.ndarray]:
    """``task`` maps a (k, n) block of points to k residual vectors. Without an
    executor everything runs here, in one block; otherwise the points are split into
    ``chunks`` blocks (default: the CPU count) and mapped through the executor, in
    order. Exceptions (a :class:`~q2mm.errors.FitFailure` in a worker) propagate."""
    if len(points) == 0:
        return []
    if executor is None:
        return list(task(points))
    n_chunks = max(1, min(len(points), chunks or os.cpu_count() or 1))
    blocks = [b for b in np.array_split(points, n_chunks) if len(b)]
    return [r for block in executor.map(task, blocks) for r in block]
