"""A small orthorhombic cell: the engine's energy equals the explicit sum over
periodic images written out in NumPy, with a C–H bond (and the H's reduced vdW
centre) straddling the cell's faces."""

from __future__ import annotations

import itertools

import attrs
import numpy as np
import pytest
from q2mm.errors import ConfigError
from q2mm.model import Conventions, ForceField, FunctionalForm, MMSystem, Molecule, Nonbonded, Row, TermSet
from q2mm_engine_jaxmd.engine import JaxMdEngine

BOX = np.array([8.0, 8.5, 9.0])
CUTOFF, WIDTH = 3.9, 0.5
#: C, H (bonded across the x face), C, H (bonded), C, C.
X = np.array(
    [
        [7.8, 4.0, 4.0],
        [0.62, 4.1, 4.05],
        [3.0, 2.0, 6.0],
        [3.5, 2.9, 6.4],
        [1.5, 6.5, 1.0],
        [5.5, 5.0, 2.5],
    ]
)
CARBON = [True, False, True, False, True, True]
BONDS = [(0, 1), (2, 3)]


def _forcefield() -> ForceField:
    return ForceField(
        FunctionalForm.MM3,
        [
            Row("bond", ("1", "5"), {"k": 340.0, "r0": 1.10}, key="CH"),
            Row("vdw", ("1",), {"radius": 2.04, "epsilon": 0.027}, key="vC"),
            Row("vdw", ("5",), {"radius": 1.62, "epsilon": 0.020, "reduction": 0.923}, key="vH"),
            Row("charge", ("1",), {"q": -0.2}, key="qC"),
            Row("charge", ("5",), {"q": 0.2}, key="qH"),
        ],
        conventions=Conventions.mm3(),
    )


def _system(ff: ForceField, x: np.ndarray) -> MMSystem:
    index = ff.slot_index()
    key = ["C" if c else "H" for c in CARBON]
    vdw = [[index[f"v{k}.radius"], index[f"v{k}.epsilon"], index.get(f"v{k}.reduction", -1)] for k in key]
    charges = [index[f"q{k}.q"] for k in key]
    partner = [-1, 0, -1, 2, -1, -1]
    pairs = [p for p in itertools.combinations(range(len(x)), 2) if p not in BONDS]
    bond = TermSet("bond", BONDS, [[index["CH.k"], index["CH.r0"]]] * 2, ("k", "r0"))
    nonbonded = Nonbonded(
        vdw, partner, charges, pairs, np.ones(len(pairs)), np.ones(len(pairs)), -np.ones((len(pairs), 2), int)
    )
    molecule = Molecule(["C" if c else "H" for c in CARBON], x, name="cell", bonds=BONDS)
    return MMSystem(
        molecule, ff.form, ff.conventions, {"bond": bond}, nonbonded, n_parameters=len(ff.vector())
    )


def _switch(r):
    t = np.clip((r - (CUTOFF - WIDTH)) / WIDTH, 0.0, 1.0)
    return 1.0 - t**3 * (10.0 - 15.0 * t + 6.0 * t * t)


def _image_sum(ff: ForceField, x: np.ndarray) -> float:
    """Every pair over all 27 neighbouring images (a cutoff below half the box lets at
    most one count), MM3 Buckingham between centres, Coulomb between atoms, and the
    bonds on the H's image nearest its carbon."""
    cv, p = ff.conventions, dict(zip(ff.slot_index(), ff.vector(), strict=True))
    x = x.copy()
    for c, h in BONDS:  # bring each H next to its carbon
        x[h] = x[c] + (x[h] - x[c]) - BOX * np.round((x[h] - x[c]) / BOX)
    centres = x.copy()
    for c, h in BONDS:
        centres[h] = x[c] + p["vH.reduction"] * (x[h] - x[c])
    energy = 0.0
    for c, h in BONDS:
        dr = np.linalg.norm(x[h] - x[c]) - p["CH.r0"]
        energy += p["CH.k"] * dr**2 * (1 + cv.bond_cubic * dr + cv.bond_quartic * dr**2)
    key = ["C" if c else "H" for c in CARBON]
    shifts = np.array(list(itertools.product((-1, 0, 1), repeat=3))) * BOX
    for i, j in itertools.combinations(range(len(x)), 2):
        if (i, j) in BONDS:
            continue
        rstar = p[f"v{key[i]}.radius"] + p[f"v{key[j]}.radius"]
        eps = np.sqrt(p[f"v{key[i]}.epsilon"] * p[f"v{key[j]}.epsilon"])
        qq = p[f"q{key[i]}.q"] * p[f"q{key[j]}.q"]
        for shift in shifts:
            r = np.linalg.norm(centres[j] + shift - centres[i])
            vdw = eps * (cv.vdw_a * np.exp(-cv.vdw_b * r / rstar) - cv.vdw_c * (rstar / r) ** 6)
            ra = np.linalg.norm(x[j] + shift - x[i])
            energy += _switch(r) * vdw + _switch(ra) * cv.electric * qq / (cv.dielectric * ra)
    return float(energy)


@pytest.fixture(scope="module")
def cell():
    ff = _forcefield()
    engine = JaxMdEngine(cutoff=CUTOFF, switch=WIDTH, box=BOX.tolist(), skin=0.3)
    return ff, engine.prepare(_system(ff, X))


def test_energy_is_the_sum_over_images(cell):
    ff, session = cell
    expected = _image_sum(ff, X)
    assert session.energy(ff.vector()) == pytest.approx(expected, rel=1e-8, abs=1e-8)


def test_energy_does_not_depend_on_where_the_cell_is_cut(cell):
    """Translating every atom and wrapping them back into the cell moves the faces
    through bonds and pairs; the energy stays."""
    ff, session = cell
    moved = np.mod(X + np.array([2.7, -1.3, 4.4]), BOX)
    assert session.energy(ff.vector(), moved) == pytest.approx(_image_sum(ff, X), rel=1e-8, abs=1e-8)


def test_cutoff_must_be_below_half_the_box():
    ff = _forcefield()
    with pytest.raises(ConfigError, match="half its shortest edge"):
        JaxMdEngine(cutoff=4.2, box=BOX.tolist()).prepare(_system(ff, X))


def test_box_from_a_tinker_xyz_box_line(tmp_path):
    """A Tinker XYZ box line becomes the molecule's cell and the session's box; a
    non-orthorhombic one is refused."""
    from q2mm.io.xyz import read_xyz

    lines = [f"{len(X)}  cell", "  ".join(f"{v:.4f}" for v in (*BOX, 90.0, 90.0, 90.0))]
    for k, (x, carbon) in enumerate(zip(X, CARBON, strict=True)):
        bonded = [b + 1 for a, b in BONDS if a == k] + [a + 1 for a, b in BONDS if b == k]
        lines.append(
            f"{k + 1} {'C' if carbon else 'H'} {x[0]:.6f} {x[1]:.6f} {x[2]:.6f} {1 if carbon else 5} "
        )
        lines[-1] += " ".join(map(str, bonded))
    path = tmp_path / "cell.xyz"
    path.write_text("\n".join(lines) + "\n")
    molecule = read_xyz(path)[0]
    assert molecule.cell == (*BOX, 90.0, 90.0, 90.0)
    ff = _forcefield()
    system = _system(ff, X)
    system = MMSystem(
        molecule, system.form, system.conventions, system.terms, system.nonbonded, system.n_parameters
    )
    session = JaxMdEngine(cutoff=CUTOFF, switch=WIDTH, skin=0.3).prepare(system)
    np.testing.assert_array_equal(session.box, BOX)
    skewed = attrs.evolve(system, molecule=molecule.with_(cell=(*BOX, 90.0, 100.0, 90.0)))
    with pytest.raises(ConfigError, match="orthorhombic"):
        JaxMdEngine(cutoff=CUTOFF).prepare(skewed)
