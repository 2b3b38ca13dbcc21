"""``report-data.npz``: the per-structure arrays the HTML report plots, computed once
at the end of a run from the prepared objective at the final parameters.

Why a file and not a recomputation in ``q2mm report``: re-preparing a run means
reading every QM file, building the engine and (for JAX) compiling — 16 s for the
nine Rh structures — while the arrays themselves are small. Storing them keeps
``q2mm report RESULT_DIR`` a pure function of the result folder: fast, engine-free,
and possible on a machine that has none of the plugins the fit used.

Keys are ``"<structure index>/<name>"``:

- ``elements``; for a structure with a QM Hessian: ``qm_frequencies`` and
  ``mm_frequencies`` (cm⁻¹, the MM mode paired with each QM mode by overlap,
  :func:`q2mm.vibrations.match_modes`), ``overlap`` (|cos| of each pair),
  ``eigenmatrix`` (E_MM = Vᵀ M^−½ H_MM M^−½ V at the QM geometry, float32),
  ``qm_eigenvalues``, ``targets`` (what the fit's eigenmatrix diagonal aimed at: a
  TS's reaction mode replaced under method C), ``reaction_mode`` (−1: none);
- for a structure the engine relaxes: ``<part>_atoms``, ``<part>_qm`` and
  ``<part>_mm`` per part (bond Å, angle and torsion degrees) of the MM minimum.
"""

from __future__ import annotations

import numpy as np

from ..residuals.eigenmatrix import EigenmatrixResidual
from ..residuals.geometry import bond_angles, bond_lengths, torsion_angles
from ..residuals.reference import ModeReference
from ..vibrations import match_modes, normal_modes, to_wavenumbers
from .prepare import Prepared

_MEASURES = {"bond": bond_lengths, "angle": bond_angles, "torsion": torsion_angles}


def collect(prepared: Prepared, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every structure's arrays at ``x`` (one engine pass: Hessians and relaxations)."""
    objective = prepared.objective
    plan = objective.metrics_plan
    _, quantities = objective.quantities(x, plan.needs)
    fitted = _fit_references(objective)
    out: dict[str, np.ndarray] = {}
    for i, (molecule, entry, values) in enumerate(
        zip(prepared.molecules, plan.entries, quantities, strict=True)
    ):
        out[f"{i}/elements"] = np.array(molecule.elements)
        if "eigenmatrix" in entry:
            reference = entry["eigenmatrix"].reference
            modes = _modes(reference, values["hessian"], molecule.coordinates, fitted.get(i, reference))
            out.update({f"{i}/{k}": v for k, v in modes.items()})
        if "geometry" in entry:
            out.update({f"{i}/{k}": v for k, v in _geometry(entry["geometry"], values["relaxed"]).items()})
    return out


def _fit_references(objective) -> dict[int, ModeReference]:
    """Per structure, the QM reference the fit's own eigenmatrix term used (its TS
    method's targets), where it has one."""
    return {
        b.structures[0]: b.residual.reference
        for b in objective.weighting.bound
        if isinstance(b.residual, EigenmatrixResidual) and len(b.structures) == 1
    }


def _modes(reference: ModeReference, hessian, coordinates, fitted: ModeReference) -> dict[str, np.ndarray]:
    mm = normal_modes(np.asarray(hessian, dtype=float), coordinates, reference.masses)
    qm_vectors = reference.modes.T
    order = match_modes(qm_vectors, mm.vectors)
    return {
        "qm_frequencies": to_wavenumbers(reference.eigenvalues),
        "mm_frequencies": mm.frequencies[order],
        "overlap": np.abs(np.sum(qm_vectors * mm.vectors[order], axis=1)),
        "eigenmatrix": reference.projected(np.asarray(hessian, dtype=float), np).astype(np.float32),
        "qm_eigenvalues": np.asarray(reference.eigenvalues),
        "targets": np.asarray(fitted.targets),
        "reaction_mode": np.array(-1 if reference.reaction_mode is None else reference.reaction_mode),
    }


def _geometry(residual, relaxed) -> dict[str, np.ndarray]:
    out = {}
    relaxed = np.asarray(relaxed, dtype=float)
    for part, atoms in residual.atoms.items():
        qm = np.asarray(residual.reference[part], dtype=float)
        mm = np.asarray(_MEASURES[part](relaxed, atoms, np), dtype=float)
        if part != "bond":
            qm, mm = np.degrees(qm), np.degrees(mm)
        out.update({f"{part}_atoms": np.asarray(atoms), f"{part}_qm": qm, f"{part}_mm": mm})
    return out
