"""One structure written the way Tinker reads it: a Tinker XYZ file and a keyfile.

Tinker assigns parameters by atom class, q2mm by term: so every atom gets a class of
its own (atom i → type and class i + 1) and every term becomes one parameter line for
exactly its atoms. The keyfile says ``parameters none`` and states every unit and
convention itself, in units chosen so that each line carries q2mm's canonical value
unchanged (bondunit 1, angleunit (π/180)², strbndunit π/180, torsionunit 1, …):
:func:`~q2mm.io.tinker_prm.TinkerPrm` reads it back to the same numbers (tested).

Tinker perceives bonds, angles, torsions and out-of-plane bends from the
connectivity itself and stops on any it has no parameters for; those q2mm does not
model get a zero line, and a family q2mm has no term of at all is switched off
(``bondterm none``…). Tinker's own MM3 extras — angle-angle, stretch-torsion,
angle-torsion, torsion-torsion, pi-torsion, out-of-plane distance — and MM3-HBOND
(``vdwtype BUCKINGHAM``, no ``hbond`` lines) are always switched off: q2mm's model has
none of them. A term that Tinker cannot express for exactly its atoms is refused by
name (:class:`~q2mm.errors.UnsupportedTermError`), never dropped.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

import attrs
import numpy as np
from q2mm.errors import UnsupportedTermError
from q2mm.io.tinker_prm import UNIT_DEFAULTS
from q2mm.model import MMSystem
from q2mm.model.elements import SYMBOLS
from q2mm.model.units import DEG_TO_RAD, RAD_TO_DEG

#: Term kinds the keyfile expresses (``q2mm.model.forcefield.TERM_KINDS`` names).
TERM_KINDS = frozenset(
    {"bond", "angle", "strbnd", "urey_bradley", "opbend", "torsion", "improper", "dipole"}
    | {"vdw", "vdw_pair", "charge"}
)
#: Tinker's MM3 terms that q2mm does not model, switched off in every keyfile.
SWITCHED_OFF = ("angangterm", "strtorterm", "angtorterm", "tortorterm", "pitorsterm", "opdistterm")
#: Tinker's most bonds per atom (sizes.f ``maxval``) and atom classes (``maxclass``).
MAX_VALENCE, MAX_ATOMS = 8, 1000
#: Family switch of each q2mm kind, used when the structure has none of that kind.
_TERM_SWITCH = {
    "bond": "bondterm",
    "angle": "angleterm",
    "strbnd": "strbndterm",
    "urey_bradley": "ureybradterm",
    "opbend": "opbendterm",
    "improper": "impropterm",
    "torsion": "torsionterm",
    "dipole": "dipoleterm",
}


def _number(value: float) -> str:
    """Full double precision; Tinker reads values list-directed into real*8."""
    return repr(float(value))


def neighbours(system: MMSystem) -> list[list[int]]:
    """The connectivity Tinker is given: the molecule's bonds and every bond term's."""
    mol = system.molecule
    pairs = set(mol.bonds or ())
    if "bond" in system.terms:
        pairs |= {tuple(sorted(map(int, b))) for b in system.terms["bond"].atoms}
    out: list[list[int]] = [[] for _ in range(mol.n_atoms)]
    for i, j in sorted(pairs):
        out[i].append(j)
        out[j].append(i)
    return out


def _angles(nb: list[list[int]]) -> set[tuple[int, int, int]]:
    return {(i, j, k) for j, ns in enumerate(nb) for i in ns for k in ns if i < k}


def _torsions(nb: list[list[int]]) -> set[tuple[int, int, int, int]]:
    """Proper dihedrals, each once, as Tinker's torsions.f finds them."""
    out = set()
    for j, ns in enumerate(nb):
        for k in ns:
            if j < k:
                out |= {(i, j, k, m) for i in ns if i != k for m in nb[k] if m != j and m != i}
    return out


def _angle_key(atoms) -> tuple[int, int, int]:
    """An angle i–j–k with its outer atoms in order."""
    return (min(atoms[0], atoms[2]), atoms[1], max(atoms[0], atoms[2]))


def _ideal_slots(system: MMSystem, kind: str, key) -> dict:
    """Each term of ``kind`` by ``key(atoms)`` → the slot of its second field (r0, θ0)."""
    if kind not in system.terms:
        return {}
    terms = system.terms[kind]
    return {key(a): s[1] for a, s in zip(terms.atoms.tolist(), terms.slots.tolist(), strict=True)}


def _canonical(atoms: tuple[int, ...]) -> tuple[int, ...]:
    """A chain the same read either way round."""
    return min(atoms, atoms[::-1])


def torsion_form(atoms: tuple[int, ...], nb: list[list[int]]) -> tuple[str, tuple[int, ...]] | None:
    """How Tinker holds a q2mm torsion term: ``("torsion", chain)`` along bonds, or
    ``("imptors", atoms)`` for an improper torsion about a trigonal centre (a
    MacroModel/Amber improper: its centre bonded to the three others), ordered with the
    centre third as Tinker's kimptor.f computes the dihedral — reversed when q2mm has
    the centre second (the dihedral read backwards is the same angle). None: neither."""
    a, b, c, d = atoms
    if b in nb[a] and c in nb[b] and d in nb[c] and len({a, b, c, d}) == 4:
        return "torsion", _canonical(atoms)
    for centre, ordered in ((b, (d, c, b, a)), (c, atoms)):
        others = set(atoms) - {centre}
        if len(nb[centre]) == 3 and set(nb[centre]) == others:
            return "imptors", tuple(ordered)
    return None


def _refuse(system: MMSystem, kind: str, atoms, why: str) -> UnsupportedTermError:
    where = system.molecule.name or "the structure"
    return UnsupportedTermError(
        f"engine 'tinker' cannot express the {kind} term on atoms {[int(a) for a in atoms]} of {where}: {why}"
    )


def _check_topology(system: MMSystem, nb: list[list[int]]) -> None:
    """Every term must sit on atoms Tinker connects the same way."""
    if system.molecule.n_atoms > MAX_ATOMS:
        raise UnsupportedTermError(f"Tinker gives at most {MAX_ATOMS} atom classes; one per atom is needed")
    for atom, ns in enumerate(nb):
        if len(ns) > MAX_VALENCE:
            raise _refuse(system, "bond", [atom, *ns], f"Tinker allows {MAX_VALENCE} bonds per atom")
    bonded = {(i, j) for i, ns in enumerate(nb) for j in ns}
    angles = _angles(nb)
    for kind, terms in system.terms.items():
        for atoms in map(tuple, terms.atoms.tolist()):
            if kind in ("bond", "dipole") and atoms not in bonded:
                raise _refuse(system, kind, atoms, "its atoms are not bonded")
            if kind in ("angle", "strbnd", "urey_bradley") and _angle_key(atoms) not in angles:
                raise _refuse(system, kind, atoms, "its atoms are not a bonded angle")
            if kind == "torsion" and torsion_form(atoms, nb) is None:
                why = "Tinker has torsions along bonded chains and improper torsions about trigonal centres"
                raise _refuse(system, kind, atoms, why)
            if kind == "opbend" and (len(nb[atoms[1]]) != 3 or set(atoms) - {atoms[1]} != set(nb[atoms[1]])):
                raise _refuse(system, kind, atoms, "Tinker bends out of plane only at atoms with three bonds")
            if kind == "improper" and (len(nb[atoms[0]]) != 3 or set(atoms[1:]) != set(nb[atoms[0]])):
                raise _refuse(system, kind, atoms, "Tinker's impropers sit on atoms with three bonds")
    if "improper" in system.terms:
        centres = system.terms["improper"].atoms[:, 0]
        if len(set(centres.tolist())) != len(centres):
            raise _refuse(system, "improper", centres, "Tinker takes one improper per centre")


def _check_strbnd(system: MMSystem) -> None:
    """Tinker couples a stretch-bend to the ideal values of its own bonds and angle."""
    if "strbnd" not in system.terms:
        return
    bonds = _ideal_slots(system, "bond", lambda a: tuple(sorted(a)))
    angles = _ideal_slots(system, "angle", _angle_key)
    sb = system.terms["strbnd"]
    for (i, j, k), slots in zip(sb.atoms.tolist(), sb.slots.tolist(), strict=True):
        own = dict(zip(sb.fields, slots, strict=True))
        ideal = (
            bonds.get(tuple(sorted((i, j)))),
            bonds.get(tuple(sorted((k, j)))),
            angles.get(_angle_key((i, j, k))),
        )
        if ideal != (own["r1_0"], own["r2_0"], own["theta0"]):
            raise _refuse(
                system, "strbnd", (i, j, k), "its ideal values are not those of its own bond and angle terms"
            )


def _pair_scales(nb: list[list[int]]) -> dict[tuple[int, int], int]:
    """Bond-path separation (1, 2, 3) of every pair within three bonds."""
    out = {}
    for start in range(len(nb)):
        frontier, seen = [start], {start}
        for depth in (1, 2, 3):
            frontier = [m for a in frontier for m in nb[a] if m not in seen]
            seen |= set(frontier)
            out |= {(start, m): depth for m in frontier if start < m}
    return out


def _check_pairs(system: MMSystem, nb: list[list[int]]) -> None:
    """The pair list must be what Tinker's vdw-/chg-1x-scale rules give."""
    nonbonded = system.nonbonded
    if nonbonded is None or not len(nonbonded.pairs):
        return
    cv = system.conventions
    separation = _pair_scales(nb)
    vdw = {1: cv.vdw_scale_12, 2: cv.vdw_scale_13, 3: cv.vdw_scale_14}
    elec = {1: cv.elec_scale_12, 2: cv.elec_scale_13, 3: cv.elec_scale_14}
    given = {
        tuple(sorted(p)): (v, e)
        for p, v, e in zip(nonbonded.pairs.tolist(), nonbonded.vdw_scale, nonbonded.elec_scale, strict=True)
    }
    n = system.molecule.n_atoms
    for i in range(n):
        for j in range(i + 1, n):
            d = separation.get((i, j))
            want = (vdw[d], elec[d]) if d else (1.0, 1.0)
            got = given.get((i, j), (0.0, 0.0))
            charged = (nonbonded.charge_slots[[i, j]] >= 0).all()
            if not math.isclose(got[0], want[0]) or (charged and not math.isclose(got[1], want[1])):
                raise _refuse(system, "vdw", (i, j), f"pair scales {got} where Tinker's rules give {want}")
    for atom, partner in enumerate(nonbonded.reduction_partner.tolist()):
        if partner >= 0 and nb[atom] != [partner]:
            why = "Tinker moves a vdW centre only toward the one atom it is bonded to"
            raise _refuse(system, "vdw", (atom, partner), why)


def _header(system: MMSystem) -> list[str]:
    cv = system.conventions
    if cv.vdw_form not in ("lennard-jones", "buckingham"):
        raise UnsupportedTermError(f"engine 'tinker' has no van der Waals form {cv.vdw_form!r}")
    lines = [
        "# written by q2mm-engine-tinker: one atom class per atom, canonical units",
        "parameters none",
        "digits 10",
    ]
    lines += [
        f"{unit} {_number(value)}" for unit, value in UNIT_DEFAULTS.items()
    ]  # Tinker's own defaults, written out
    series = ("cubic", "quartic", "pentic", "sextic")
    lines += [
        f"bond-cubic {_number(cv.bond_cubic)}",
        f"bond-quartic {_number(cv.bond_quartic)}",
        *(f"{t}-{p} {_number(getattr(cv, f'{t}_{p}'))}" for t in ("angle", "opbend") for p in series),
        "opbendtype ALLINGER",
        f"vdwtype {'BUCKINGHAM' if cv.vdw_form == 'buckingham' else 'LENNARD-JONES'}",
        "radiusrule ARITHMETIC",
        "radiustype R-MIN",
        "radiussize RADIUS",
        "epsilonrule GEOMETRIC",
        f"a-expterm {_number(cv.vdw_a)}",
        f"b-expterm {_number(cv.vdw_b)}",
        f"c-expterm {_number(cv.vdw_c)}",
        *(f"vdw-1{n}-scale {_number(getattr(cv, f'vdw_scale_1{n}'))}" for n in (2, 3, 4)),
        *(f"chg-1{n}-scale {_number(getattr(cv, f'elec_scale_1{n}'))}" for n in (2, 3, 4)),
        f"electric {_number(cv.electric)}",
        f"dielectric {_number(cv.dielectric)}",
        *(f"{switch} none" for switch in SWITCHED_OFF),
    ]
    present = {k for k, t in system.terms.items() if len(t)}
    lines += [f"{switch} none" for kind, switch in _TERM_SWITCH.items() if kind not in present]
    nonbonded = system.nonbonded
    if nonbonded is None or not len(nonbonded.pairs):
        lines += ["vdwterm none", "chargeterm none"]
    elif not (nonbonded.charge_slots >= 0).any():
        lines.append("chargeterm none")
    if not (nonbonded is not None and (nonbonded.charge_slots >= 0).any() and "dipole" in present):
        lines.append("chgdplterm none")
    return lines


def _atomic_number(element: str) -> int:
    """Hydrogens are written with atomic number 0. Tinker's kangle.f counts the
    hydrogens on an angle's centre to pick one of MM3's three ideal angles — a choice
    q2mm has already made per term — and at a centre carrying three hydrogens besides
    the angle's own atoms (the S_N2 transition state's carbon) that count indexes past
    its table and takes another row's angle. Tinker's other uses of the atomic number
    (MMFF, electronegativity and hydrogen-bond terms, heavy hydrogens) are off here."""
    return 0 if element == "H" else SYMBOLS.index(element)


def _atom_lines(system: MMSystem, nb: list[list[int]]) -> list[str]:
    mol = system.molecule
    return [
        f'atom {i + 1} {i + 1} {el} "q2mm atom {i + 1}" {_atomic_number(el)} {_number(m)} {len(nb[i])}'
        for i, (el, m) in enumerate(zip(mol.elements, mol.masses, strict=True))
    ]


def _zero_lines(system: MMSystem, nb: list[list[int]]) -> list[str]:
    """Zero parameters for what Tinker perceives and q2mm does not model."""
    terms = system.terms
    have = {k: {tuple(a) for a in terms[k].atoms.tolist()} for k in terms if len(terms[k])}
    out = []
    if "bond" in have:
        bonds = {tuple(sorted(b)) for b in have["bond"]}
        missing = [(i, j) for i, ns in enumerate(nb) for j in ns if i < j and (i, j) not in bonds]
        out += [f"bond {i + 1} {j + 1} 0.0 1.0" for i, j in missing]
    if "angle" in have:
        angles = {_angle_key(a) for a in have["angle"]}
        out += [f"angle {i + 1} {j + 1} {k + 1} 0.0 109.5" for i, j, k in sorted(_angles(nb) - angles)]
    if "torsion" in have:
        forms = [torsion_form(t, nb) for t in have["torsion"]]
        torsions = {atoms for keyword, atoms in forms if keyword == "torsion"}
        out += [
            f"torsion {i + 1} {j + 1} {k + 1} {m + 1} 0.0 0.0 1"
            for i, j, k, m in sorted({_canonical(t) for t in _torsions(nb)} - torsions)
        ]
    if "opbend" in have:
        bent = {(a[3], a[1]) for a in have["opbend"]}
        out += [
            f"opbend {l + 1} {j + 1} 0 0 0.0"
            for j, ns in enumerate(nb)
            if len(ns) == 3
            for l in ns
            if (l, j) not in bent
        ]
    return out


def _xyz(system: MMSystem, nb: list[list[int]]) -> str:
    mol = system.molecule
    lines = [f"{mol.n_atoms}  {mol.name or 'q2mm structure'}"]
    for i, (el, (x, y, z)) in enumerate(zip(mol.elements, mol.coordinates.tolist(), strict=True)):
        bonded = " ".join(str(j + 1) for j in nb[i])
        lines.append(f"{i + 1} {el} {x!r} {y!r} {z!r} {i + 1} {bonded}".rstrip())
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------- per-evaluation lines


def _gather(values: np.ndarray, slots: np.ndarray, default: float = 0.0) -> np.ndarray:
    """Parameter values at ``slots``; −1 (a field the row does not carry) → ``default``."""
    return np.where(slots >= 0, values[np.maximum(slots, 0)], default)


def _field(terms, values, name: str, default: float = 0.0) -> np.ndarray:
    return _gather(values, terms.slots[:, terms.fields.index(name)], default)


def _classes(atoms) -> str:
    return " ".join(str(a + 1) for a in atoms)


def _simple(keyword: str, columns: tuple[tuple[str, float], ...]) -> Callable:
    """Lines ``keyword classes v1 v2 …`` with each field divided by its file scale."""

    def lines(terms, values) -> list[str]:
        cols = [_field(terms, values, name) / scale for name, scale in columns]
        return [
            f"{keyword} {_classes(a)} " + " ".join(_number(c[n]) for c in cols)
            for n, a in enumerate(terms.atoms.tolist())
        ]

    return lines


def _opbend(terms, values) -> list[str]:
    k = _field(terms, values, "k")
    return [
        f"opbend {l + 1} {j + 1} {min(i, m) + 1} {max(i, m) + 1} {_number(k[n])}"
        for n, (i, j, m, l) in enumerate(terms.atoms.tolist())
    ]


def _dipole(terms, values) -> list[str]:
    moment, position = _field(terms, values, "moment"), _field(terms, values, "position", 0.5)
    out = []
    for n, (i, j) in enumerate(terms.atoms.tolist()):
        mu, s = (moment[n], position[n]) if i < j else (-moment[n], 1.0 - position[n])
        out.append(f"dipole {min(i, j) + 1} {max(i, j) + 1} {_number(mu)} {_number(s)}")
    return out


def _torsion_writer(nb: list[list[int]]) -> Callable:
    """Torsion lines for a structure with connectivity ``nb``."""

    def lines(terms, values) -> list[str]:
        forms = [torsion_form(tuple(a), nb) for a in terms.atoms.tolist()]
        return _torsion(terms, values, forms)

    return lines


def _torsion(terms, values, forms) -> list[str]:
    """One line per dihedral with its Fourier components; components of one
    periodicity are summed when their phases agree (they then are one cosine)."""
    k, phase = _field(terms, values, "k"), _field(terms, values, "phase")
    scale = terms.constants.get("scale")
    k = k * (np.asarray(scale, dtype=float) if scale is not None else 1.0)
    order = np.asarray(terms.constants["periodicity"]).astype(int)
    rows: dict[tuple, dict[int, list[float]]] = defaultdict(dict)
    for n, key in enumerate(forms):
        if key[0] == "imptors" and order[n] > 3:
            raise UnsupportedTermError(
                f"engine 'tinker' cannot express the improper torsion on atoms {list(key[1])} with "
                f"periodicity {order[n]}: Tinker's imptors stop at 3"
            )
        old = rows[key].get(order[n])
        if old is None:
            rows[key][order[n]] = [k[n], phase[n]]
        elif math.isclose(math.cos(old[1] - phase[n]), 1.0, abs_tol=1e-12):
            old[0] += k[n]
        else:
            raise UnsupportedTermError(
                f"engine 'tinker' cannot express torsions on atoms {list(key[1])} with periodicity "
                f"{order[n]} at two phases: Tinker takes one phase per periodicity"
            )
    return [
        f"{keyword} {_classes(atoms)} "
        + " ".join(f"{_number(v)} {_number(p * RAD_TO_DEG)} {n}" for n, (v, p) in sorted(parts.items()))
        for (keyword, atoms), parts in rows.items()
    ]


_WRITERS: dict[str, Callable] = {
    "bond": _simple("bond", (("k", 1.0), ("r0", 1.0))),
    "angle": _simple("angle", (("k", 1.0), ("theta0", DEG_TO_RAD))),
    "strbnd": _simple("strbnd", (("k1", 1.0), ("k2", 1.0))),
    "urey_bradley": _simple("ureybrad", (("k", 1.0), ("r0", 1.0))),
    "opbend": _opbend,
    "improper": _simple("improper", (("k", 1.0), ("phi0", DEG_TO_RAD))),
    "dipole": _dipole,
}


def _nonbonded_lines(system: MMSystem, nb: list[list[int]], values: np.ndarray) -> list[str]:
    nonbonded = system.nonbonded
    if nonbonded is None or not len(nonbonded.pairs):
        return []
    slots = nonbonded.vdw_slots
    radius, eps = _gather(values, slots[:, 0]), _gather(values, slots[:, 1])
    reduction = np.where(nonbonded.reduction_partner >= 0, _gather(values, slots[:, 2]), 0.0)
    lines = [
        f"vdw {i + 1} {_number(radius[i])} {_number(eps[i])} {_number(reduction[i])}"
        for i in range(system.molecule.n_atoms)
    ]
    override = nonbonded.pair_override
    for (i, j), (rs, es) in zip(nonbonded.pairs.tolist(), override.tolist(), strict=True):
        if rs >= 0:
            lines.append(f"vdwpr {min(i, j) + 1} {max(i, j) + 1} {_number(values[rs])} {_number(values[es])}")
    if (nonbonded.charge_slots >= 0).any():
        q = _gather(values, nonbonded.charge_slots)
        lines += [f"charge {i + 1} {_number(q[i])}" for i in range(system.molecule.n_atoms)]
    return lines


@attrs.frozen(eq=False)
class TinkerInput:
    """One structure's Tinker input: the XYZ file (fixed) and a keyfile per parameter
    vector. Building it checks every term (see the module doc)."""

    system: MMSystem
    xyz: str
    fixed: tuple[str, ...]
    neighbours: tuple[tuple[int, ...], ...]
    writers: dict[str, Callable]

    @classmethod
    def build(cls, system: MMSystem) -> TinkerInput:
        nb = neighbours(system)
        _check_topology(system, nb)
        _check_strbnd(system)
        _check_pairs(system, nb)
        unknown = sorted(k for k, t in system.terms.items() if len(t) and k not in TERM_KINDS)
        if unknown:
            raise UnsupportedTermError("engine 'tinker' cannot evaluate these terms: " + ", ".join(unknown))
        fixed = [*_header(system), *_atom_lines(system, nb), *_zero_lines(system, nb)]
        writers = {**_WRITERS, "torsion": _torsion_writer(nb)}
        return cls(system, _xyz(system, nb), tuple(fixed), tuple(map(tuple, nb)), writers)

    def key(self, values: np.ndarray) -> str:
        """The keyfile for the parameter vector ``values`` (canonical units)."""
        v = np.asarray(values, dtype=float)
        lines = list(self.fixed)
        for kind, terms in self.system.terms.items():
            if len(terms):
                lines += self.writers[kind](terms, v)
        lines += _nonbonded_lines(self.system, [list(n) for n in self.neighbours], v)
        return "\n".join(lines) + "\n"
