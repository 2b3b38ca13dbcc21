"""Fit metrics reported in every result, whatever the objective's terms.

A fit is judged by the same numbers every time, in units a chemist reads:

- ``frequency_rmsd_cm1``, ``frequency_mae_cm1``: MM frequencies (paired with the QM
  modes by overlap, :mod:`q2mm.residuals.frequency`) against the QM ones, pooled over
  every structure with a QM Hessian and a declared stationary kind;
- ``eigenmatrix_diagonal_r2``: 1 − Σ(E_ii − λ_i)² / Σ(λ_i − ⟨λ⟩)², the coefficient of
  determination of the projected MM Hessian's diagonal against the QM eigenvalues;
- ``bond_rmsd_angstrom``, ``angle_rmsd_degree``: the MM-relaxed geometries against QM.

A transition state's reaction mode is left out of the Hessian metrics (its MM value
is, by design, not the QM one under method C). A metric no structure (or no engine
capability) can provide is None.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
import numpy as np

from ..model import MMSystem, Molecule
from ..protocols import Capability
from . import eigenmatrix, frequency, geometry

#: ``(x, needs) → (values, per-structure MM quantities)``.
Quantities = Callable[[np.ndarray, Sequence[frozenset[str]]], tuple[np.ndarray, list[dict[str, Any]]]]

KEYS = (
    "frequency_rmsd_cm1",
    "frequency_mae_cm1",
    "eigenmatrix_diagonal_r2",
    "bond_rmsd_angstrom",
    "angle_rmsd_degree",
)


@attrs.frozen(eq=False)
class Metrics:
    """Per structure, the residuals the metrics need, built once per objective."""

    entries: tuple[dict[str, Any], ...]

    @classmethod
    def build(
        cls, molecules: Sequence[Molecule], systems: Sequence[MMSystem], capabilities: Iterable[Capability]
    ) -> Metrics:
        capabilities = set(capabilities)
        traceable = Capability.TRACEABLE in capabilities
        hessians = traceable or Capability.HESSIAN in capabilities
        relaxations = traceable or Capability.MINIMIZE in capabilities
        return cls(
            tuple(_entry(m, s, hessians, relaxations) for m, s in zip(molecules, systems, strict=True))
        )

    @property
    def needs(self) -> list[frozenset[str]]:
        return [
            frozenset(
                ({"hessian"} if "frequency" in e else set()) | ({"relaxed"} if "geometry" in e else set())
            )
            for e in self.entries
        ]

    def compute(self, quantities: Quantities, x: np.ndarray) -> dict[str, float | None]:
        """The metrics at ``x``; ``quantities(x, needs)`` gives the MM quantities (an
        objective's :meth:`~q2mm.objective.Objective.quantities`)."""
        _, per_structure = quantities(x, self.needs)
        freq_errors, diag_errors, eigenvalues, bond_errors, angle_errors = [], [], [], [], []
        for entry, values in zip(self.entries, per_structure, strict=True):
            if "frequency" in entry:
                keep = entry["frequency"].weights > 0
                freq_errors.append(entry["frequency"].evaluate(values, np)[keep])
                eig = entry["eigenmatrix"]
                n = eig.reference.n_modes
                diag_errors.append(eig.evaluate(values, np)[:n][keep])
                eigenvalues.append(eig.reference.eigenvalues[keep])
            if "geometry" in entry:
                g = entry["geometry"]
                r = g.evaluate(values, np)
                if "bond" in g.parts:
                    bond_errors.append(r[g.parts["bond"]])
                if "angle" in g.parts:
                    angle_errors.append(r[g.parts["angle"]])
        angle_rmsd = _rms(angle_errors)
        return {
            "frequency_rmsd_cm1": _rms(freq_errors),
            "frequency_mae_cm1": float(np.mean(np.abs(np.concatenate(freq_errors)))) if freq_errors else None,
            "eigenmatrix_diagonal_r2": _r2(diag_errors, eigenvalues),
            "bond_rmsd_angstrom": _rms(bond_errors),
            "angle_rmsd_degree": None if angle_rmsd is None else math.degrees(angle_rmsd),
        }


def _entry(molecule: Molecule, system: MMSystem, hessians: bool, relaxations: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if hessians and molecule.hessian is not None and molecule.kind is not None:
        entry["frequency"] = frequency.build(molecule, system, ts_method="D")
        entry["eigenmatrix"] = eigenmatrix.build(molecule, system, ts_method="D")
    if relaxations and any(part in system.terms and len(system.terms[part]) for part in ("bond", "angle")):
        entry["geometry"] = geometry.build(molecule, system, include=("bond", "angle"))
    return entry


def _r2(diag_errors: list[np.ndarray], eigenvalues: list[np.ndarray]) -> float | None:
    if not diag_errors:
        return None
    lam = np.concatenate(eigenvalues)
    total = float(np.sum((lam - lam.mean()) ** 2))
    if total <= 0:
        return None
    return 1.0 - float(np.sum(np.concatenate(diag_errors) ** 2)) / total


def _rms(values: list[np.ndarray]) -> float | None:
    if not values or sum(v.size for v in values) == 0:
        return None
    v = np.concatenate(values)
    return float(np.sqrt(np.mean(v * v)))
