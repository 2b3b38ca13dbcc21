"""The tether residual: keep fitted parameters near their starting values.

A regularizer, not a QM observable: (v − v_start) / scale for each fitted parameter,
with the scale of :meth:`q2mm.parameters.ParameterSpace.scales` — the parameter's own
magnitude for force constants (so the residual is the relative change), 1 Å / 1 rad
for equilibrium values. It acts on the full parameter vector (``needs = {"values"}``)
at one slot per fitted parameter (tied parameters share a value, so one slot says
it all: ``ParameterSpace.groups``), and is built once per objective, not per
structure.

It is part of the default objective because one QM Hessian does not fix every
parameter. A torsion row's V1, V2 and V3 act on the Hessian at one geometry through
few combinations, and the rows about one bond overlap: ethane's nine H–C–C–H
dihedrals sum cos φ and sin φ to zero, so V1 changes no torsional curvature and no
force, only small couplings to the C–C–H bends. Without the tether the default fit
of staggered ethane ended with V1(H–C–C–H) = 50 kcal/mol (its bound) and the
cyclobutene-opening TS with 23 of its 45 torsion heights beyond 10 kcal/mol, at the
same eigenmatrix R² and frequency MAE; with it the largest torsion height on the
whole validation set (``benchmarks/validation.py``) is 8.8 kcal/mol and no verdict
changes. Against the data's own residuals it is weak: a torsion height 10 kcal/mol
from a start near zero costs 1, a force constant doubled 0.01, an ideal value 5°
from its start 8 × 10⁻⁵.

It measures a run's move from that run's own start: ``q2mm evaluate`` of a fitted
force field, or a new run started from it, counts it as zero, so their score is the
fit's final score less its tether share (``by_residual``).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ..parameters import ParameterSpace
from .weights import DEFAULT_WEIGHTS


@attrs.frozen(eq=False)
class TetherResidual:
    slots: np.ndarray
    start: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    name: str = "tether"
    needs: frozenset[str] = frozenset({"values"})

    def evaluate(self, quantities: dict[str, Any], xp: Any) -> Any:
        values = xp.asarray(quantities["values"])
        return (values[self.slots] - xp.asarray(self.start)) / xp.asarray(self.scale)


def build(space: ParameterSpace, *, weight: float = DEFAULT_WEIGHTS["tether"]) -> TetherResidual:
    """``weight`` per unit of scaled change (see the module docstring)."""
    slots = np.array([group[0] for group in space.groups], dtype=int)
    start = np.asarray(space.expand(np.asarray(space.x0, dtype=float), np), dtype=float)[slots]
    scale = space.scales(start)
    weights = np.full(slots.size, float(weight))
    for array in (slots, start, scale, weights):
        array.setflags(write=False)
    return TetherResidual(slots=slots, start=start, scale=scale, weights=weights)
