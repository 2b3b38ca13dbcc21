"""Bond stretching and Urey–Bradley 1-3 springs.

A harmonic bond (no cubic or quartic coefficient in the conventions) and every
Urey–Bradley term go to ``HarmonicBondForce``, which is exactly k Δr² once its ½ is
paid for (k' = 2k, :mod:`..units`). MM3's anharmonic stretch,
k Δr² [1 + cs Δr + qs Δr²], is a ``CustomBondForce`` with cs and qs baked into the
expression in nm⁻¹ and nm⁻².
"""

from __future__ import annotations

import numpy as np
import openmm
from q2mm.model import MMSystem, TermSet

from .. import units
from .base import (
    ForceTerms,
    check_arity,
    columns,
    custom_bond_terms,
    energy_scale,
    gather,
    literal,
    slot_columns,
)


def _harmonic(family: str, pairs: np.ndarray, slots: np.ndarray, scale: np.ndarray) -> ForceTerms:
    force = openmm.HarmonicBondForce()
    atoms = [(int(i), int(j)) for i, j in pairs]
    for i, j in atoms:
        force.addBond(i, j, 0.0, 0.0)

    def parameters(values: np.ndarray) -> np.ndarray:
        k, r0 = gather(values, slots[:, 0]), gather(values, slots[:, 1])
        return columns(units.length_to_openmm(r0), units.harmonic_bond_constant(k * scale))

    return ForceTerms(
        family, force, parameters, lambda n, p: force.setBondParameters(n, *atoms[n], p[0], p[1])
    )


def bond(terms: TermSet, system: MMSystem) -> list[ForceTerms]:
    check_arity(terms, 2)
    slots = slot_columns(terms, ("k", "r0"))
    scale = energy_scale(terms)
    conventions = system.conventions
    if conventions.bond_cubic == 0.0 and conventions.bond_quartic == 0.0:
        return [_harmonic("bond", terms.atoms, slots, scale)]
    cs = units.inverse_length_to_openmm(conventions.bond_cubic, 1)
    qs = units.inverse_length_to_openmm(conventions.bond_quartic, 2)
    expression = f"k*d^2*(1 + d*({literal(cs)} + {literal(qs)}*d)); d = r - r0"

    def parameters(values: np.ndarray) -> np.ndarray:
        k, r0 = gather(values, slots[:, 0]), gather(values, slots[:, 1])
        return columns(units.bond_constant_to_openmm(k * scale), units.length_to_openmm(r0))

    return [custom_bond_terms("bond", expression, ("k", "r0"), terms.atoms, parameters)]


def urey_bradley(terms: TermSet, system: MMSystem) -> list[ForceTerms]:
    """k (r_ik − r0)² on the outer atoms of the angle i–j–k."""
    check_arity(terms, 3)
    slots = slot_columns(terms, ("k", "r0"))
    return [_harmonic("urey_bradley", terms.atoms[:, [0, 2]], slots, energy_scale(terms))]
