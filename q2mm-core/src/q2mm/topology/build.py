"""Assemble an :class:`~q2mm.model.system.MMSystem`: every term of a structure pointing
at the parameter slots of the force-field row that parameterizes it.

Bonds, angles and torsions must each find a row; the terms that find none are all
listed in one :class:`~q2mm.errors.AssignmentError` — nothing is silently zero.
Stretch-bend, Urey–Bradley, out-of-plane, improper and dipole terms exist where a row
for them exists. A torsion row yields one term per Fourier component it has a ``kN``
field for, zero or not (a fit may make it non-zero).

With a MacroModel ``.mmo`` structure the bonded terms are the ones MacroModel
evaluated, each on the row it names: its bonds must be the structure's bonds, and
every angle and torsion it lists must be one of the structure's. (MacroModel leaves
out torsions it has no parameters for or whose parameters are all zero — most torsions
about metal bonds — so those have no term.) Stretch-bends are matched by pattern and kept where MacroModel
applied the same constant (see :meth:`_Builder.stretch_bends`). A substructure torsion
with wildcard end atoms is shared among the torsions about its bond, as MacroModel
shares it: those torsion terms carry a ``scale`` constant (1/count; the torsion
TermSet has the constant only when some term is shared), which engines multiply
into the term's energy.

Nonbonded pairs are all pairs more than two bonds apart (1-4 scaled by the force
field's conventions; with 1-2 and 1-3 scales non-zero those pairs are included too),
each atom's vdW row by type, MM3 hydrogens reduced toward their nearest bonded
neighbour, point charges where charge rows exist. A charge or dipole row written on
the same line as a vdW or bond row belongs to that row (MacroModel); others are
matched by type.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import AssignmentError
from ..model import ForceField, MMSystem, Molecule, Nonbonded, Row, TermSet
from ..model.units import MDYN_RAD_TO_KCALMOL_A_RAD
from .assignment import (
    CENTRE_FIRST,
    CENTRE_THIRD,
    IMPROPER_SECTION,
    ORDERS,
    WILDCARDS,
    Match,
    RowMatcher,
    atom_types,
    describe,
    unmatched_error,
)
from .perception import BondRules, Topology, perceive

#: .mmo term kind → (row kind, periodic-improper section?) of the row it names.
_MMO_ROW = {
    "bond": ("bond", False),
    "angle": ("angle", False),
    "torsion": ("torsion", False),
    "improper": ("torsion", True),
}


#: Half a unit in the last digit of the stretch-bend constants a .mmo prints (mdyn/rad,
#: three decimals), with rounding slack.
_PRINTED = 5.5e-4
#: Fields a row may leave out: slot −1, the engine's default (no vdW reduction; a bond
#: dipole at the bond's midpoint).
_OPTIONAL_FIELDS = frozenset({"reduction", "position"})


def _bond_key(i: int, j: int) -> tuple[int, int]:
    return (i, j) if i < j else (j, i)


def _angle_key(i: int, j: int, k: int) -> tuple[int, int, int]:
    return (i, j, k) if i < k else (k, j, i)


class _Builder:
    def __init__(self, molecule: Molecule, forcefield: ForceField, topology: Topology) -> None:
        if topology.n_atoms != molecule.n_atoms:
            raise AssignmentError(
                f"a topology of {topology.n_atoms} atoms for a structure of {molecule.n_atoms}"
            )
        self.molecule = molecule
        self.forcefield = forcefield
        self.topology = topology
        self.types = atom_types(molecule, topology)
        self.elements = molecule.elements
        self.matcher = RowMatcher(forcefield)
        self.slot = forcefield.slot_index()
        self.terms: dict[str, dict[str, Any]] = {}
        self.unmatched: list[str] = []
        self.bond_rows: dict[tuple[int, int], Row] = {}
        self.angle_rows: dict[tuple[int, int, int], Row] = {}

    # -- helpers ---------------------------------------------------------------------

    def slots(self, row: Row, fields: tuple[str, ...]) -> list[int]:
        """Slots of ``fields`` in ``row``; −1 for an optional field the row lacks."""
        missing = [f for f in fields if f not in row.values and f not in _OPTIONAL_FIELDS]
        if missing:
            raise AssignmentError(f"row {row.key} lacks the field(s) {', '.join(missing)}")
        return [self.slot[f"{row.key}.{f}"] if f in row.values else -1 for f in fields]

    def add(self, kind: str, fields: tuple[str, ...], atoms, slots, **constants: float) -> None:
        entry = self.terms.setdefault(kind, {"fields": fields, "atoms": [], "slots": [], "constants": {}})
        entry["atoms"].append(tuple(int(a) for a in atoms))
        entry["slots"].append(slots)
        for name, value in constants.items():
            entry["constants"].setdefault(name, []).append(value)

    def match(self, kind: str, atoms, orders=None, improper: bool = False) -> Match | None:
        return self.matcher.best(
            kind,
            [self.types[a] for a in atoms],
            [self.elements[a] for a in atoms],
            orders or ORDERS[kind],
            improper,
        )

    def missing(self, kind: str, atoms) -> None:
        self.unmatched.append(describe(kind, atoms, self.types))

    # -- bonded terms ----------------------------------------------------------------

    def add_bond(self, i: int, j: int, row: Row) -> None:
        self.bond_rows[_bond_key(i, j)] = row
        self.add("bond", ("k", "r0"), (i, j), self.slots(row, ("k", "r0")))

    def add_angle(self, i: int, j: int, k: int, row: Row) -> None:
        self.angle_rows[_angle_key(i, j, k)] = row
        self.add("angle", ("k", "theta0"), (i, j, k), self.slots(row, ("k", "theta0")))

    def add_torsion(self, atoms, row: Row, scale: float = 1.0) -> None:
        for n in range(1, 7):
            if f"k{n}" not in row.values:
                continue
            self.add(
                "torsion",
                ("k", "phase"),
                atoms,
                self.slots(row, (f"k{n}", f"phase{n}")),
                periodicity=float(n),
                scale=scale,
            )

    def pattern_bonded(self) -> None:
        topo = self.topology
        for i, j in topo.bonds:
            m = self.match("bond", (i, j))
            if m:
                self.add_bond(i, j, m.row)
            else:
                self.missing("bond", (i, j))
        for angle in topo.angles:
            m = self.match("angle", angle)
            if m:
                self.add_angle(*angle, m.row)
            else:
                self.missing("angle", angle)
        for torsion in topo.torsions:
            m = self.match("torsion", torsion)
            if m:
                self.add_torsion(torsion, m.row)
            else:
                self.missing("torsion", torsion)
        self.stretch_bends(topo.angles)
        for angle in topo.angles:
            m = self.match("urey_bradley", angle)
            if m:
                self.add("urey_bradley", ("k", "r0"), angle, self.slots(m.row, ("k", "r0")))
        for quad in topo.out_of_plane:
            m = self.match("opbend", quad)
            if m:
                self.add("opbend", ("k",), quad, self.slots(m.row, ("k",)))
        for c in topo.oop_centres:
            quad = (c, *topo.neighbours[c])
            m = self.match("improper", quad, CENTRE_FIRST)
            if m:
                self.add(
                    "improper", ("k", "phi0"), [quad[p] for p in m.order], self.slots(m.row, ("k", "phi0"))
                )
            m = self.match("torsion", quad, CENTRE_THIRD, improper=True)
            if m:
                self.add_torsion([quad[p] for p in m.order], m.row)

    def stretch_bends(self, angles, applied: dict | None = None) -> None:
        """k1 couples bond i–j, k2 bond k–j; a row matched reversed swaps them. The
        ideal values are the slots of the bond and angle rows of the same atoms.

        ``applied`` (from a .mmo) maps an angle to the stretch-bend constant MacroModel
        applied (mdyn/rad). MacroModel applies none to some angles the S-B rows'
        patterns cover — those of its OPT substructure, across zero-order bonds —
        so an angle gets a term only where the matched row's constant is the one
        MacroModel printed; a printed non-zero constant no row reproduces is an error."""
        for i, j, k in angles:
            m = self.match("strbnd", (i, j, k))
            rows = (
                self.bond_rows.get(_bond_key(i, j)),
                self.bond_rows.get(_bond_key(k, j)),
                self.angle_rows.get(_angle_key(i, j, k)),
            )
            if None in rows:
                continue
            if applied is not None:
                printed = applied[(i, j, k)]
                row_value = m.row.values["k1"] / MDYN_RAD_TO_KCALMOL_A_RAD if m else 0.0
                if abs(row_value - printed) > _PRINTED:
                    if printed != 0.0:
                        self.unmatched.append(
                            describe("strbnd", (i, j, k), self.types)
                            + f" (MacroModel applied {printed} mdyn/rad, the row matched has {row_value:.4f})"
                        )
                    continue
            if m is None:
                continue
            k1, k2 = self.slots(m.row, ("k1", "k2"))
            if m.order != (0, 1, 2):
                k1, k2 = k2, k1
            ideal = [
                self.slot[f"{rows[0].key}.r0"],
                self.slot[f"{rows[1].key}.r0"],
                self.slot[f"{rows[2].key}.theta0"],
            ]
            self.add("strbnd", ("k1", "k2", "r1_0", "r2_0", "theta0"), (i, j, k), [k1, k2, *ideal])

    def parameter_line(self, line: int) -> int:
        """The first line of the parameter that ``line`` belongs to. MacroModel names the
        *last* line of a parameter whose descriptors continue on further lines (those
        lines leave the type and value columns 3-55 blank)."""
        source = self.forcefield.source
        if source is None:
            return line
        while 1 < line <= len(source.lines) and not source.lines[line - 1][2:55].strip():
            line -= 1
        return line

    def shared_torsion_scale(self, row: Row, atoms) -> float:
        """MacroModel shares a substructure torsion whose end atoms are wildcards among
        all torsions about its central bond: the Benzenoid ring's ``00 2 3 00`` V2 of
        36.8 kcal/mol is printed as 9.2 for each of the four torsions about a ring bond."""
        if row.section in (None, IMPROPER_SECTION) or not {row.types[0], row.types[3]} <= WILDCARDS:
            return 1.0
        centre = {atoms[1], atoms[2]}
        return 1.0 / sum(1 for t in self.topology.torsions if {t[1], t[2]} == centre)

    def mmo_bonded(self, mmo) -> None:
        by_line: dict[int, list[Row]] = {}
        for row in self.forcefield.rows:
            if row.line is not None:
                by_line.setdefault(row.line, []).append(row)
        n = self.molecule.n_atoms
        bad = [t for t in mmo.terms if t.kind in _MMO_ROW and max(t.atoms) >= n]
        if bad:
            raise AssignmentError(
                f".mmo structure {mmo.index} names atoms beyond the {n} of "
                f"{self.molecule.name or 'the structure'}"
            )
        mmo_bonds = {_bond_key(*t.atoms) for t in mmo.terms if t.kind == "bond"}
        if mmo_bonds != set(self.topology.bonds):
            difference = sorted(mmo_bonds ^ set(self.topology.bonds))
            raise AssignmentError(
                f".mmo structure {mmo.index} and {self.molecule.name or 'the structure'} disagree on bonds "
                + ", ".join(f"{i}-{j}" for i, j in difference)
            )
        angles, torsions = set(self.topology.angles), set(self.topology.torsions)
        strbnd_applied: dict[tuple[int, ...], float] = {}
        for term in mmo.terms:
            if term.kind not in _MMO_ROW:
                continue
            kind, improper = _MMO_ROW[term.kind]
            atoms = term.atoms
            if term.kind == "angle" and _angle_key(*atoms) not in angles:
                raise AssignmentError(
                    f".mmo angle {'-'.join(map(str, atoms))} is not an angle of the structure"
                )
            if term.kind == "torsion" and min(atoms, atoms[::-1]) not in torsions:
                raise AssignmentError(
                    f".mmo torsion {'-'.join(map(str, atoms))} is not a torsion of the structure"
                )
            rows = [
                r
                for r in by_line.get(self.parameter_line(term.fld_line), ())
                if r.kind == kind and (r.section == IMPROPER_SECTION) == improper
            ]
            if len(rows) != 1:
                self.unmatched.append(
                    describe(term.kind, atoms, self.types) + f" (.fld line {term.fld_line})"
                )
                continue
            if kind == "bond":
                self.add_bond(*atoms, rows[0])
            elif kind == "angle":
                self.add_angle(*atoms, rows[0])
                strbnd_applied[tuple(atoms)] = float(term.values.get("k_strbnd", 0.0))
            else:
                self.add_torsion(atoms, rows[0], self.shared_torsion_scale(rows[0], atoms))
        self.stretch_bends(list(strbnd_applied), strbnd_applied)

    # -- bond dipoles and nonbonded -------------------------------------------------------

    def _attached(self, kind: str, owner_kind: str) -> tuple[dict[int, Row], bool]:
        """Rows of ``kind`` sharing a line with an ``owner_kind`` row, by line; and
        whether any standalone ones remain to match by type."""
        owner_lines = {r.line for r in self.forcefield.rows if r.kind == owner_kind and r.line is not None}
        rows = self.forcefield.rows_of(kind)
        attached = {r.line: r for r in rows if r.line in owner_lines}
        return attached, len(attached) < len(rows)

    def dipoles(self) -> None:
        if not self.forcefield.rows_of("dipole"):
            return
        attached, standalone = self._attached("dipole", "bond")
        for (i, j), bond_row in sorted(self.bond_rows.items()):
            row, atoms = attached.get(bond_row.line), (i, j)
            if row is None and standalone:
                m = self.match("dipole", (i, j))
                if m and m.row.line not in attached:
                    row, atoms = m.row, [(i, j)[p] for p in m.order]
            if row is not None:
                self.add("dipole", ("moment", "position"), atoms, self.slots(row, ("moment", "position")))

    def nonbonded(self) -> Nonbonded | None:
        ff = self.forcefield
        if not ff.rows_of("vdw"):
            if ff.rows_of("charge") or ff.rows_of("vdw_pair"):
                raise AssignmentError("the force field has charge or vdW-pair rows but no vdW rows")
            return None
        n = self.molecule.n_atoms
        attached, standalone = self._attached("charge", "vdw")
        vdw_slots = np.full((n, 3), -1, dtype=np.int64)
        partner = np.full(n, -1, dtype=np.int64)
        charge = np.full(n, -1, dtype=np.int64)
        coords = self.molecule.coordinates
        for a in range(n):
            m = self.match("vdw", (a,))
            if m is None:
                self.missing("vdw", (a,))
                continue
            vdw_slots[a] = self.slots(m.row, ("radius", "epsilon", "reduction"))
            neighbours = self.topology.neighbours[a]
            if "reduction" in m.row.values and neighbours:
                partner[a] = min(neighbours, key=lambda b: float(np.linalg.norm(coords[b] - coords[a])))
            row = attached.get(m.row.line)
            if row is None and standalone:
                c = self.match("charge", (a,))
                row = c.row if c and c.row.line not in attached else None
            if row is not None:
                charge[a] = self.slot[f"{row.key}.q"]
        cv = ff.conventions
        scales = {
            1: (cv.vdw_scale_12, cv.elec_scale_12),
            2: (cv.vdw_scale_13, cv.elec_scale_13),
            3: (cv.vdw_scale_14, cv.elec_scale_14),
        }
        distance = self.topology.bond_distances(3)
        pairs, vdw_scale, elec_scale, override = [], [], [], []
        for i in range(n):
            for j in range(i + 1, n):
                sv, se = scales.get(distance.get((i, j), 0), (1.0, 1.0))
                if sv == 0.0 and se == 0.0:
                    continue
                pairs.append((i, j))
                vdw_scale.append(sv)
                elec_scale.append(se)
                m = self.match("vdw_pair", (i, j))
                override.append(self.slots(m.row, ("radius", "epsilon")) if m else [-1, -1])
        return Nonbonded(
            vdw_slots=vdw_slots,
            reduction_partner=partner,
            charge_slots=charge,
            pairs=np.asarray(pairs, dtype=np.int64).reshape(-1, 2),
            vdw_scale=np.asarray(vdw_scale, dtype=float),
            elec_scale=np.asarray(elec_scale, dtype=float),
            pair_override=np.asarray(override, dtype=np.int64).reshape(-1, 2),
        )

    def termsets(self) -> dict[str, TermSet]:
        """A torsion ``scale`` constant is kept only where some term is shared (≠ 1)."""
        out = {}
        for kind, entry in self.terms.items():
            constants = {name: np.asarray(v, dtype=float) for name, v in entry["constants"].items()}
            if "scale" in constants and np.all(constants["scale"] == 1.0):
                del constants["scale"]
            out[kind] = TermSet(kind, entry["atoms"], entry["slots"], entry["fields"], constants)
        return out


def build_system(
    molecule: Molecule,
    forcefield: ForceField,
    *,
    topology: Topology | None = None,
    mmo=None,
    bond_rules: BondRules | None = None,
) -> MMSystem:
    """The :class:`MMSystem` of ``molecule`` under ``forcefield``.

    ``topology`` defaults to :func:`~q2mm.topology.perception.perceive` with
    ``bond_rules``; ``mmo`` (a :class:`q2mm.io.macromodel.MmoStructure` of this
    structure) assigns the bonded terms by the rows MacroModel used. Raises
    :class:`~q2mm.errors.AssignmentError` listing every term no row matches."""
    topology = topology or perceive(molecule, bond_rules)
    builder = _Builder(molecule, forcefield, topology)
    if mmo is None:
        builder.pattern_bonded()
    else:
        builder.mmo_bonded(mmo)
    builder.dipoles()
    nonbonded = builder.nonbonded()
    if builder.unmatched:
        raise unmatched_error(molecule.name, builder.unmatched)
    return MMSystem(
        molecule=molecule,
        form=forcefield.form,
        conventions=forcefield.conventions,
        terms=builder.termsets(),
        nonbonded=nonbonded,
        n_parameters=len(forcefield.vector()),
    )


def bonded_rows(
    molecule: Molecule,
    forcefield: ForceField,
    *,
    topology: Topology | None = None,
    mmo=None,
    bond_rules: BondRules | None = None,
) -> tuple[dict[tuple[int, int], Row], dict[tuple[int, int, int], Row]]:
    """The row of every bond (i < j) and angle (i, centre, k with i < k) of a structure,
    assigned as :func:`build_system` assigns them (what force-constant estimation
    fills). Raises :class:`~q2mm.errors.AssignmentError` listing the bonds and angles
    no row matches."""
    topology = topology or perceive(molecule, bond_rules)
    builder = _Builder(molecule, forcefield, topology)
    if mmo is None:
        builder.pattern_bonded()
    else:
        builder.mmo_bonded(mmo)
    unmatched = [u for u in builder.unmatched if u.startswith(("bond ", "angle "))]
    if unmatched:
        raise unmatched_error(molecule.name, unmatched)
    return builder.bond_rows, builder.angle_rows
