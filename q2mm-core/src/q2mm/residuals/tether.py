"""The tether residual: keep fitted parameters near their starting values.

A regularizer, not a QM observable: (v − v_start) / scale for each fitted parameter,
with the scale of :meth:`q2mm.parameters.ParameterSpace.scales` — the parameter's own
magnitude for force constants (so the residual is the relative change), 1 Å / 1 rad
for equilibrium values. It acts on the full parameter vector (``needs = {"values"}``)
at one slot per fitted parameter (tied parameters share a value, so one slot says
it all: ``ParameterSpace.groups``), and is built once per objective, not per
structure.
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
