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
from typing import Any

import numpy as np

from ..protocols import Capability
from . import eigenmatrix, frequency, geometry

KEYS = (
    "frequency_rmsd_cm1",
    "frequency_mae_cm1",
    "eigenmatrix_diagonal_r2",
    "bond_rmsd_angstrom",
    "angle_rmsd_degree",
)


def _metric_residuals(objective: Any) -> list[dict[str, Any]]:
    """Per structure: the residuals the metrics need (built once, cached)."""
    cached = getattr(objective, "_metric_residuals", None)
    if cached is not None:
        return cached
    capabilities = set(objective.engine.capabilities)
    traceable = Capability.TRACEABLE in capabilities
    hessians = traceable or Capability.HESSIAN in capabilities
    relaxations = traceable or Capability.MINIMIZE in capabilities
    out = []
    for molecule, system in zip(objective.molecules, objective.systems, strict=True):
        entry: dict[str, Any] = {}
        if hessians and molecule.hessian is not None and molecule.kind is not None:
            entry["frequency"] = frequency.build(molecule, system, ts_method="D")
            entry["eigenmatrix"] = eigenmatrix.build(molecule, system, ts_method="D")
        if relaxations and any(
            part in system.terms and len(system.terms[part]) for part in ("bond", "angle")
        ):
            entry["geometry"] = geometry.build(molecule, system, include=("bond", "angle"))
        out.append(entry)
    objective._metric_residuals = out
    return out


def _rms(values: list[np.ndarray]) -> float | None:
    if not values or sum(v.size for v in values) == 0:
        return None
    v = np.concatenate(values)
    return float(np.sqrt(np.mean(v * v)))


def compute_metrics(objective: Any, x: np.ndarray) -> dict[str, float | None]:
    residuals = _metric_residuals(objective)
    needs = [
        frozenset(({"hessian"} if "frequency" in e else set()) | ({"relaxed"} if "geometry" in e else set()))
        for e in residuals
    ]
    _, mm = objective.quantities(x, needs)
    freq_errors, diag_errors, eigenvalues, bond_errors, angle_errors = [], [], [], [], []
    for entry, quantities in zip(residuals, mm, strict=True):
        if "frequency" in entry:
            keep = entry["frequency"].weights > 0
            freq_errors.append(entry["frequency"].evaluate(quantities, np)[keep])
            eig = entry["eigenmatrix"]
            n = eig.reference.n_modes
            diag_errors.append(eig.evaluate(quantities, np)[:n][keep])
            eigenvalues.append(eig.reference.eigenvalues[keep])
        if "geometry" in entry:
            g = entry["geometry"]
            r = g.evaluate(quantities, np)
            if "bond" in g.parts:
                bond_errors.append(r[g.parts["bond"]])
            if "angle" in g.parts:
                angle_errors.append(r[g.parts["angle"]])
    r2 = None
    if diag_errors:
        lam = np.concatenate(eigenvalues)
        total = float(np.sum((lam - lam.mean()) ** 2))
        if total > 0:
            r2 = 1.0 - float(np.sum(np.concatenate(diag_errors) ** 2)) / total
    angle_rmsd = _rms(angle_errors)
    return {
        "frequency_rmsd_cm1": _rms(freq_errors),
        "frequency_mae_cm1": float(np.mean(np.abs(np.concatenate(freq_errors)))) if freq_errors else None,
        "eigenmatrix_diagonal_r2": r2,
        "bond_rmsd_angstrom": _rms(bond_errors),
        "angle_rmsd_degree": None if angle_rmsd is None else math.degrees(angle_rmsd),
    }
