"""Fourier torsions and harmonic impropers.

The canonical torsion k (1 + cos(nφ − phase)) is ``PeriodicTorsionForce``'s
k (1 + cos(nθ − θ0)) term for term (no ½ there); OpenMM's θ is the IUPAC dihedral,
the same as the JAX engine's. The improper k (φ − φ0)² needs the difference wrapped
into (−π, π] so the spring never sees a 2π jump: atan2(sin d, cos d), as the JAX
engine writes it.
"""

from __future__ import annotations

import numpy as np
import openmm
from q2mm.errors import UnsupportedTermError
from q2mm.model import MMSystem, TermSet

from .. import units
from .base import (
    ForceTerms,
    check_arity,
    columns,
    constant,
    custom_torsion_terms,
    energy_scale,
    gather,
    slot_columns,
)


def torsion(terms: TermSet, system: MMSystem) -> list[ForceTerms]:
    check_arity(terms, 4)
    slots = slot_columns(terms, ("k", "phase"))
    scale = energy_scale(terms)
    periodicity = constant("periodicity", terms)
    n = np.rint(periodicity).astype(int)
    if len(n) and (np.any(n != periodicity) or n.min() < 1):
        raise UnsupportedTermError(
            f"openmm torsions need integer periodicities ≥ 1; got {sorted(set(periodicity.tolist()))}"
        )
    force = openmm.PeriodicTorsionForce()
    atoms = [tuple(int(a) for a in row) for row in terms.atoms]
    for quad, period in zip(atoms, n.tolist(), strict=True):
        force.addTorsion(*quad, period, 0.0, 0.0)

    def parameters(values: np.ndarray) -> np.ndarray:
        k, phase = gather(values, slots[:, 0]), gather(values, slots[:, 1])
        return columns(phase, units.energy_to_openmm(k * scale))

    def set_term(i: int, p: np.ndarray) -> None:
        force.setTorsionParameters(i, *atoms[i], int(n[i]), p[0], p[1])

    return [ForceTerms("torsion", force, parameters, set_term)]


def improper(terms: TermSet, system: MMSystem) -> list[ForceTerms]:
    """k (φ − φ0)², φ the dihedral i–j–k–l (centre i first)."""
    check_arity(terms, 4)
    slots = slot_columns(terms, ("k", "phi0"))
    scale = energy_scale(terms)
    expression = "k*d^2; d = atan2(sin(theta - phi0), cos(theta - phi0))"

    def parameters(values: np.ndarray) -> np.ndarray:
        k, phi0 = gather(values, slots[:, 0]), gather(values, slots[:, 1])
        return columns(units.energy_to_openmm(k * scale), phi0)

    return [custom_torsion_terms("improper", expression, ("k", "phi0"), terms.atoms, parameters)]
