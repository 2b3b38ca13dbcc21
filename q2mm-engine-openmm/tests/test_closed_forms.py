"""Each term family against its closed form, written out here in NumPy independently
of the engine (and of OpenMM's primitives): energies for random geometries and
parameters (hypothesis), coordinate gradients against central differences of the
closed form, and Hessians (Hartree/Bohr²) against second differences of it.

The systems are built by hand (TermSet / Nonbonded directly) on one six-atom
skeleton; random displacements of up to 0.15 Å per coordinate move every internal
coordinate off its ideal value and, for the MM3 Buckingham pairs, across the r*/2
wall.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from q2mm.model import Conventions, FunctionalForm, MMSystem, Molecule, Nonbonded, TermSet
from q2mm.model.units import DEBYE_TO_E_A, HESSIAN_AU_TO_KCALMOL_A2, RAD_TO_DEG
from q2mm_engine_openmm.engine import OpenMMEngine

SKELETON = np.array(
    [
        [0.00, 0.00, 0.00],
        [1.45, 0.00, 0.00],
        [2.05, 1.30, 0.05],
        [3.50, 1.35, 0.40],
        [-0.60, -1.20, 0.15],
        [-0.65, 1.15, -0.20],
    ]
)
ELEMENTS = ("C", "C", "C", "O", "H", "H")
MM3 = Conventions.mm3()
HARMONIC = Conventions()

DISPLACEMENTS = arrays(float, SKELETON.shape, elements=st.floats(-0.15, 0.15))
SETTINGS = settings(max_examples=25, deadline=None)


def molecule() -> Molecule:
    return Molecule(ELEMENTS, SKELETON, name="skeleton")


# --- closed forms -------------------------------------------------------------------


def distance(x, i, j):
    return np.linalg.norm(x[i] - x[j])


def bend(x, i, j, k):
    a, b = x[i] - x[j], x[k] - x[j]
    return np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))


def dihedral(x, i, j, k, l):
    """IUPAC: positive when, looking along j→k, i must turn clockwise onto l."""
    b1, b2, b3 = x[j] - x[i], x[k] - x[j], x[l] - x[k]
    n1, n2 = np.cross(b1, b2), np.cross(b2, b3)
    return np.arctan2(np.cross(n1, n2) @ b2 / np.linalg.norm(b2), n1 @ n2)


def angle_series(delta, cv, prefix):
    """1 + c3 Δ° + c4 Δ°² + c5 Δ°³ + c6 Δ°⁴ with the conventions' ``prefix`` coefficients."""
    deg = np.degrees(delta)
    c = [getattr(cv, f"{prefix}_{n}") for n in ("cubic", "quartic", "pentic", "sextic")]
    return 1 + c[0] * deg + c[1] * deg**2 + c[2] * deg**3 + c[3] * deg**4


def oop_angle(x, i, j, k, l):
    """Angle between l→j and the plane through l, i, k (MM3/Tinker ALLINGER)."""
    n = np.cross(x[i] - x[l], x[k] - x[l])
    v = x[j] - x[l]
    return np.arcsin(abs(v @ n) / np.linalg.norm(v) / np.linalg.norm(n))


# --- systems --------------------------------------------------------------------------


def make_system(conventions, terms=(), nonbonded=None, n_parameters=0):
    form = FunctionalForm.MM3 if conventions.vdw_form == "buckingham" else FunctionalForm.HARMONIC
    return MMSystem(molecule(), form, conventions, {t.kind: t for t in terms}, nonbonded, n_parameters)


BONDS = [(0, 1), (1, 2), (2, 3), (0, 4), (0, 5)]
BOND_SLOTS = [[0, 1], [0, 1], [2, 3], [4, 5], [4, 5]]
ANGLES = [(1, 0, 4), (1, 0, 5), (4, 0, 5), (0, 1, 2), (1, 2, 3)]
ANGLE_SLOTS = [[0, 1], [0, 1], [2, 3], [4, 5], [4, 5]]
TORSIONS = [(4, 0, 1, 2), (5, 0, 1, 2), (0, 1, 2, 3), (0, 1, 2, 3)]
TORSION_SLOTS = [[0, 1], [2, 3], [4, 5], [6, 7]]
PERIODICITY = [1, 2, 3, 1]
IMPROPERS = [(0, 1, 4, 5), (1, 0, 2, 4), (2, 1, 3, 0)]
OPBENDS = [(1, 0, 4, 5), (4, 0, 5, 1), (5, 0, 1, 4), (0, 1, 2, 3)]
STRBNDS = [(1, 0, 4), (0, 1, 2), (1, 2, 3)]
DIPOLES = [(0, 1), (2, 3), (0, 4), (1, 2), (0, 5)]


def uniform(lo, hi, n):
    return st.lists(st.floats(lo, hi), min_size=n, max_size=n).map(np.array)


def bond_energy(v, x, cv):
    e = 0.0
    for (i, j), (sk, sr) in zip(BONDS, BOND_SLOTS, strict=True):
        d = distance(x, i, j) - v[sr]
        e += v[sk] * d**2 * (1 + cv.bond_cubic * d + cv.bond_quartic * d**2)
    return e


def angle_energy(v, x, cv):
    e = 0.0
    for (i, j, k), (sk, st_) in zip(ANGLES, ANGLE_SLOTS, strict=True):
        d = bend(x, i, j, k) - v[st_]
        e += v[sk] * d**2 * angle_series(d, cv, "angle")
    return e


def ub_energy(v, x, cv):
    return sum(v[0] * (distance(x, i, k) - v[1]) ** 2 for i, _, k in ANGLES[:3]) + sum(
        v[2] * (distance(x, i, k) - v[3]) ** 2 for i, _, k in ANGLES[3:]
    )


def strbnd_energy(v, x, cv):
    e = 0.0
    for n, (i, j, k) in enumerate(STRBNDS):
        k1, k2, r1, r2, t0 = v[5 * n : 5 * n + 5]
        e += (k1 * (distance(x, i, j) - r1) + k2 * (distance(x, k, j) - r2)) * (bend(x, i, j, k) - t0)
    return e


def torsion_energy(v, x, cv):
    return sum(
        v[sk] * (1 + np.cos(n * dihedral(x, *q) - v[sp]))
        for q, (sk, sp), n in zip(TORSIONS, TORSION_SLOTS, PERIODICITY, strict=True)
    )


def improper_energy(v, x, cv):
    e = 0.0
    for n, q in enumerate(IMPROPERS):
        d = (dihedral(x, *q) - v[2 * n + 1] + np.pi) % (2 * np.pi) - np.pi
        e += v[2 * n] * d**2
    return e


def opbend_energy(v, x, cv):
    e = 0.0
    for n, q in enumerate(OPBENDS):
        chi = oop_angle(x, *q)
        e += v[n % 2] * chi**2 * angle_series(chi, cv, "opbend")
    return e


BONDED_CASES = {
    # name: (TermSet, closed form, parameter strategy, conventions)
    "bond-harmonic": (
        TermSet("bond", BONDS, BOND_SLOTS, ("k", "r0")),
        bond_energy,
        st.tuples(uniform(100, 700, 3), uniform(0.9, 1.6, 3)).map(lambda t: np.ravel(np.stack(t, 1))),
        HARMONIC,
    ),
    "bond-mm3": (
        TermSet("bond", BONDS, BOND_SLOTS, ("k", "r0")),
        bond_energy,
        st.tuples(uniform(100, 700, 3), uniform(0.9, 1.6, 3)).map(lambda t: np.ravel(np.stack(t, 1))),
        MM3,
    ),
    "angle-harmonic": (
        TermSet("angle", ANGLES, ANGLE_SLOTS, ("k", "theta0")),
        angle_energy,
        st.tuples(uniform(20, 150, 3), uniform(1.7, 2.2, 3)).map(lambda t: np.ravel(np.stack(t, 1))),
        HARMONIC,
    ),
    "angle-mm3": (
        TermSet("angle", ANGLES, ANGLE_SLOTS, ("k", "theta0")),
        angle_energy,
        st.tuples(uniform(20, 150, 3), uniform(1.7, 2.2, 3)).map(lambda t: np.ravel(np.stack(t, 1))),
        MM3,
    ),
    "urey_bradley": (
        TermSet("urey_bradley", ANGLES, [[0, 1]] * 3 + [[2, 3]] * 2, ("k", "r0")),
        ub_energy,
        st.tuples(uniform(10, 100, 2), uniform(2.0, 2.6, 2)).map(lambda t: np.ravel(np.stack(t, 1))),
        HARMONIC,
    ),
    "strbnd": (
        TermSet(
            "strbnd",
            STRBNDS,
            [list(range(5 * n, 5 * n + 5)) for n in range(3)],
            ("k1", "k2", "r1_0", "r2_0", "theta0"),
        ),
        strbnd_energy,
        st.tuples(uniform(-20, 20, 6), uniform(1.0, 1.6, 6), uniform(1.7, 2.2, 3)).map(
            lambda t: np.ravel(
                [[t[0][2 * n], t[0][2 * n + 1], t[1][2 * n], t[1][2 * n + 1], t[2][n]] for n in range(3)]
            )
        ),
        MM3,
    ),
    "torsion": (
        TermSet("torsion", TORSIONS, TORSION_SLOTS, ("k", "phase"), {"periodicity": PERIODICITY}),
        torsion_energy,
        st.tuples(uniform(-3, 3, 4), uniform(-np.pi, np.pi, 4)).map(lambda t: np.ravel(np.stack(t, 1))),
        MM3,
    ),
    "improper": (
        TermSet("improper", IMPROPERS, [[0, 1], [2, 3], [4, 5]], ("k", "phi0")),
        improper_energy,
        st.tuples(uniform(5, 50, 3), uniform(-np.pi, np.pi, 3)).map(lambda t: np.ravel(np.stack(t, 1))),
        HARMONIC,
    ),
    "opbend-mm3": (
        TermSet("opbend", OPBENDS, [[0], [1], [0], [1]], ("k",)),
        opbend_energy,
        uniform(5, 80, 2),
        MM3,
    ),
    "opbend-harmonic": (
        TermSet("opbend", OPBENDS, [[0], [1], [0], [1]], ("k",)),
        opbend_energy,
        uniform(5, 80, 2),
        HARMONIC,
    ),
}


# --- nonbonded ---------------------------------------------------------------------------

PAIRS = list(itertools.combinations(range(6), 2))
#: Per atom: radius, epsilon, reduction slots; atoms 4 and 5 (H) reduce toward atom 0,
#: atom 3 toward atom 2; atom 1 has no reduction slot.
VDW_SLOTS = [[0, 1, -1], [0, 1, -1], [2, 3, -1], [4, 5, 6], [7, 8, 9], [7, 8, 9]]
PARTNER = [-1, 0, -1, 2, 0, 0]  # atom 1 names a partner but has no reduction slot: not reduced
N_VDW = 10
OVERRIDE = {(1, 4): (10, 11)}  # an explicit vdw_pair row for one pair
PAIR_OVERRIDE = [list(OVERRIDE.get(p, (-1, -1))) for p in PAIRS]
CHARGE_SLOTS = [12, 13, 12, 14, -1, 15]


def nonbonded(vdw_scale, elec_scale) -> Nonbonded:
    return Nonbonded(VDW_SLOTS, PARTNER, CHARGE_SLOTS, PAIRS, vdw_scale, elec_scale, PAIR_OVERRIDE)


def vdw_energy(v, x, cv, vdw_scale):
    def centre(a):
        red = VDW_SLOTS[a][2]
        if PARTNER[a] < 0 or red < 0:
            return x[a]
        return x[PARTNER[a]] + v[red] * (x[a] - x[PARTNER[a]])

    e = 0.0
    for (i, j), s in zip(PAIRS, vdw_scale, strict=True):
        if (i, j) in OVERRIDE:
            rstar, eps = v[OVERRIDE[(i, j)][0]], v[OVERRIDE[(i, j)][1]]
        else:
            rstar = v[VDW_SLOTS[i][0]] + v[VDW_SLOTS[j][0]]
            eps = np.sqrt(v[VDW_SLOTS[i][1]] * v[VDW_SLOTS[j][1]])
        p = rstar / np.linalg.norm(centre(i) - centre(j))
        if cv.vdw_form == "lennard-jones":
            e += s * eps * (p**12 - 2 * p**6)
        elif p <= 2:
            e += s * eps * (cv.vdw_a * np.exp(-cv.vdw_b / p) - cv.vdw_c * p**6)
        else:  # Tinker's wall: continuous with exp-6 at p = 2
            e += s * eps * (cv.vdw_a * np.exp(-cv.vdw_b / 2) - cv.vdw_c * 2**6) * (p / 2) ** 12
    return e


def charge_energy(v, x, cv, elec_scale):
    e = 0.0
    for (i, j), s in zip(PAIRS, elec_scale, strict=True):
        if CHARGE_SLOTS[i] >= 0 and CHARGE_SLOTS[j] >= 0:
            e += (
                s
                * cv.electric
                * v[CHARGE_SLOTS[i]]
                * v[CHARGE_SLOTS[j]]
                / (cv.dielectric * distance(x, i, j))
            )
    return e


def nonbonded_values(draw_radius, draw_eps, reductions, override, charges):
    v = np.zeros(16)
    v[[0, 2, 4, 7]] = draw_radius
    v[[1, 3, 5, 8]] = draw_eps
    v[[6, 9]] = reductions
    v[[10, 11]] = override
    v[12:16] = charges
    return v


NONBONDED_VALUES = st.builds(
    nonbonded_values,
    uniform(1.4, 2.1, 4),
    uniform(0.01, 0.2, 4),
    uniform(0.85, 0.95, 2),
    st.tuples(st.floats(2.5, 3.5), st.floats(0.01, 0.1)),
    uniform(-0.6, 0.6, 4),
)
SCALES = st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=len(PAIRS), max_size=len(PAIRS)).map(np.array)


def dipole_energy(v, x, cv, positions):
    e = 0.0
    for a, b in itertools.combinations(range(len(DIPOLES)), 2):
        (i, j), (k, l) = DIPOLES[a], DIPOLES[b]
        if {i, j} & {k, l}:
            continue
        va, vb = x[j] - x[i], x[l] - x[k]
        ra, rb = x[i] + positions[a] * va, x[k] + positions[b] * vb
        r = rb - ra
        rn = np.linalg.norm(r)
        cos_chi = va @ vb / np.linalg.norm(va) / np.linalg.norm(vb)
        cos_a, cos_b = va @ r / np.linalg.norm(va) / rn, vb @ r / np.linalg.norm(vb) / rn
        mu = v[a] * DEBYE_TO_E_A * v[b] * DEBYE_TO_E_A
        e += cv.electric * mu * (cos_chi - 3 * cos_a * cos_b) / (cv.dielectric * rn**3)
    return e


def charge_dipole_energy(x, cv, charges, moments, positions):
    """Tinker's echgdpl: each charge with each dipole that neither contains it nor
    contains an atom bonded to it."""
    bonded = {frozenset(b) for b in BONDS}
    e = 0.0
    for q, charge in enumerate(charges):
        for d, (i, j) in enumerate(DIPOLES):
            if q in (i, j) or {q, i} in bonded or {q, j} in bonded:
                continue
            axis = x[j] - x[i]
            r = x[i] + positions[d] * axis - x[q]
            rn = np.linalg.norm(r)
            e += (
                cv.electric
                * charge
                * moments[d]
                * DEBYE_TO_E_A
                * (axis @ r)
                / (cv.dielectric * np.linalg.norm(axis) * rn**3)
            )
    return e


# --- checks -------------------------------------------------------------------------------


def numeric_gradient(f, x, h=1e-6):
    g = np.zeros_like(x)
    for a in range(x.size):
        up, down = x.copy(), x.copy()
        up.flat[a] += h
        down.flat[a] -= h
        g.flat[a] = (f(up) - f(down)) / (2 * h)
    return g


def _second_differences(f, x, h):
    n = x.size
    hess = np.zeros((n, n))
    for a in range(n):
        for b in range(a, n):
            values = []
            for sa, sb in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                y = x.copy()
                y.flat[a] += sa * h
                y.flat[b] += sb * h
                values.append(f(y))
            hess[a, b] = hess[b, a] = (values[0] - values[1] - values[2] + values[3]) / (4 * h * h)
    return hess


def numeric_hessian(f, x, h=2e-3):
    """Second differences of the energy with one Richardson extrapolation (error
    O(h⁴), so the anharmonic MM3 terms do not need a step at round-off level),
    kcal/(mol·Å²)."""
    return (4 * _second_differences(f, x, h / 2) - _second_differences(f, x, h)) / 3


def check_session(session, values, x, closed):
    energy = closed(x)
    assert session.energy(values, x) == pytest.approx(energy, rel=1e-10, abs=1e-9)
    numeric = numeric_gradient(closed, x)
    # central differences lose ~ε|E|/h to round-off: scale the absolute floor
    np.testing.assert_allclose(
        session.gradient(values, x), numeric, rtol=1e-6, atol=1e-6 + 1e-9 * np.abs(numeric).max()
    )


@pytest.fixture(scope="module")
def engine():
    return OpenMMEngine(platform="Reference")


@pytest.mark.parametrize("case", sorted(BONDED_CASES))
def test_bonded_family_matches_closed_form(engine, case):
    terms, closed, values_strategy, cv = BONDED_CASES[case]
    n_parameters = int(terms.slots.max()) + 1
    session = engine.prepare(make_system(cv, [terms], n_parameters=n_parameters))

    @SETTINGS
    @given(values=values_strategy, displacement=DISPLACEMENTS)
    def check(values, displacement):
        x = SKELETON + displacement
        check_session(session, values, x, lambda y: closed(values, y, cv))

    check()


@pytest.mark.parametrize("case", sorted(BONDED_CASES))
def test_bonded_family_hessian(engine, case):
    terms, closed, values_strategy, cv = BONDED_CASES[case]
    n_parameters = int(terms.slots.max()) + 1
    session = engine.prepare(make_system(cv, [terms], n_parameters=n_parameters))

    @settings(max_examples=3, deadline=None)
    @given(values=values_strategy, displacement=DISPLACEMENTS)
    def check(values, displacement):
        x = SKELETON + displacement
        if terms.kind == "opbend":
            # MM3's series acts on |χ|: the energy has a kink at a planar centre, where a
            # finite-difference step of 2e-3 Å straddles it and the reference is wrong.
            assume(min(abs(oop_angle(x, *q)) for q in OPBENDS) > 0.05)
        if terms.kind == "improper":
            # The wrapped k (φ − φ0)² has a cusp where φ − φ0 = ±π: same story.
            deviations = [
                (dihedral(x, *q) - values[2 * n + 1] + np.pi) % (2 * np.pi) - np.pi
                for n, q in enumerate(IMPROPERS)
            ]
            assume(min(np.pi - abs(d) for d in deviations) > 0.05)
        numeric = numeric_hessian(lambda y: closed(values, y, cv), x)
        hessian = session.hessian(values, x) * HESSIAN_AU_TO_KCALMOL_A2
        np.testing.assert_allclose(hessian, numeric, rtol=1e-5, atol=1e-5 * np.abs(numeric).max())

    check()


@pytest.mark.parametrize("conventions", [MM3, HARMONIC], ids=["buckingham", "lennard-jones"])
def test_vdw_matches_closed_form(engine, conventions):
    @SETTINGS
    @given(values=NONBONDED_VALUES, vdw_scale=SCALES, displacement=DISPLACEMENTS)
    def check(values, vdw_scale, displacement):
        nb = nonbonded(vdw_scale, np.zeros(len(PAIRS)))
        session = engine.prepare(make_system(conventions, nonbonded=nb, n_parameters=16))
        x = SKELETON + displacement
        check_session(session, values, x, lambda y: vdw_energy(values, y, conventions, vdw_scale))

    check()


def test_buckingham_wall_is_reached_and_continuous(engine):
    """Two atoms at r*/r from 1.5 to 3: the energy crosses the wall at r*/2 without a
    jump, and matches the closed form on both sides."""
    pair = Nonbonded([[0, 1, -1], [0, 1, -1]], [-1, -1], [-1, -1], [(0, 1)], [1.0], [0.0], [[-1, -1]])
    mol = Molecule(("C", "C"), [[0, 0, 0], [1.0, 0, 0]])
    session = engine.prepare(MMSystem(mol, FunctionalForm.MM3, MM3, {}, pair, 2))
    values = np.array([1.9, 0.05])
    rstar = 3.8
    energies = []
    for ratio in np.linspace(1.5, 3.0, 31):
        x = np.array([[0, 0, 0], [rstar / ratio, 0, 0]])
        e = session.energy(values, x)
        p = ratio
        expected = 0.05 * (
            MM3.vdw_a * np.exp(-MM3.vdw_b / p) - MM3.vdw_c * p**6
            if p <= 2
            else (MM3.vdw_a * np.exp(-MM3.vdw_b / 2) - MM3.vdw_c * 64) * (p / 2) ** 12
        )
        assert e == pytest.approx(expected, rel=1e-10)
        energies.append(e)
    assert np.all(np.diff(energies) > 0)  # repulsive all the way in
    just_in = session.energy(values, np.array([[0, 0, 0], [rstar / 2 - 1e-9, 0, 0]]))
    just_out = session.energy(values, np.array([[0, 0, 0], [rstar / 2 + 1e-9, 0, 0]]))
    assert just_in == pytest.approx(just_out, rel=1e-6)


def test_charges_match_closed_form(engine):
    @SETTINGS
    @given(values=NONBONDED_VALUES, elec_scale=SCALES, displacement=DISPLACEMENTS)
    def check(values, elec_scale, displacement):
        nb = nonbonded(np.zeros(len(PAIRS)), elec_scale)
        session = engine.prepare(make_system(MM3, nonbonded=nb, n_parameters=16))
        x = SKELETON + displacement
        check_session(session, values, x, lambda y: charge_energy(values, y, MM3, elec_scale))

    check()


@pytest.mark.parametrize("with_position", [True, False])
def test_dipoles_match_closed_form(engine, with_position):
    n = len(DIPOLES)
    fields = ("moment", "position") if with_position else ("moment",)
    slots = [[a, n + a] for a in range(n)] if with_position else [[a] for a in range(n)]
    terms = TermSet("dipole", DIPOLES, slots, fields)
    session = engine.prepare(make_system(MM3, [terms], n_parameters=2 * n if with_position else n))

    @SETTINGS
    @given(moments=uniform(-2.5, 2.5, n), positions=uniform(0.2, 0.8, n), displacement=DISPLACEMENTS)
    def check(moments, positions, displacement):
        values = np.concatenate([moments, positions]) if with_position else moments
        used = positions if with_position else np.full(n, 0.5)
        x = SKELETON + displacement
        check_session(session, values, x, lambda y: dipole_energy(moments, y, MM3, used))

    check()


def test_charges_with_dipoles_match_closed_form(engine):
    """Bond dipoles and point charges on every atom: dipole pairs plus Tinker's
    charge–dipole sum (no charge–charge pairs listed)."""
    n = len(DIPOLES)
    terms = TermSet("dipole", DIPOLES, [[a, n + a] for a in range(n)], ("moment", "position"))
    charges = Nonbonded(
        [[-1, -1, -1]] * 6,
        [-1] * 6,
        list(range(2 * n, 2 * n + 6)),
        np.zeros((0, 2)),
        [],
        [],
        np.zeros((0, 2)),
    )
    system = MMSystem(
        molecule().with_(bonds=BONDS), FunctionalForm.MM3, MM3, {"dipole": terms}, charges, 2 * n + 6
    )
    session = engine.prepare(system)

    @SETTINGS
    @given(
        moments=uniform(-2.5, 2.5, n),
        positions=uniform(0.2, 0.8, n),
        q=uniform(-0.8, 0.8, 6),
        displacement=DISPLACEMENTS,
    )
    def check(moments, positions, q, displacement):
        values = np.concatenate([moments, positions, q])
        x = SKELETON + displacement

        def closed(y):
            return dipole_energy(moments, y, MM3, positions) + charge_dipole_energy(
                y, MM3, q, moments, positions
            )

        check_session(session, values, x, closed)
        assert set(session.term_energies(values, x)) == {"dipole", "charge_dipole"}

    check()


def test_nonbonded_hessian(engine):
    rng = np.random.default_rng(3)
    vdw_scale = np.ones(len(PAIRS))
    elec_scale = np.full(len(PAIRS), 0.5)
    nb = nonbonded(vdw_scale, elec_scale)
    session = engine.prepare(make_system(MM3, nonbonded=nb, n_parameters=16))
    values = nonbonded_values(
        [1.9, 1.9, 1.8, 1.6], [0.05, 0.05, 0.06, 0.02], [0.92, 0.92], [3.0, 0.04], [0.3, -0.2, 0.1, -0.4]
    )
    x = SKELETON + rng.uniform(-0.1, 0.1, SKELETON.shape)

    def closed(y):
        return vdw_energy(values, y, MM3, vdw_scale) + charge_energy(values, y, MM3, elec_scale)

    numeric = numeric_hessian(closed, x)
    hessian = session.hessian(values, x) * HESSIAN_AU_TO_KCALMOL_A2
    np.testing.assert_allclose(hessian, numeric, rtol=1e-5, atol=1e-5 * np.abs(numeric).max())


def test_improper_wraps_across_pi(engine):
    """φ0 = π − 0.05 and φ = −π + 0.05 are 0.1 rad apart, not 2π − 0.1."""
    terms = TermSet("improper", [(0, 1, 2, 3)], [[0, 1]], ("k", "phi0"))
    session = engine.prepare(make_system(HARMONIC, [terms], n_parameters=2))
    x = SKELETON.copy()
    phi = dihedral(x, 0, 1, 2, 3)
    values = np.array([10.0, phi + 0.1 - 2 * np.pi if phi > 0 else phi + 0.1])
    assert session.energy(values, x) == pytest.approx(10.0 * 0.1**2, rel=1e-9)


def test_opbend_series_uses_degrees_and_absolute_angle(engine):
    """The MM3 bracket acts on |χ| in degrees: mirror images have equal energy and the
    cubic coefficient −0.014/deg changes the energy by the stated factor."""
    terms = TermSet("opbend", [OPBENDS[0]], [[0]], ("k",))
    session = engine.prepare(make_system(MM3, [terms], n_parameters=1))
    x = SKELETON.copy()
    x[0, 2] = 0.25  # pyramidalize centre 0
    mirror = x * np.array([1, 1, -1])
    chi = oop_angle(x, *OPBENDS[0])
    e = session.energy(np.array([30.0]), x)
    assert e == pytest.approx(session.energy(np.array([30.0]), mirror), rel=1e-12)
    assert e == pytest.approx(30.0 * chi**2 * angle_series(chi, MM3, "opbend"), rel=1e-12)
    assert chi * RAD_TO_DEG > 5  # far enough out of plane for the series to matter


@pytest.mark.parametrize("conventions", [HARMONIC, MM3], ids=["harmonic", "mm3"])
def test_nearly_linear_bend_has_exact_forces(engine, conventions):
    """OpenMM's own angle forces clamp |a×b| and lose the force of a bend within
    ~0.002° of linear; the engine writes such bends from coordinates. Centre atom
    1e-6 Å off the line of its 1.8 Å neighbours, θ0 = 172°: gradient against the
    closed form's central differences (step 1e-10 Å, far inside the smooth region)."""
    x = np.array([[-1.8, 0.0, 0.0], [0.0, 1e-6, 0.0], [1.8, 0.0, 0.0]])
    terms = TermSet("angle", [(0, 1, 2)], [[0, 1]], ("k", "theta0"))
    mol = Molecule(("F", "C", "F"), x)
    session = engine.prepare(MMSystem(mol, FunctionalForm.MM3, conventions, {"angle": terms}, None, 2))
    values = np.array([40.0, np.radians(172.0)])

    def closed(y):
        a, b = y[0] - y[1], y[2] - y[1]
        d = np.arctan2(np.linalg.norm(np.cross(a, b)), a @ b) - values[1]
        return values[0] * d**2 * angle_series(d, conventions, "angle")

    assert session.energy(values, x) == pytest.approx(closed(x), rel=1e-12)
    expected = numeric_gradient(closed, x, h=1e-10)
    assert abs(expected[1, 1]) > 10  # 2k(θ − θ0)·∂θ/∂y ≈ 2·40·0.14·(2/1.8)
    np.testing.assert_allclose(session.gradient(values, x), expected, rtol=1e-5, atol=1e-4)
