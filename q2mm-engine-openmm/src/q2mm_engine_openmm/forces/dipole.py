"""MM3 bond-dipole electrostatics: dipole–dipole and charge–dipole.

Every pair of bond dipoles that share no atom interacts (Tinker's edipole rule, the
JAX engine's choice): for dipoles a (atoms 1→2) and b (atoms 3→4), each sitting at its
``position`` fraction along its bond (0.5 when the row gives none),

E = electric μ_a μ_b (cos χ − 3 cos α_a cos α_b) / (D r³)

with r the vector between the dipole sites, χ the angle between the dipoles and α the
angles each makes with r. A point charge q interacts with every bond dipole that
neither contains it nor contains an atom bonded to it (Tinker's echgdpl rule):

E = electric q μ (d̂·r) / (D r³)

with d̂ along the dipole's bond and r from the charge to the dipole's site. One
``CustomCompoundBondForce`` term (4 or 3 particles) per pair, written out in
coordinates.
"""

from __future__ import annotations

import itertools

import numpy as np
from q2mm.model import MMSystem, TermSet

from .. import units
from .base import ForceTerms, check_arity, columns, compound_terms, gather, slot_columns

#: Where along its bond a dipole sits when the force field gives no position.
DEFAULT_POSITION = 0.5

_EXPRESSION = "; ".join(
    [
        "mm*(ab - 3*ar*br/r2)/(la*lb*r2*sqrt(r2))",
        "ab = ax*bx + ay*by + az*bz",
        "ar = ax*rx + ay*ry + az*rz",
        "br = bx*rx + by*ry + bz*rz",
        "r2 = rx*rx + ry*ry + rz*rz",
        "la = sqrt(ax*ax + ay*ay + az*az)",
        "lb = sqrt(bx*bx + by*by + bz*bz)",
        *(f"r{c} = {c}3 + sb*b{c} - {c}1 - sa*a{c}" for c in "xyz"),
        *(f"a{c} = {c}2 - {c}1" for c in "xyz"),
        *(f"b{c} = {c}4 - {c}3" for c in "xyz"),
    ]
)


_CHARGE_EXPRESSION = "; ".join(
    [
        "pre*(dx*rx + dy*ry + dz*rz)/(sqrt(dx*dx + dy*dy + dz*dz)*r2*sqrt(r2))",
        "r2 = rx*rx + ry*ry + rz*rz",
        *(f"r{c} = {c}2 + s*d{c} - {c}1" for c in "xyz"),
        *(f"d{c} = {c}3 - {c}2" for c in "xyz"),
    ]
)


def _moments(values: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each dipole's moment (e·nm) and position fraction."""
    return units.dipole_moment_to_openmm(gather(values, own[:, 0])), gather(
        values, own[:, 1], DEFAULT_POSITION
    )


def dipole(terms: TermSet, system: MMSystem) -> list[ForceTerms]:
    check_arity(terms, 2)
    own = slot_columns(terms, ("moment", "position"), optional=("position",))
    pairs = [
        (a, b)
        for a, b in itertools.combinations(range(len(terms)), 2)
        if not set(terms.atoms[a].tolist()) & set(terms.atoms[b].tolist())
    ]
    if not pairs:
        return []
    ia, ib = np.array(pairs).T
    atoms = np.concatenate([terms.atoms[ia], terms.atoms[ib]], axis=1)
    cv = system.conventions
    prefactor = units.coulomb_constant_to_openmm(cv.electric / cv.dielectric)

    def parameters(values: np.ndarray) -> np.ndarray:
        moment, position = _moments(values, own)
        return columns(prefactor * moment[ia] * moment[ib], position[ia], position[ib])

    return [compound_terms("dipole", _EXPRESSION, ("mm", "sa", "sb"), atoms, parameters)]


def _bonded_pairs(system: MMSystem) -> set[tuple[int, int]]:
    """1-2 pairs (both orders): the molecule's bonds and the bond terms'."""
    bonds = [tuple(b) for b in system.molecule.bonds or ()]
    if "bond" in system.terms:
        bonds += [tuple(b) for b in system.terms["bond"].atoms.tolist()]
    return {(i, j) for i, j in bonds} | {(j, i) for i, j in bonds}


def charge_dipole(system: MMSystem) -> list[ForceTerms]:
    """Point charges (``MMSystem.nonbonded.charge_slots``) with bond dipoles, particles
    (charge, dipole start, dipole end)."""
    nb, terms = system.nonbonded, system.terms.get("dipole")
    if nb is None or terms is None or not len(terms) or not (nb.charge_slots >= 0).any():
        return []
    own = slot_columns(terms, ("moment", "position"), optional=("position",))
    bonded = _bonded_pairs(system)
    rows = [
        (q, d)
        for q in np.flatnonzero(nb.charge_slots >= 0).tolist()
        for d, (i, j) in enumerate(terms.atoms.tolist())
        if q not in (i, j) and (q, i) not in bonded and (q, j) not in bonded
    ]
    if not rows:
        return []
    q, d = np.array(rows).T
    atoms = np.concatenate([q[:, None], terms.atoms[d]], axis=1)
    cv = system.conventions
    prefactor = units.coulomb_constant_to_openmm(cv.electric / cv.dielectric)
    charge_slots = nb.charge_slots[q]

    def parameters(values: np.ndarray) -> np.ndarray:
        moment, position = _moments(values, own)
        return columns(prefactor * values[charge_slots] * moment[d], position[d])

    return [compound_terms("charge_dipole", _CHARGE_EXPRESSION, ("pre", "s"), atoms, parameters)]
