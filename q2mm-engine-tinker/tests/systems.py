"""CH₃F under the stock MM3 parameters Tinker 26.2 applied to it
(``data/tinker-ch3f/parameters.md``), as a q2mm system in canonical units."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from q2mm.model import Conventions, FunctionalForm, MMSystem, Molecule, TermSet
from q2mm.model.units import DEG_TO_RAD, RAD_TO_DEG

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
