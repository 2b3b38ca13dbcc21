"""Every conversion between q2mm's canonical units and OpenMM's, in one place.

q2mm works in kcal/mol, Å and radians with E = k Δx² (no ½); OpenMM works in kJ/mol,
nm and radians, and its built-in harmonic forces (``HarmonicBondForce``,
``HarmonicAngleForce``) are E = ½ k' Δx². Everything the engine hands to OpenMM —
per-term parameters, constants baked into custom energy expressions, positions,
step sizes, tolerances — goes through a function here, and everything it reads back
(energies, forces, finite-difference Hessians) comes back through one, so no other
module multiplies by 4.184 or 10. The constants themselves are q2mm's
(:mod:`q2mm.model.units`).

A quantity of unit kcal^a · mol^-a · Å^b becomes kJ^a · mol^-a · nm^b: one factor
:func:`factor` ``(energy=a, length=b)``. Angles are radians on both sides.
"""

from __future__ import annotations

import numpy as np
from q2mm.model.units import DEBYE_TO_E_A, HESSIAN_AU_TO_KCALMOL_A2, KCAL_TO_KJ, NM_TO_ANGSTROM

#: OpenMM's built-in harmonic forces carry a ½ that the canonical convention does not:
#: ½ k' Δx² = k Δx² ⇒ k' = 2 k.
HARMONIC_HALF = 2.0


def factor(energy: int = 0, length: int = 0) -> float:
    """Multiplier taking kcal^energy·Å^length (per mol) to kJ^energy·nm^length."""
    return KCAL_TO_KJ**energy * (1.0 / NM_TO_ANGSTROM) ** length


# --- canonical → OpenMM ---------------------------------------------------------


def energy_to_openmm(value):
    """kcal/mol → kJ/mol (energies and energy prefactors of angle-only terms)."""
    return value * factor(energy=1)


def length_to_openmm(value):
    """Å → nm (distances, ideal bond lengths, r*, positions, step sizes)."""
    return value * factor(length=1)


def inverse_length_to_openmm(value, power: int = 1):
    """Å⁻ⁿ → nm⁻ⁿ (the MM3 bond cubic and quartic coefficients)."""
    return value * factor(length=-power)


def bond_constant_to_openmm(value):
    """kcal/(mol·Å²) → kJ/(mol·nm²), same convention (custom forces written E = k Δr²)."""
    return value * factor(energy=1, length=-2)


def harmonic_bond_constant(value):
    """Canonical bond k → ``HarmonicBondForce`` k' (kJ/(mol·nm²), with the ½)."""
    return HARMONIC_HALF * bond_constant_to_openmm(value)


def harmonic_angle_constant(value):
    """Canonical angle k (kcal/(mol·rad²)) → ``HarmonicAngleForce`` k' (kJ/(mol·rad²), with the ½)."""
    return HARMONIC_HALF * energy_to_openmm(value)


def stretch_bend_constant_to_openmm(value):
    """kcal/(mol·Å·rad) → kJ/(mol·nm·rad)."""
    return value * factor(energy=1, length=-1)


def coulomb_constant_to_openmm(value):
    """Coulomb constant kcal·Å/(mol·e²) → kJ·nm/(mol·e²)."""
    return value * factor(energy=1, length=1)


def dipole_moment_to_openmm(value_debye):
    """Bond dipole moment debye → e·nm (the unit the Coulomb constant above pairs with)."""
    return value_debye * DEBYE_TO_E_A * factor(length=1)


def gradient_to_openmm(value):
    """kcal/(mol·Å) → kJ/(mol·nm) (minimizer tolerances)."""
    return value * factor(energy=1, length=-1)


def positions_to_openmm(coordinates: np.ndarray) -> np.ndarray:
    """(n, 3) Å → (n, 3) nm."""
    return np.asarray(coordinates, dtype=float) * factor(length=1)


# --- OpenMM → canonical ---------------------------------------------------------


def energy_from_openmm(value: float) -> float:
    """kJ/mol → kcal/mol."""
    return value / factor(energy=1)


def positions_from_openmm(positions_nm: np.ndarray) -> np.ndarray:
    """(n, 3) nm → (n, 3) Å."""
    return np.asarray(positions_nm, dtype=float) / factor(length=1)


def gradient_from_forces(forces_kj_nm: np.ndarray) -> np.ndarray:
    """OpenMM forces (kJ/(mol·nm)) → the energy gradient ∂E/∂x in kcal/(mol·Å)."""
    return -np.asarray(forces_kj_nm, dtype=float) / factor(energy=1, length=-1)


def curvature_from_openmm(hessian_kj_nm2: np.ndarray) -> np.ndarray:
    """Second derivatives kJ/(mol·nm²) → kcal/(mol·Å²)."""
    return np.asarray(hessian_kj_nm2, dtype=float) / factor(energy=1, length=-2)


def hessian_from_openmm(hessian_kj_nm2: np.ndarray) -> np.ndarray:
    """Cartesian Hessian kJ/(mol·nm²) → Hartree/Bohr², the unit QM Hessians come in."""
    return curvature_from_openmm(hessian_kj_nm2) / HESSIAN_AU_TO_KCALMOL_A2
