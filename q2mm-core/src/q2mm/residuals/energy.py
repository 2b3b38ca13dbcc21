"""The relative-energy residual: one group of structures at a time.

Only energy differences mean anything across QM and MM, so this residual spans
structures: the objective builds one per group (structures sharing a ``group`` label,
or every structure with a QM energy) and hands it, for each need, the list of the
members' MM quantities in group order. The residual is

    (E_MM,i − ⟨E_MM⟩) − (E_QM,i − ⟨E_QM⟩)   for every member i  (kcal/mol),

measured from the group means: invariant to any constant offset of either energy
scale, and — unlike "relative to the first structure" — it does not single out one
structure whose own error would leak into every other residual. MM energies are
single points at the QM geometries (Q2MM's ``e`` data).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from ..errors import ConfigError
from ..model import MMSystem, Molecule
from .weights import DEFAULT_WEIGHTS


@attrs.frozen(eq=False)
class EnergyResidual:
    relative_qm: np.ndarray  # kcal/mol, mean-centred
    weights: np.ndarray
    name: str = "energy"
    needs: frozenset[str] = frozenset({"energy"})

    def evaluate(self, quantities: dict[str, Any], xp: Any) -> Any:
        energies = xp.stack([xp.asarray(e) for e in quantities["energy"]])
        return energies - xp.mean(energies) - xp.asarray(self.relative_qm)


def build(
    molecules: Sequence[Molecule],
    systems: Sequence[MMSystem],
    *,
    weight: float = DEFAULT_WEIGHTS["energy"],
) -> EnergyResidual:
    """``weight`` per kcal/mol. Every member needs a QM energy (kcal/mol)."""
    if len(molecules) < 2:
        raise ConfigError(
            f"the energy residual compares energies within a group and needs at least 2 structures, "
            f"got {len(molecules)}"
        )
    missing = [m.name or f"#{i}" for i, m in enumerate(molecules) if m.energy is None]
    if missing:
        raise ConfigError(f"the energy residual needs QM energies; missing for {', '.join(missing)}")
    qm = np.array([m.energy for m in molecules], dtype=float)
    relative = qm - qm.mean()
    weights = np.full(len(molecules), float(weight))
    for array in (relative, weights):
        array.setflags(write=False)
    return EnergyResidual(relative_qm=relative, weights=weights)
