"""Systems the tests share: CH₃F under the stock MM3 parameters Tinker 26.2 applied to
it (``data/tinker-ch3f/parameters.md``) in canonical units, and the reduction of a
system to where q2mm's and Tinker's force fields coincide."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
from q2mm.model import Conventions, FunctionalForm, MMSystem, Molecule, TermSet
from q2mm.model.units import DEG_TO_RAD, RAD_TO_DEG
from q2mm_engine_tinker.keyfile import neighbours, torsion_form

#: mm3.prm's units: canonical = unit × (180/π)^p × value.
BONDUNIT, ANGLEUNIT, STRBNDUNIT = 71.94, 0.02191418 * RAD_TO_DEG**2, 2.51118 * RAD_TO_DEG
CH3F_MM3_VALUES = np.array(
    [
        BONDUNIT * 4.740,
        1.1044,  # C–H with the F electronegativity correction Tinker applied
        BONDUNIT * 5.900,
        1.3900,  # C–F
        ANGLEUNIT * 0.550,
        107.80 * DEG_TO_RAD,  # H–C–H (one more hydrogen on C)
        ANGLEUNIT * 0.720,
        107.00 * DEG_TO_RAD,  # H–C–F (two more hydrogens on C)
        STRBNDUNIT * 0.080,  # H–C–F stretch-bend, both bonds
        1.82,  # C→F bond dipole, debye
    ]
)


def ch3f_mm3_system(data_dir: Path) -> MMSystem:
    """Atoms as ``data/tinker-ch3f/ch3f.xyz``: C, F, H, H, H."""
    rows = [line.split() for line in (data_dir / "tinker-ch3f/ch3f.xyz").read_text().splitlines()[1:]]
    mol = Molecule([r[1] for r in rows], [[float(v) for v in r[2:5]] for r in rows], name="ch3f")
    bonds = [[0, 1], [0, 2], [0, 3], [0, 4]]
    angles = [[2, 0, 3], [2, 0, 4], [3, 0, 4], [1, 0, 2], [1, 0, 3], [1, 0, 4]]
    strbnds = [[h, 0, 1] for h in (2, 3, 4)]
    terms = {
        "bond": TermSet("bond", bonds, [[2, 3]] + [[0, 1]] * 3, ("k", "r0")),
        "angle": TermSet("angle", angles, [[4, 5]] * 3 + [[6, 7]] * 3, ("k", "theta0")),
        "strbnd": TermSet("strbnd", strbnds, [[8, 8, 1, 3, 7]] * 3, ("k1", "k2", "r1_0", "r2_0", "theta0")),
        "dipole": TermSet("dipole", [[0, 1]], [[9, -1]], ("moment", "position")),
    }
    return MMSystem(mol, FunctionalForm.MM3, Conventions.mm3(), terms, None, len(CH3F_MM3_VALUES))


def keep_terms(system: MMSystem, kind: str, keep) -> MMSystem:
    """``system`` with only the ``kind`` terms whose atoms satisfy ``keep``."""
    t = system.terms[kind]
    mask = np.array([bool(keep(tuple(a))) for a in t.atoms.tolist()], dtype=bool)
    kept = TermSet(kind, t.atoms[mask], t.slots[mask], t.fields, {k: v[mask] for k, v in t.constants.items()})
    return attrs.evolve(system, terms={**system.terms, kind: kept})


def expressible(system: MMSystem) -> tuple[MMSystem, tuple[int, int]]:
    """Where the force fields coincide: without the torsions Tinker cannot hold and
    with no reduced vdW centre for a hydrogen bonded to two atoms (Tinker reduces only
    singly bonded atoms) — the engine refuses both by name — and how many of each."""
    nb = neighbours(system)
    reduced = keep_terms(system, "torsion", lambda a: torsion_form(a, nb) is not None)
    partners = system.nonbonded.reduction_partner.copy()
    moved = [i for i, p in enumerate(partners.tolist()) if p >= 0 and nb[i] != [p]]
    partners[moved] = -1
    reduced = attrs.evolve(reduced, nonbonded=attrs.evolve(system.nonbonded, reduction_partner=partners))
    return reduced, (len(system.terms["torsion"]) - len(reduced.terms["torsion"]), len(moved))


def formaldehyde_like(form: FunctionalForm) -> tuple[MMSystem, np.ndarray]:
    """A trigonal centre bent out of plane, with the terms no real structure here has:
    MM3 out-of-plane bends (each neighbour out of the plane of the other two), a
    Urey–Bradley H···H spring and a harmonic improper about the centre."""
    mol = Molecule(
        ["C", "O", "H", "H"],
        [[0.0, 0.0, 0.05], [0.0, 0.0, 1.22], [0.94, 0.0, -0.56], [-0.93, 0.02, -0.55]],
        bonds=[(0, 1), (0, 2), (0, 3)],
        name="trigonal",
    )
    values = np.array([700.0, 1.21, 340.0, 1.10, 60.0, 2.10, 40.0, 2.05, 30.0, 15.0, 1.85, 8.0, 0.05])
    terms = {
        "bond": TermSet("bond", [[0, 1], [0, 2], [0, 3]], [[0, 1], [2, 3], [2, 3]], ("k", "r0")),
        "angle": TermSet(
            "angle", [[1, 0, 2], [1, 0, 3], [2, 0, 3]], [[4, 5], [4, 5], [6, 7]], ("k", "theta0")
        ),
        "opbend": TermSet("opbend", [[2, 0, 3, 1], [1, 0, 3, 2], [1, 0, 2, 3]], [[8], [8], [8]], ("k",)),
        "urey_bradley": TermSet("urey_bradley", [[2, 0, 3]], [[9, 10]], ("k", "r0")),
        "improper": TermSet("improper", [[0, 1, 2, 3]], [[11, 12]], ("k", "phi0")),
    }
    conventions = Conventions.mm3() if form == FunctionalForm.MM3 else Conventions()
    return MMSystem(mol, form, conventions, terms, None, len(values)), values
