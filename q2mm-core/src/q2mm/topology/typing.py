"""Atom types for structures whose file carries none (QM outputs, plain xyz).

Keying rows by element alone makes one C–H row serve an sp³ and an sp² carbon, one
C–C–H angle serve 110° and 120° centres: no force field with one r0 and one θ0 per
row reproduces both, so the MM minimum of every molecule with mixed hybridization
misses the QM geometry (propene, element types: angle RMSD 3.3°, dihedral 20°).
Hybridization is read off the perceived bonds, and named in the SYBYL (Tripos mol2)
convention chemists know and mol2 files already carry:

=======  ===========================================================================
element  type by number of bonded neighbours
=======  ===========================================================================
C        4 → ``C.3``, 3 → ``C.2``, 2 → ``C.1``
N        4 → ``N.4``; 3 → ``N.pl3`` when planar (angle sum ≥ 350°, amides, anilines),
         else ``N.3``; 2 → ``N.2``; 1 → ``N.1``
O        2 → ``O.3``, 1 → ``O.2``
S        2 → ``S.3``, 1 → ``S.2``, 3 → ``S.O``, 4 → ``S.O2``
P        4 → ``P.3``
=======  ===========================================================================

Every other atom with one neighbour (H, halogens) or none is typed by its element
symbol; any other neighbour count the table lacks gets the count: ``H.2`` for the
hydrogen a transition state moves between two atoms, ``F.2`` for a fluoride taking a
proton while it leaves a carbon, ``C.5`` for the S_N2 carbon, ``Rh.6`` — so that a
TS's partial bonds never share a row with the ordinary bonds of the same elements
(its C···H at 1.35 Å with the C–H bonds at 1.09 Å). A perceived type still matches
rows keyed by its element (``C.3`` a ``C`` row, scored as an element class by
:class:`~q2mm.topology.assignment.RowMatcher`), so force fields keyed by element keep
working.

In a structure declared a transition state (with its Hessian), the atoms that carry
the reaction — those moving at least ``REACTING_AMPLITUDE`` of the most in the
reaction mode (:func:`q2mm.vibrations.reaction_mode`) — get ``.ts`` appended
(``H.ts``, ``C.3.ts``): a TSFF gives its reacting centre parameters of its own. In
propane's methyl-rotation TS the eclipsed methyl's H–C–C–H torsions must hold the
eclipsed conformation (V3 < 0) while the staggered methyl's hold theirs (V3 > 0); with
one shared row the two cancel and the TSFF minimum turns the methyl by 30°.
"""

from __future__ import annotations

import numpy as np

from ..model import Molecule, StationaryPoint
from ..vibrations import reaction_mode
from .perception import Topology
from .symmetry import refined_types

#: Sum of a three-bonded centre's angles (degrees) from which it counts as planar.
PLANAR_ANGLE_SUM = 350.0
#: Fraction of the largest atomic displacement in a TS's reaction mode from which an
#: atom counts as reacting (propane's rotating methyl H: 0.97-1.0; its other H: ≤ 0.51).
REACTING_AMPLITUDE = 0.6

_BY_NEIGHBOURS = {
    "C": {4: "C.3", 3: "C.2", 2: "C.1"},
    "N": {4: "N.4", 3: "N.3", 2: "N.2", 1: "N.1"},
    "O": {2: "O.3", 1: "O.2"},
    "S": {2: "S.3", 1: "S.2", 3: "S.O", 4: "S.O2"},
    "P": {4: "P.3"},
}
_PLANAR = {"N.3": "N.pl3"}


def angle_sum(coordinates: np.ndarray, centre: int, neighbours: tuple[int, ...]) -> float:
    """Sum (degrees) of the angles between the bonds from ``centre`` to each pair of
    ``neighbours``: 360° for a planar three-bonded centre, ~328° for a tetrahedral one."""
    vectors = coordinates[list(neighbours)] - coordinates[centre]
    unit = vectors / np.linalg.norm(vectors, axis=1)[:, None]
    total = 0.0
    for a in range(len(unit)):
        for b in range(a + 1, len(unit)):
            total += float(np.degrees(np.arccos(np.clip(unit[a] @ unit[b], -1.0, 1.0))))
    return total


def planar_centres(coordinates: np.ndarray, topology: Topology) -> tuple[int, ...]:
    """The three-bonded atoms whose bonds lie in one plane (angle sum ≥
    :data:`PLANAR_ANGLE_SUM`): the trigonal centres that out-of-plane terms keep flat."""
    return tuple(
        c
        for c in topology.oop_centres
        if angle_sum(coordinates, c, topology.neighbours[c]) >= PLANAR_ANGLE_SUM
    )


def perceived_types(molecule: Molecule, topology: Topology) -> tuple[str, ...]:
    """One type per atom by the module table, split by symmetry where one row cannot
    hold the structure's geometry (:mod:`q2mm.topology.symmetry`)."""
    planar = set(planar_centres(molecule.coordinates, topology))
    reacting = reacting_atoms(molecule)
    types = []
    for atom, element in enumerate(molecule.elements):
        count = len(topology.neighbours[atom])
        name = _BY_NEIGHBOURS.get(element, {}).get(count, element if count <= 1 else f"{element}.{count}")
        if atom in planar:
            name = _PLANAR.get(name, name)
        types.append(f"{name}.ts" if atom in reacting else name)
    return refined_types(types, molecule.elements, molecule.coordinates, topology)


def reacting_atoms(molecule: Molecule) -> frozenset[int]:
    """The atoms of a declared transition state that move at least
    :data:`REACTING_AMPLITUDE` of the most in its reaction mode (none for other
    structures or without a Hessian)."""
    if molecule.stationary_point != StationaryPoint.TRANSITION_STATE or molecule.hessian is None:
        return frozenset()
    (_, vectors), mode = reaction_mode(molecule.hessian, molecule.coordinates, molecule.name or "?")
    amplitude = np.linalg.norm(vectors[:, mode].reshape(-1, 3), axis=1)
    return frozenset(int(a) for a in np.flatnonzero(amplitude >= REACTING_AMPLITUDE * amplitude.max()))
