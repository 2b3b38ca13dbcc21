"""The QM Hessian in bond and angle coordinates, for stretch-bend starts.

A stretch-bend constant is a mixed derivative ∂²E/∂r∂θ: MM3's
E = (k1 Δr₁ + k2 Δr₂) Δθ has ∂²E/∂r₁∂θ = k1 exactly. Seminario's projection reads
only diagonal curvatures, so the cross terms come from the Cartesian Hessian
transformed to internal coordinates q (bond lengths in Å, angles in radians) by the
Wilson B matrix B = ∂q/∂x (Pulay's transformation, the gradient term dropped at a
stationary point):

    H_q = (B⁺)ᵀ H_x B⁺.

Bonds and angles together are redundant — three angles round a planar centre sum to
360°, a ring closes — so B is rank deficient; B⁺ is its pseudo-inverse with singular
values below ``RCOND`` of the largest dropped (kept, they give cross terms of
thousands of kcal/(mol·Å·rad) at a carbonyl carbon). Nearly linear angles
(> ``LINEAR_DEGREES``, the S_N2 F–C–F) are left out: their bending has no unique
plane, and MM3 gives them no stretch-bend.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..model.units import HESSIAN_AU_TO_KCALMOL_A2
from ..residuals.geometry import bond_angles, bond_lengths

#: Relative singular-value cutoff of the pseudo-inverse of B.
RCOND = 1e-3
#: Angles above this (degrees) count as linear.
LINEAR_DEGREES = 175.0
#: Central-difference step (Å) for B.
_STEP = 1e-5


def bent_angles(
    coordinates: np.ndarray, angles: Sequence[tuple[int, int, int]]
) -> list[tuple[int, int, int]]:
    """The angles that are not nearly linear."""
    if not len(angles):
        return []
    values = np.degrees(bond_angles(coordinates, np.asarray(angles), np))
    return [tuple(a) for a, v in zip(angles, values, strict=True) if v <= LINEAR_DEGREES]


def stretch_bend_constants(
    coordinates: np.ndarray,
    hessian: np.ndarray,
    bonds: Sequence[tuple[int, int]],
    angles: Sequence[tuple[int, int, int]],
) -> dict[tuple[int, int, int], tuple[float, float]]:
    """Per angle (i, j, k), (∂²E/∂r_ij∂θ, ∂²E/∂r_kj∂θ) in kcal/(mol·Å·rad) from the
    Cartesian Hessian (Hartree/Bohr²); ``angles`` should be :func:`bent_angles`."""
    bond_atoms = np.asarray(bonds, dtype=int).reshape(-1, 2)
    angle_atoms = np.asarray(angles, dtype=int).reshape(-1, 3)
    if not len(angle_atoms):
        return {}

    def internals(flat: np.ndarray) -> np.ndarray:
        x = flat.reshape(-1, 3)
        return np.concatenate([bond_lengths(x, bond_atoms, np), bond_angles(x, angle_atoms, np)])

    flat = np.asarray(coordinates, dtype=float).ravel()
    b = np.empty((len(bond_atoms) + len(angle_atoms), flat.size))
    for n in range(flat.size):
        step = np.zeros_like(flat)
        step[n] = _STEP
        b[:, n] = (internals(flat + step) - internals(flat - step)) / (2 * _STEP)
    b_plus = np.linalg.pinv(b, rcond=RCOND)
    h_q = b_plus.T @ (np.asarray(hessian, dtype=float) * HESSIAN_AU_TO_KCALMOL_A2) @ b_plus
    row = {frozenset(map(int, bond)): n for n, bond in enumerate(bond_atoms)}
    out = {}
    for m, (i, j, k) in enumerate(angle_atoms.tolist()):
        column = len(bond_atoms) + m
        out[(i, j, k)] = (
            float(h_q[row[frozenset((i, j))], column]),
            float(h_q[row[frozenset((k, j))], column]),
        )
    return out
