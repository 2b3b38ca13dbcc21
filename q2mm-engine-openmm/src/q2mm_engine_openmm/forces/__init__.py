"""The term families the OpenMM engine evaluates, one module per family, and the
assembly of every force of one structure.

``BONDED`` maps a ``MMSystem.terms`` kind to the function building its forces;
van der Waals and charges come from ``MMSystem.nonbonded``. ``FAMILIES`` lists the
names the forces report their energies under (one OpenMM force group each).
"""

from __future__ import annotations

import attrs
from q2mm.errors import UnsupportedTermError
from q2mm.model import MMSystem

from . import bend, dipole, nonbonded, stretch, torsion
from .base import ForceTerms
from .nonbonded import ReducedCentres

BONDED = {
    "bond": stretch.bond,
    "urey_bradley": stretch.urey_bradley,
    "angle": bend.angle,
    "strbnd": bend.strbnd,
    "opbend": bend.opbend,
    "torsion": torsion.torsion,
    "improper": torsion.improper,
    "dipole": dipole.dipole,
}

#: Force-field term kinds (``q2mm.model.forcefield.TERM_KINDS`` names) the engine evaluates.
TERM_KINDS = frozenset({*BONDED, "vdw", "vdw_pair", "charge"})

#: Energy families, in force-group order.
FAMILIES = (*BONDED, "vdw", "charge", "charge_dipole")


@attrs.frozen(eq=False)
class Forces:
    """Every force of one structure, and the virtual sites carrying reduced vdW centres."""

    terms: list[ForceTerms]
    centres: ReducedCentres | None


def build_forces(system: MMSystem) -> Forces:
    """Every force of ``system``. Raises UnsupportedTermError naming any term kind,
    field or interaction the engine cannot evaluate."""
    forces: list[ForceTerms] = []
    for kind, terms in system.terms.items():
        if not len(terms):
            continue
        if kind not in BONDED:
            raise UnsupportedTermError(f"the openmm engine cannot evaluate {kind!r} terms")
        forces.extend(BONDED[kind](terms, system))
    forces.extend(dipole.charge_dipole(system))
    nb = system.nonbonded
    centres = None
    if nb is not None and len(nb.pairs):
        vdw_terms, centres = nonbonded.vdw(nb, system.conventions, system.molecule.n_atoms)
        forces.extend(vdw_terms)
        forces.extend(nonbonded.charge(nb, system.conventions))
    return Forces(forces, centres if centres is not None and len(centres) else None)


__all__ = ["BONDED", "FAMILIES", "TERM_KINDS", "ForceTerms", "Forces", "ReducedCentres", "build_forces"]
