"""Which force-field row parameterizes a term: by atom-type pattern, or by the row a
MacroModel ``.mmo`` names.

**By pattern.** A term's atom types (the structure's ``atom_types``, or where it has
none the types :mod:`q2mm.topology.typing` perceives) are compared position by
position with a row's types, in the term's order and reversed. Each position scores

===================================================  =====
row type equals the atom type                         3
one names a class holding the other (equivalences)    2
MM3 element class ``C0``, ``H0``, … (any C, any H)    1
the element of a perceived type (``C`` for ``C.3``)   1
wildcard (``*``, ``X``, ``0``, ``00``, blank)         0
===================================================  =====

and the row with the highest total wins — the most specific match. Between rows that
score the same the *later* row wins: later parameters override earlier ones in Tinker
and Amber files, and in MacroModel .fld files the descriptor-free fallback comes after
its environment-specific variants (``C3-H1`` for any neighbours follows ``C3-H1`` next
to O, N, F, Cl). Those environment descriptors are not evaluated, so a MacroModel
structure should be assigned through its ``.mmo`` wherever it has one. Force-field
equivalences map a name to one type (an alias) or to several (a MacroModel class such
as ``PX`` = P0 P3 P4 P5); either way the names match each other. Element classes
(``C0`` = any carbon) are MacroModel's and apply to force fields of the MM3 form only.

Rows of a MacroModel substructure (a ``section`` other than the periodic-improper
section) name pattern positions, not atom types: they are reached only through a
``.mmo`` link.

**By .mmo link.** MacroModel prints, for every interaction it evaluated, the 1-based
line of the .fld row it used; rows read from a .fld keep that line, so the row is
found by line and kind (a bond row and its dipole share a line).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import attrs

from ..errors import AssignmentError
from ..model import ForceField, FunctionalForm, Molecule, Row
from ..model import elements as _elements
from .perception import Topology
from .typing import perceived_types

WILDCARDS = frozenset({"*", "X", "0", "00", ""})
#: Section of the periodic improper torsion rows (MacroModel code 5; centre third).
IMPROPER_SECTION = "improper"

_EXACT, _CLASS, _ELEMENT, _WILD = 3, 2, 1, 0


def atom_types(molecule: Molecule, topology: Topology) -> tuple[str, ...]:
    """The types terms are matched with: the structure's own, else perceived ones."""
    return molecule.atom_types if molecule.atom_types is not None else perceived_types(molecule, topology)


@attrs.frozen
class Match:
    """A row and the order of the term's atoms that matched it (``order[p]`` is the
    term position matched by row position p)."""

    row: Row
    order: tuple[int, ...]


class RowMatcher:
    """Finds the most specific row of a kind for a tuple of atom types."""

    def __init__(self, forcefield: ForceField) -> None:
        self.forcefield = forcefield
        self.classes = {
            name: frozenset(str(members).split()) for name, members in forcefield.equivalences.items()
        }
        self.element_classes = forcefield.form is FunctionalForm.MM3
        self.rows: dict[tuple[str, bool], list[Row]] = {}
        for row in forcefield.rows:
            if row.section is not None and row.section != IMPROPER_SECTION:
                continue
            self.rows.setdefault((row.kind, row.section == IMPROPER_SECTION), []).append(row)

    def has(self, kind: str, improper: bool = False) -> bool:
        return bool(self.rows.get((kind, improper)))

    def score(self, pattern: str, atom_type: str, element: str) -> int | None:
        if pattern == atom_type:
            return _EXACT
        if atom_type in self.classes.get(pattern, ()) or pattern in self.classes.get(atom_type, ()):
            return _CLASS
        if (
            self.element_classes
            and pattern.endswith("0")
            and len(pattern) > 1
            and _same_element(pattern[:-1], element)
        ):
            return _ELEMENT
        if "." in atom_type and atom_type.partition(".")[0] == pattern == element:
            return _ELEMENT
        if pattern in WILDCARDS:
            return _WILD
        return None

    def best(
        self,
        kind: str,
        types: Sequence[str],
        elements: Sequence[str],
        orders: Sequence[tuple[int, ...]],
        improper: bool = False,
    ) -> Match | None:
        """The best row of ``kind`` over the term orders given (each a permutation of
        the term's positions)."""
        found, top = None, -1
        for row in self.rows.get((kind, improper), ()):
            if len(row.types) != len(types):
                continue
            for order in orders:
                total = 0
                for pattern, position in zip(row.types, order, strict=True):
                    s = self.score(pattern, types[position], elements[position])
                    if s is None:
                        break
                    total += s
                else:
                    if total >= top:
                        found, top = Match(row, tuple(order)), total
        return found


def _same_element(symbol: str, element: str) -> bool:
    try:
        return _elements.normalize_symbol(symbol) == element
    except _elements.UnknownElementError:
        return False


def both_directions(n: int) -> tuple[tuple[int, ...], ...]:
    forward = tuple(range(n))
    return (forward, forward[::-1])


#: Term orders tried per kind (positions of the term matched by row positions).
ORDERS = {
    "bond": both_directions(2),
    "dipole": both_directions(2),
    "vdw_pair": both_directions(2),
    "angle": both_directions(3),
    "strbnd": both_directions(3),
    "urey_bradley": both_directions(3),
    "torsion": both_directions(4),
    "vdw": ((0,),),
    "charge": ((0,),),
    # opbend term (i, centre, k, l), row (out-of-plane, centre, other, other).
    "opbend": ((3, 1, 0, 2), (3, 1, 2, 0)),
}
#: Orders for a trigonal centre listed as (centre, n1, n2, n3): harmonic impropers
#: put the centre first, periodic (Amber / MacroModel) ones third.
CENTRE_FIRST = tuple((0, *p) for p in itertools.permutations((1, 2, 3)))
CENTRE_THIRD = tuple((p[0], p[1], 0, p[2]) for p in itertools.permutations((1, 2, 3)))


def unmatched_error(name: str, unmatched: Sequence[str]) -> AssignmentError:
    return AssignmentError(
        f"{len(unmatched)} term(s) of {name or 'the structure'} match no force-field row: "
        + "; ".join(unmatched)
    )


def describe(kind: str, atoms: Sequence[int], types: Sequence[str]) -> str:
    return f"{kind} {'-'.join(map(str, atoms))} ({' '.join(types[a] for a in atoms)})"
