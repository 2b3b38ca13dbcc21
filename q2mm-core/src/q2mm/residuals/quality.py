"""The quality verdict: is the fitted force field physically right, structure by
structure — not only did the optimizer stop.

An optimizer's ``converged`` says that its own criterion was met; it says nothing
about whether the force field reproduces the QM data or whether the MM minimum lies
where the QM structure does. A TSFF whose minimum drifted off the transition state,
or a fit whose frequencies match while an angle moved 20°, is wrong however well the
optimizer converged. So every structure is judged on its own metrics
(:data:`q2mm.residuals.metrics.STRUCTURE_KEYS`) against :class:`QualityThresholds`,
and the fit is ``good`` only when every structure is. Each failed check is a reason,
in words and numbers; for a transition state a geometry reason says that the TSFF's
minimum is not at the TS. A metric a structure cannot provide (no QM Hessian, an
engine without relaxations) is not judged.

Default thresholds (configurable under ``[quality]``):

========================  ========  ============================================
metric                    limit     why
========================  ========  ============================================
eigenmatrix diagonal R²   ≥ 0.99    the Q2MM target itself, real modes only
frequency MAE             ≤ 40 cm⁻¹ real modes, paired with QM by overlap
bond RMSD (MM minimum)    ≤ 0.005 Å a TSFF's minimum must sit at the TS
angle RMSD                ≤ 0.5°
dihedral RMSD             ≤ 2°      soft coordinates move most
lowest MM frequency       ≥ 0 cm⁻¹  at the MM minimum: a negative (imaginary) one
                                    makes the force field's stationary point near the
                                    QM structure a saddle
========================  ========  ============================================
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ..model import StationaryPoint

GOOD, POOR = "good", "poor"


@attrs.frozen
class QualityThresholds:
    min_eigenmatrix_r2: float = 0.99
    max_frequency_mae_cm1: float = 40.0
    max_bond_rmsd_angstrom: float = 0.005
    max_angle_rmsd_degree: float = 0.5
    max_dihedral_rmsd_degree: float = 2.0
    min_mm_frequency_cm1: float = 0.0


#: metric → (threshold field, True when it is a lower limit, how to write it).
_CHECKS = {
    "eigenmatrix_diagonal_r2": ("min_eigenmatrix_r2", True, "eigenmatrix R² {value:.4f} < {limit:g}"),
    "frequency_mae_cm1": ("max_frequency_mae_cm1", False, "frequency MAE {value:.1f} cm⁻¹ > {limit:g}"),
    "bond_rmsd_angstrom": ("max_bond_rmsd_angstrom", False, "bond RMSD {value:.4f} Å > {limit:g}"),
    "angle_rmsd_degree": ("max_angle_rmsd_degree", False, "angle RMSD {value:.2f}° > {limit:g}"),
    "dihedral_rmsd_degree": ("max_dihedral_rmsd_degree", False, "dihedral RMSD {value:.2f}° > {limit:g}"),
    "lowest_mm_frequency_cm1": (
        "min_mm_frequency_cm1",
        True,
        "lowest MM frequency {value:.1f} cm⁻¹ < {limit:g} (a saddle of the force field, not a minimum)",
    ),
}
_GEOMETRY = {"bond_rmsd_angstrom", "angle_rmsd_degree", "dihedral_rmsd_degree"}


def _fails(metric: str, value: float, thresholds: QualityThresholds) -> bool:
    field, lower, _ = _CHECKS[metric]
    limit = getattr(thresholds, field)
    return value < limit if lower else value > limit


def reasons(
    metrics: Mapping[str, float | None], kind: StationaryPoint | str | None, thresholds: QualityThresholds
) -> list[str]:
    """Why one structure's fit is poor (empty: it is good)."""
    out = []
    for metric, value in metrics.items():
        if value is None or not _fails(metric, value, thresholds):
            continue
        field, _, text = _CHECKS[metric]
        reason = text.format(value=value, limit=getattr(thresholds, field))
        if metric in _GEOMETRY and kind == StationaryPoint.TRANSITION_STATE:
            reason += " (the TSFF minimum is not at the TS)"
        out.append(reason)
    return out


def verdict(structure_reasons: Mapping[str, list[str]], status: str) -> tuple[str, list[str]]:
    """The fit's quality and its reasons, ``structure: reason``; a failed fit is poor."""
    found = [f"{name}: {r}" for name, rs in structure_reasons.items() for r in rs]
    if status == "failed":
        found.insert(0, "the fit failed")
    return (POOR if found else GOOD), found
