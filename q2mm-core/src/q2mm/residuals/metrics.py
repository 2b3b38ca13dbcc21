"""Fit metrics reported in every result, whatever the objective's terms.

A fit is judged by the same numbers every time, in units a chemist reads:

- ``frequency_rmsd_cm1``, ``frequency_mae_cm1``: MM frequencies (paired with the QM
  modes by overlap, :mod:`q2mm.residuals.frequency`) against the QM ones, pooled over
  every structure with a QM Hessian and a declared stationary kind;
- ``eigenmatrix_diagonal_r2``: 1 − Σ(E_ii − λ_i)² / Σ(λ_i − ⟨λ⟩)², the coefficient of
  determination of the projected MM Hessian's diagonal against the QM eigenvalues;
- ``bond_rmsd_angstrom``, ``angle_rmsd_degree``: the MM-relaxed geometries against QM.

Each structure also gets its own (:data:`STRUCTURE_KEYS`, with the dihedral RMSD of
its relaxed geometry and the lowest MM frequency at that relaxed geometry — negative,
i.e. imaginary, when the stationary point the force field has near the QM structure
is a saddle, which a small eigenmatrix error on a soft mode can hide), which the
quality verdict (:mod:`q2mm.residuals.quality`) judges. The curvature is judged at
the MM minimum, not at the QM geometry: where the two differ, the Cartesian Hessian
at the QM geometry carries the forces there (gradient × the curvature of the
internal coordinates), which turn soft modes negative without any saddle — measured
on the nine Rh-enamide TSs fitted with the default objective: methyl torsions at
−254 to −293 cm⁻¹ at the QM geometries (MM forces up to 124 kcal/(mol·Å) there),
every frequency real (lowest 16–40 cm⁻¹) at the MM minima 0.022–0.027 Å away.

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
from ..vibrations import normal_modes
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
#: Each structure's own metrics, what the quality verdict judges.
STRUCTURE_KEYS = (
    "eigenmatrix_diagonal_r2",
    "frequency_mae_cm1",
    "bond_rmsd_angstrom",
    "angle_rmsd_degree",
    "dihedral_rmsd_degree",
    "lowest_mm_frequency_cm1",
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
                ({"hessian"} if "frequency" in e else set())
                | ({"relaxed"} if "geometry" in e else set())
                | ({"relaxed_hessian"} if {"frequency", "geometry"} <= e.keys() else set())
            )
            for e in self.entries
        ]

    def errors(self, quantities: Quantities, x: np.ndarray) -> list[Errors]:
        """Per structure, the QM-vs-MM differences the metrics are made of, at ``x``;
        ``quantities(x, needs)`` gives the MM quantities (an objective's
        :meth:`~q2mm.objective.Objective.quantities`)."""
        _, per_structure = quantities(x, self.needs)
        return [_errors(entry, values) for entry, values in zip(self.entries, per_structure, strict=True)]

    def compute(self, quantities: Quantities, x: np.ndarray) -> dict[str, float | None]:
        """The pooled metrics (:data:`KEYS`) at ``x``."""
        return pooled(self.errors(quantities, x))


@attrs.frozen(eq=False)
class Errors:
    """One structure's QM-vs-MM differences (empty where it has none of that kind):
    frequencies (cm⁻¹) and eigenmatrix diagonal (with the QM eigenvalues it is
    compared to) over the modes the metrics count, relaxed-geometry bonds (Å),
    angles and dihedrals (radians), and the MM frequencies at the relaxed geometry
    (cm⁻¹, every vibrational mode)."""

    frequency: np.ndarray
    minimum_frequencies: np.ndarray
    diagonal: np.ndarray
    eigenvalues: np.ndarray
    bond: np.ndarray
    angle: np.ndarray
    dihedral: np.ndarray


def _errors(entry: dict[str, Any], values: dict[str, Any]) -> Errors:
    empty = np.zeros(0)
    found = {"frequency": empty, "minimum_frequencies": empty, "diagonal": empty, "eigenvalues": empty}
    if "frequency" in entry:
        keep = entry["frequency"].weights > 0
        eig = entry["eigenmatrix"]
        found = {
            "frequency": entry["frequency"].evaluate(values, np)[keep],
            "minimum_frequencies": empty,
            "diagonal": eig.evaluate(values, np)[: eig.reference.n_modes][keep],
            "eigenvalues": eig.reference.eigenvalues[keep],
        }
    if "relaxed_hessian" in values:
        reference = entry["frequency"].reference
        found["minimum_frequencies"] = normal_modes(
            values["relaxed_hessian"], values["relaxed"], reference.masses
        ).frequencies
    parts = {"bond": empty, "angle": empty, "dihedral": empty}
    if "geometry" in entry:
        g = entry["geometry"]
        r = g.evaluate(values, np)
        for part, name in (("bond", "bond"), ("angle", "angle"), ("torsion", "dihedral")):
            if part in g.parts:
                parts[name] = r[g.parts[part]]
    return Errors(**found, **parts)


def _r2(diagonal: np.ndarray, eigenvalues: np.ndarray) -> float | None:
    if diagonal.size == 0:
        return None
    total = float(np.sum((eigenvalues - eigenvalues.mean()) ** 2))
    if total <= 0:
        return None
    return 1.0 - float(np.sum(diagonal**2)) / total


def _mean_abs(v: np.ndarray) -> float | None:
    return float(np.mean(np.abs(v))) if v.size else None


def _degrees(value: float | None) -> float | None:
    return None if value is None else math.degrees(value)


def _join(errors: Sequence[Errors], field: str) -> np.ndarray:
    return np.concatenate([np.zeros(0), *(getattr(e, field) for e in errors)])


def pooled(errors: Sequence[Errors]) -> dict[str, float | None]:
    """The metrics over every structure at once (:data:`KEYS`)."""
    return {
        "frequency_rmsd_cm1": _rms(_join(errors, "frequency")),
        "frequency_mae_cm1": _mean_abs(_join(errors, "frequency")),
        "eigenmatrix_diagonal_r2": _r2(_join(errors, "diagonal"), _join(errors, "eigenvalues")),
        "bond_rmsd_angstrom": _rms(_join(errors, "bond")),
        "angle_rmsd_degree": _degrees(_rms(_join(errors, "angle"))),
    }


def per_structure(errors: Errors) -> dict[str, float | None]:
    """One structure's metrics (:data:`STRUCTURE_KEYS`)."""
    return {
        "eigenmatrix_diagonal_r2": _r2(errors.diagonal, errors.eigenvalues),
        "frequency_mae_cm1": _mean_abs(errors.frequency),
        "bond_rmsd_angstrom": _rms(errors.bond),
        "angle_rmsd_degree": _degrees(_rms(errors.angle)),
        "dihedral_rmsd_degree": _degrees(_rms(errors.dihedral)),
        "lowest_mm_frequency_cm1": (
            float(errors.minimum_frequencies.min()) if errors.minimum_frequencies.size else None
        ),
    }


def _entry(molecule: Molecule, system: MMSystem, hessians: bool, relaxations: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if hessians and molecule.hessian is not None and molecule.stationary_point is not None:
        entry["frequency"] = frequency.build(molecule, system, ts_method="D")
        entry["eigenmatrix"] = eigenmatrix.build(molecule, system, ts_method="D")
    if relaxations and any(part in system.terms and len(system.terms[part]) for part in ("bond", "angle")):
        entry["geometry"] = geometry.build(molecule, system, include=("bond", "angle", "torsion"))
    return entry


def _rms(v: np.ndarray) -> float | None:
    return float(np.sqrt(np.mean(v * v))) if v.size else None
