"""Which atoms are bonded, and the angles, torsions and out-of-plane centres that follow.

Bonds come from one of two places, in this order of precedence:

1. **The input file.** When the structure file carried bonds (mol2, MacroModel .mae,
   Tinker xyz), they are the user's declaration of the model's connectivity and are
   used as they are — no geometric perception is added on top.
2. **Geometry**, for files without bonds (plain xyz, QM outputs), by :class:`BondRules`:

   - *covalent*: atoms i, j are bonded when ``d ≤ rᵢ + rⱼ + tolerance`` with the
     single-bond covalent radii of Cordero et al. (2008) and ``tolerance`` 0.45 Å
     (the additive slack Open Babel and Jmol use). Metal–ligand bonds need nothing
     special: Cordero's metal radii already describe them (Rh–P, Rh–O, Rh–C and Rh–H
     of the Rh-enamide transition states all fall inside this rule).
   - *partial* (only for structures **declared** transition states): two atoms that
     are not already within two bonds of each other are bonded when
     ``d ≤ rᵢ + rⱼ + partial_tolerance`` (0.75 Å). A forming/breaking bond of a TS is
     0.5–0.7 Å longer than a covalent one (the S_N2 C···F at 1.85 Å, the Rh-enamide
     migrating C···H at 1.69–1.74 Å: 0.52 and 0.62–0.67 Å beyond the radii sum), while
     every other pair more than two bonds apart in these structures is at least 1.1 Å
     beyond it. Pairs within two bonds are left out so that 1-3 contacts (0.87 Å for
     P–C–C, less across small rings) never turn into bonds.

Either way the user has the last word: ``extra_bonds`` are added and
``excluded_bonds`` removed (before the partial-bond pass, so that removing a contact
can expose a partial bond). Some connectivity is a modelling choice no distance rule
can make: the Rh-enamide TSFF represents the η²-alkene by a single Rh–Cα bond although
Rh–Cβ is the *shorter* contact (2.29 vs 2.35 Å), so that structure needs
``excluded_bonds=[(Rh, Cβ)]`` when it is read from a file without bonds.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import numpy as np

from ..errors import ConfigError
from ..model import Molecule, StationaryPoint
from ..model import elements as _elements


def _pairs(value: Iterable[Iterable[int]]) -> tuple[tuple[int, int], ...]:
    out = []
    for pair in value:
        i, j = (int(a) for a in pair)
        out.append((min(i, j), max(i, j)))
    return tuple(sorted(set(out)))


@attrs.frozen
class BondRules:
    """How bonds are perceived for structures whose file carried none (see module doc).
    Distances in Å; atom indices 0-based."""

    tolerance: float = 0.45
    partial_tolerance: float = 0.75
    extra_bonds: tuple[tuple[int, int], ...] = attrs.field(default=(), converter=_pairs)
    excluded_bonds: tuple[tuple[int, int], ...] = attrs.field(default=(), converter=_pairs)
    use_input_bonds: bool = True


@attrs.frozen(eq=False)
class Topology:
    """Connectivity of one structure and the bonded terms it implies.

    ``bonds`` (i < j); ``angles`` (i, j, k) with centre j and i < k; ``torsions``
    (i, j, k, l) about bond j–k, each listed once with i < l (three-membered rings,
    where i == l, have none); ``oop_centres``: atoms with exactly three neighbours,
    the centres of out-of-plane bending."""

    n_atoms: int
    bonds: tuple[tuple[int, int], ...]
    angles: tuple[tuple[int, int, int], ...]
    torsions: tuple[tuple[int, int, int, int], ...]
    oop_centres: tuple[int, ...]
    neighbours: tuple[tuple[int, ...], ...]

    @classmethod
    def from_bonds(cls, n_atoms: int, bonds: Iterable[Iterable[int]]) -> Topology:
        bonds = _pairs(bonds)
        for i, j in bonds:
            if i == j or not (0 <= i < n_atoms and 0 <= j < n_atoms):
                raise ConfigError(f"bond {i}-{j} does not join two atoms of a {n_atoms}-atom structure")
        adjacent: list[set[int]] = [set() for _ in range(n_atoms)]
        for i, j in bonds:
            adjacent[i].add(j)
            adjacent[j].add(i)
        neighbours = tuple(tuple(sorted(a)) for a in adjacent)
        angles = tuple(
            (i, j, k)
            for j in range(n_atoms)
            for a, i in enumerate(neighbours[j])
            for k in neighbours[j][a + 1 :]
        )
        torsions = set()
        for j, k in bonds:
            for i in neighbours[j]:
                for m in neighbours[k]:
                    if i == k or m == j or i == m:
                        continue
                    torsions.add((i, j, k, m) if i < m else (m, k, j, i))
        oop = tuple(j for j in range(n_atoms) if len(neighbours[j]) == 3)
        return cls(n_atoms, bonds, angles, tuple(sorted(torsions)), oop, neighbours)

    @property
    def out_of_plane(self) -> tuple[tuple[int, int, int, int], ...]:
        """(i, centre, k, l) with l the atom bent out of the plane i–centre–k: three
        per out-of-plane centre, one for each neighbour as the out-of-plane atom."""
        out = []
        for c in self.oop_centres:
            a, b, d = self.neighbours[c]
            out += [(a, c, b, d), (a, c, d, b), (b, c, d, a)]
        return tuple(out)

    def bond_distances(self, max_distance: int = 3) -> dict[tuple[int, int], int]:
        """Shortest bond-path length of every pair (i < j) up to ``max_distance``
        bonds: the 1-2 / 1-3 / 1-4 classes the nonbonded scaling needs (a pair in a
        small ring takes its shortest path)."""
        out: dict[tuple[int, int], int] = {}
        for start in range(self.n_atoms):
            frontier, seen = {start}, {start}
            for depth in range(1, max_distance + 1):
                frontier = {n for a in frontier for n in self.neighbours[a]} - seen
                seen |= frontier
                for other in frontier:
                    if start < other:
                        out[(start, other)] = depth
        return out


def _distances(coordinates: np.ndarray) -> np.ndarray:
    diff = coordinates[:, None, :] - coordinates[None, :, :]
    return np.sqrt((diff**2).sum(-1))


def perceive_bonds(molecule: Molecule, rules: BondRules | None = None) -> tuple[tuple[int, int], ...]:
    """The structure's bonds by the precedence and rules of the module doc."""
    rules = rules or BondRules()
    n = molecule.n_atoms
    for i, j in (*rules.extra_bonds, *rules.excluded_bonds):
        if not (0 <= i < n and 0 <= j < n) or i == j:
            raise ConfigError(
                f"bond edit {i}-{j} does not join two atoms of {molecule.name or 'the structure'}"
            )
    excluded = set(rules.excluded_bonds)
    if rules.use_input_bonds and molecule.bonds is not None:
        bonds = set(molecule.bonds) - excluded
        return _pairs(bonds | set(rules.extra_bonds))

    radii = np.array([_elements.covalent_radius(e) for e in molecule.elements])
    reach = radii[:, None] + radii[None, :]
    dist = _distances(molecule.coordinates)
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    bonds = {
        (int(i), int(j)) for i, j in zip(*np.nonzero(upper & (dist <= reach + rules.tolerance)), strict=True)
    }
    bonds -= excluded
    if molecule.stationary_point == StationaryPoint.TRANSITION_STATE:
        near = Topology.from_bonds(n, bonds).bond_distances(max_distance=2)
        candidates = zip(*np.nonzero(upper & (dist <= reach + rules.partial_tolerance)), strict=True)
        bonds |= {(int(i), int(j)) for i, j in candidates if (int(i), int(j)) not in near} - excluded
    return _pairs(bonds | set(rules.extra_bonds))


def perceive(molecule: Molecule, rules: BondRules | None = None) -> Topology:
    """Bonds by :func:`perceive_bonds`, then every angle, torsion and out-of-plane
    centre they imply."""
    return Topology.from_bonds(molecule.n_atoms, perceive_bonds(molecule, rules))
