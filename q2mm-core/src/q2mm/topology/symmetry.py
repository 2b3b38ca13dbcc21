"""Types refined by the structure's own symmetry where one row cannot hold its geometry.

A type perceived from connectivity (:mod:`q2mm.topology.typing`) puts atoms that are
not equivalent in space into one class. One row then serves angles whose QM values
differ, and no single θ0 puts the MM minimum on all of them: methylamine's H–C–N is
115.8° for the hydrogen anti to the nitrogen lone pair and 109.1° for the other two
(hyperconjugation, which a force field without lone pairs cannot produce), acetone's
and ethanol's in-plane methyl hydrogens differ from their out-of-plane ones by 2–4°.
A fit then bends its force constants to trade the geometric strain off against the
Hessian (methylamine: frequency MAE 140 cm⁻¹, angle RMSD 0.68°).

So, for a structure without types of its own: whenever a bond or angle row covers QM
values spread by more than :data:`BOND_SPREAD` / :data:`ANGLE_SPREAD` (the quality
targets' limits), each type in the row whose atoms there are not all equivalent by
the structure's symmetry is split into its symmetry classes, named with a letter
(``H.a``, ``H.b``); repeated until every row holds one geometry. Atoms equivalent by
symmetry keep one type, so a symmetric molecule is not over-parameterized (ethane's
six hydrogens stay one ``H``). Symmetry classes are found by colour refinement on
interatomic distances: two atoms are equivalent when they have the same colour and,
colour by colour, the same sorted distances to all other atoms (within
:data:`DISTANCE_TOLERANCE`), refined until the classes no longer change — the orbits
of the point group for any optimized structure, with no symmetry detection needed.

The letters are assigned per structure in the order of each class's first atom, so
structures fitted together without types share a split row only by that order; give
such structures types of their own (a template or a typed file) when they must share
parameters.
"""

from __future__ import annotations

import math
import string
from collections import defaultdict
from collections.abc import Hashable, Sequence

import numpy as np

from ..residuals.geometry import bond_angles, bond_lengths
from ..residuals.quality import QualityThresholds
from .perception import Topology

#: Spread (Å) of the QM bond lengths one row covers beyond which its types are split:
#: the default quality limit on the MM minimum's bond RMSD.
BOND_SPREAD = QualityThresholds().max_bond_rmsd_angstrom
#: Spread (degrees) of the QM angles one row covers beyond which its types are split:
#: the default quality limit on the angle RMSD.
ANGLE_SPREAD = QualityThresholds().max_angle_rmsd_degree
#: Å within which two atoms' distances count as equal for symmetry equivalence.
DISTANCE_TOLERANCE = 0.01


def symmetry_classes(elements: Sequence[str], coordinates: np.ndarray) -> tuple[int, ...]:
    """One class index per atom, equal for atoms the structure's symmetry maps onto
    each other (see the module doc), numbered in order of each class's first atom."""
    n = len(elements)
    distances = np.linalg.norm(coordinates[:, None, :] - coordinates[None, :, :], axis=-1)
    others = ~np.eye(n, dtype=bool)
    colours = _first_seen(list(elements))
    while True:
        signatures = [
            [np.sort(distances[i, others[i] & (colours == c)]) for c in range(colours.max() + 1)]
            for i in range(n)
        ]
        representatives: list[int] = []
        refined = np.empty(n, dtype=int)
        for i in range(n):
            for index, r in enumerate(representatives):
                if colours[r] == colours[i] and all(
                    np.allclose(a, b, atol=DISTANCE_TOLERANCE, rtol=0.0)
                    for a, b in zip(signatures[i], signatures[r], strict=True)
                ):
                    refined[i] = index
                    break
            else:
                refined[i] = len(representatives)
                representatives.append(i)
        if refined.max() == colours.max():
            return tuple(int(c) for c in refined)
        colours = refined


def _first_seen(labels: Sequence[Hashable]) -> np.ndarray:
    """Each label's index in the order labels first appear."""
    order: dict[str, int] = {}
    return np.array([order.setdefault(label, len(order)) for label in labels])


def refined_types(
    types: Sequence[str], elements: Sequence[str], coordinates: np.ndarray, topology: Topology
) -> tuple[str, ...]:
    """``types`` with every type split by symmetry class where a bond or angle row
    covers QM values that differ (module doc); ``types`` unchanged when none do."""
    types = list(types)
    classes: tuple[int, ...] | None = None
    while True:
        spread = _spread_rows(types, coordinates, topology)
        if not spread:
            return tuple(types)
        if classes is None:
            classes = symmetry_classes(elements, coordinates)
        split = {
            types[atoms[0][position]]
            for atoms in spread
            for position in range(len(atoms[0]))
            if len({classes[a[position]] for a in atoms}) > 1
        }
        if not split:
            return tuple(types)
        for name in split:
            members = [a for a, t in enumerate(types) if t == name]
            letters = _first_seen([classes[a] for a in members])
            for atom, letter in zip(members, letters, strict=True):
                types[atom] = f"{name}.{_letter(letter)}"


def _letter(index: int) -> str:
    """a … z, then s26, s27 …: never a digit alone, which SYBYL names use for hybridization."""
    return string.ascii_lowercase[index] if index < len(string.ascii_lowercase) else f"s{index}"


def _spread_rows(
    types: Sequence[str], coordinates: np.ndarray, topology: Topology
) -> list[list[tuple[int, ...]]]:
    """The instances (atoms in row order) of each bond or angle row whose QM values
    spread beyond the limits."""
    out = []
    for terms, measure, limit in (
        (topology.bonds, bond_lengths, BOND_SPREAD),
        (topology.angles, bond_angles, math.radians(ANGLE_SPREAD)),
    ):
        if not terms:
            continue
        values = measure(coordinates, np.asarray(terms), np)
        rows: dict[tuple[str, ...], list[tuple[tuple[int, ...], float]]] = defaultdict(list)
        for term, value in zip(terms, values, strict=True):
            key = tuple(types[a] for a in term)
            atoms = term if key <= key[::-1] else term[::-1]
            rows[min(key, key[::-1])].append((atoms, float(value)))
        for instances in rows.values():
            spread = [v for _, v in instances]
            if max(spread) - min(spread) > limit:
                out.append([a for a, _ in instances])
    return out
