"""Every term family against its closed form, written out here independently in NumPy
(Tinker's formulas and constants where MM3 is concerned), on random geometries."""

from __future__ import annotations

import functools
import math

import jax
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from q2mm.model import Conventions

MM3 = Conventions.mm3()
HARMONIC = Conventions()
seeds = st.integers(0, 2**32 - 1)
SETTINGS = settings(max_examples=40, deadline=None)


@pytest.fixture(scope="module", autouse=True)
def _float64(engine):
    """The engine fixture switches JAX to float64 before any array is built here."""


@functools.cache
def term(function, conventions):
    """One term as a jitted function of (atoms, parameters, constants), compiled once
    for all hypothesis examples."""
    return jax.jit(lambda x, p, c: function(x, p, c, conventions))


def points(seed: int, n: int, spread: float = 1.6) -> np.ndarray:
    """n atoms, each 0.9–2.2 Å from the previous one in a random direction."""
    rng = np.random.default_rng(seed)
    x = [rng.normal(size=3)]
    for _ in range(n - 1):
        d = rng.normal(size=3)
        x.append(x[-1] + d / np.linalg.norm(d) * rng.uniform(0.9, 2.2))
    return np.array(x) * spread / 1.6


def angle_np(a, b, c) -> float:
    u, v = a - b, c - b
    return float(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1)))


def dihedral_np(p0, p1, p2, p3) -> float:
    """The 'praxeolitic' formula: projections of the outer bonds onto the plane
    normal to the central bond."""
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1 = b1 / np.linalg.norm(b1)
    v = b0 - (b0 @ b1) * b1
    w = b2 - (b2 @ b1) * b1
    return float(np.arctan2(np.cross(b1, v) @ w, v @ w))


def mm3_series(delta_rad: float) -> float:
    """Tinker mm3.prm header: angle-cubic −0.014, -quartic 5.6e-5, -pentic −7.0e-7,
    -sextic 2.2e-8, all per degree."""
    d = math.degrees(delta_rad)
    return 1 - 0.014 * d + 5.6e-5 * d**2 - 7.0e-7 * d**3 + 2.2e-8 * d**4


@given(seeds)
@SETTINGS
def test_bond_mm3_and_harmonic(seed):
    from q2mm_engine_jax.terms.stretch import bond

    rng = np.random.default_rng(seed)
    x = points(seed, 2)
    k, r0 = rng.uniform(100, 600), rng.uniform(0.9, 2.2)
    dr = np.linalg.norm(x[0] - x[1]) - r0
    mm3 = k * dr**2 * (1 - 2.55 * dr + 3.793125 * dr**2)  # bond-cubic, bond-quartic of mm3.prm
    assert float(term(bond, MM3)(x, np.array([k, r0]), np.zeros(0))) == pytest.approx(
        mm3, rel=1e-12, abs=1e-12
    )
    assert float(term(bond, HARMONIC)(x, np.array([k, r0]), np.zeros(0))) == pytest.approx(
        k * dr**2, rel=1e-12, abs=1e-12
    )


@given(seeds)
@SETTINGS
def test_urey_bradley(seed):
    from q2mm_engine_jax.terms.stretch import urey_bradley

    rng = np.random.default_rng(seed)
    x = points(seed, 3)
    k, r0 = rng.uniform(5, 50), rng.uniform(1.5, 3.0)
    expected = k * (np.linalg.norm(x[0] - x[2]) - r0) ** 2
    assert float(term(urey_bradley, MM3)(x, np.array([k, r0]), np.zeros(0))) == pytest.approx(
        expected, rel=1e-12
    )


@given(seeds)
@SETTINGS
def test_angle_mm3_series_in_degrees(seed):
    from q2mm_engine_jax.terms.bend import angle

    rng = np.random.default_rng(seed)
    x = points(seed, 3)
    theta = angle_np(*x)
    assume(0.05 < theta < math.pi - 0.05)
    k, theta0 = rng.uniform(20, 80), math.radians(rng.uniform(95, 125))
    delta = theta - theta0
    got = float(term(angle, MM3)(x, np.array([k, theta0]), np.zeros(0)))
    assert got == pytest.approx(k * delta**2 * mm3_series(delta), rel=1e-9, abs=1e-12)
    harmonic = float(term(angle, HARMONIC)(x, np.array([k, theta0]), np.zeros(0)))
    assert harmonic == pytest.approx(k * delta**2, rel=1e-9, abs=1e-12)


@given(seeds)
@SETTINGS
def test_stretch_bend(seed):
    from q2mm_engine_jax.terms.bend import strbnd

    rng = np.random.default_rng(seed)
    x = points(seed, 3)
    theta = angle_np(*x)
    assume(0.05 < theta < math.pi - 0.05)
    p = np.array([rng.uniform(-20, 20), rng.uniform(-20, 20), 1.1, 1.5, math.radians(109.0)])
    expected = (p[0] * (np.linalg.norm(x[0] - x[1]) - p[2]) + p[1] * (np.linalg.norm(x[2] - x[1]) - p[3])) * (
        theta - p[4]
    )
    assert float(term(strbnd, MM3)(x, p, np.zeros(0))) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@given(seeds, st.integers(1, 6))
@SETTINGS
def test_fourier_torsion(seed, n):
    from q2mm_engine_jax.terms.torsion import torsion

    rng = np.random.default_rng(seed)
    x = points(seed, 4)
    assume(0.1 < angle_np(*x[:3]) < math.pi - 0.1 and 0.1 < angle_np(*x[1:]) < math.pi - 0.1)
    k, phase = rng.uniform(-2, 2), rng.choice([0.0, math.pi, rng.uniform(-math.pi, math.pi)])
    expected = k * (1 + math.cos(n * dihedral_np(*x) - phase))
    got = float(term(torsion, MM3)(x, np.array([k, phase]), np.array([float(n)])))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-10)


@given(seeds)
@SETTINGS
def test_harmonic_improper_wraps(seed):
    from q2mm_engine_jax.terms.torsion import improper

    rng = np.random.default_rng(seed)
    x = points(seed, 4)
    assume(0.1 < angle_np(*x[:3]) < math.pi - 0.1 and 0.1 < angle_np(*x[1:]) < math.pi - 0.1)
    k, phi0 = rng.uniform(1, 20), rng.uniform(-math.pi, math.pi)
    d = (dihedral_np(*x) - phi0 + math.pi) % (2 * math.pi) - math.pi
    assert float(term(improper, MM3)(x, np.array([k, phi0]), np.zeros(0))) == pytest.approx(
        k * d * d, rel=1e-9, abs=1e-10
    )


def tinker_opbend_angle(xa, xb, xc, xd) -> float:
    """Tinker eopbend, opbendtype ALLINGER: centre b, out-of-plane atom d; the angle
    between the A–C–D plane and the D–B vector, in degrees."""
    ab, cb, db, ad, cd = xa - xb, xc - xb, xd - xb, xa - xd, xc - xd
    cc = (ad @ ad) * (cd @ cd) - (ad @ cd) ** 2
    ee = db @ np.cross(ab, cb)
    rdb2 = db @ db
    cosine = math.sqrt(max(rdb2 - ee * ee / cc, 0.0) / rdb2)
    return math.degrees(math.acos(min(1.0, cosine)))


@given(seeds)
@SETTINGS
def test_mm3_out_of_plane_bend_matches_tinker(seed):
    from q2mm_engine_jax.terms.bend import opbend

    rng = np.random.default_rng(seed)
    centre = rng.normal(size=3)
    subs = centre + rng.normal(size=(3, 3))  # substituents i, k, l around the centre j
    x = np.array([subs[0], centre, subs[1], subs[2]])
    assume(min(np.linalg.norm(subs - centre, axis=1)) > 0.7)
    k = rng.uniform(1, 20)
    dt = tinker_opbend_angle(x[0], x[1], x[2], x[3])
    assume(dt < 80)
    series = 1 - 0.014 * dt + 5.6e-5 * dt**2 - 7.0e-7 * dt**3 + 2.2e-8 * dt**4
    expected = k * math.radians(dt) ** 2 * series
    assert float(term(opbend, MM3)(x, np.array([k]), np.zeros(0))) == pytest.approx(
        expected, rel=1e-8, abs=1e-12
    )


def vdw_parameters(radius_i, radius_j, eps_i, eps_j, override=None):
    pair_r, pair_e = override or (0.0, 0.0)
    return np.array([radius_i, radius_j, eps_i, eps_j, pair_r, pair_e]), np.array(
        [float(override is not None)]
    )


@given(seeds)
@SETTINGS
def test_lennard_jones_and_coulomb(seed):
    from q2mm_engine_jax.terms.nonbonded import coulomb, vdw

    rng = np.random.default_rng(seed)
    x = np.array([[0.0, 0.0, 0.0], rng.normal(size=3)])
    r = np.linalg.norm(x[1])
    assume(r > 0.5)
    ri, rj, ei, ej = (
        rng.uniform(1.2, 2.2),
        rng.uniform(1.2, 2.2),
        rng.uniform(0.01, 0.2),
        rng.uniform(0.01, 0.2),
    )
    qi, qj = rng.uniform(-1, 1), rng.uniform(-1, 1)
    conventions = Conventions(dielectric=2.0)
    rstar, eps = ri + rj, math.sqrt(ei * ej)
    lj = eps * ((rstar / r) ** 12 - 2 * (rstar / r) ** 6)
    assert float(term(vdw, conventions)(x, *vdw_parameters(ri, rj, ei, ej))) == pytest.approx(
        lj, rel=1e-10, abs=1e-12
    )
    got = float(term(coulomb, conventions)(x, np.array([qi, qj]), np.zeros(0)))
    assert got == pytest.approx(332.0538 * qi * qj / (2.0 * r), rel=1e-12)


@given(seeds)
@SETTINGS
def test_buckingham_and_explicit_pair(seed):
    from q2mm_engine_jax.terms.nonbonded import vdw

    rng = np.random.default_rng(seed)
    rstar, eps = rng.uniform(2.5, 4.0), rng.uniform(0.01, 0.2)
    r = rstar * rng.uniform(0.55, 3.0)
    x = np.array([[0.0, 0.0, 0.0], [r, 0.0, 0.0]])
    expected = eps * (184000 * math.exp(-12 * r / rstar) - 2.25 * (rstar / r) ** 6)  # mm3.prm a/b/c-expterm
    by_rule = vdw_parameters(rstar / 2 - 0.1, rstar / 2 + 0.1, eps * 2, eps / 2)
    assert float(term(vdw, MM3)(x, *by_rule)) == pytest.approx(expected, rel=1e-10)
    explicit = vdw_parameters(1.0, 1.0, 0.5, 0.5, override=(rstar, eps))
    assert float(term(vdw, MM3)(x, *explicit)) == pytest.approx(expected, rel=1e-10)


def test_buckingham_wall_is_continuous_and_repulsive(engine):
    """Below r*/2 exp-6 would turn over and dive to −∞; the wall keeps rising."""
    from q2mm_engine_jax.terms.nonbonded import vdw

    f = term(vdw, MM3)
    rstar, eps = 3.6, 0.05
    p, c = vdw_parameters(rstar / 2, rstar / 2, eps, eps)

    def energy(r):
        return float(f(np.array([[0.0, 0.0, 0.0], [r, 0.0, 0.0]]), p, c))

    half = rstar / 2
    at_wall = eps * (184000 * math.exp(-6.0) - 2.25 * 2.0**6)
    assert energy(half * (1 + 1e-9)) == pytest.approx(at_wall, rel=1e-7)
    assert energy(half * (1 - 1e-9)) == pytest.approx(at_wall, rel=1e-7)
    radii = np.linspace(0.05, 1.2, 200) * rstar
    energies = np.array([energy(r) for r in radii])
    assert np.all(np.diff(energies[radii < 0.9 * rstar]) < 0)  # monotonically repulsive going inward
    assert energies[0] > 1e6


def test_mm3_hydrogen_reduction_through_the_engine(hydrogen_pairs, engine):
    """H vdW centres move toward their bonded atoms by the reduction factor (0.923);
    Coulomb distances stay atom–atom; the pair scales apply. Closed form over the
    pairs, independently of the engine's centre map."""
    system, values = hydrogen_pairs
    x = system.molecule.coordinates
    nb = system.nonbonded
    partner = nb.reduction_partner
    centre = np.array(
        [x[i] if partner[i] < 0 else x[partner[i]] + 0.923 * (x[i] - x[partner[i]]) for i in range(len(x))]
    )
    radius, eps, charge = values[nb.vdw_slots[:, 0]], values[nb.vdw_slots[:, 1]], values[nb.charge_slots]
    expected = 0.0
    for (i, j), sv, se in zip(nb.pairs, nb.vdw_scale, nb.elec_scale, strict=True):
        r, rstar, e = np.linalg.norm(centre[i] - centre[j]), radius[i] + radius[j], math.sqrt(eps[i] * eps[j])
        expected += sv * e * (184000 * math.exp(-12 * r / rstar) - 2.25 * (rstar / r) ** 6)
        expected += se * 332.0538 * charge[i] * charge[j] / (1.5 * np.linalg.norm(x[i] - x[j]))
    session = engine.prepare(system)
    assert session.energy(values) == pytest.approx(expected, rel=1e-12)


#: 1 debye = 3.33564e-30 C·m, e·Å = 1.602176634e-29 C·m (CODATA).
DEBYE_IN_E_ANGSTROM = 3.33564e-30 / 1.602176634e-29


def tinker_dipole_energy(x, mu_a, s_a, mu_b, s_b) -> float:
    """Tinker edipole: e = f μa μb (dotp − 3 doti dotk / r²) / (√(ri² rk² r²) r²),
    f = electric / (debye² · dielectric) with dielectric 1.5."""
    xi, xk = x[1] - x[0], x[3] - x[2]
    xr = x[0] + xi * s_a - x[2] - xk * s_b
    r2 = xr @ xr
    dotp, doti, dotk = xi @ xk, xi @ xr, xk @ xr
    f = 332.0538 * DEBYE_IN_E_ANGSTROM**2 / 1.5
    return f * mu_a * mu_b * (dotp - 3 * doti * dotk / r2) / (math.sqrt((xi @ xi) * (xk @ xk) * r2) * r2)


@given(seeds)
@SETTINGS
def test_bond_dipole_interaction(seed):
    from q2mm_engine_jax.terms.nonbonded import dipole_pair

    rng = np.random.default_rng(seed)
    a0, b0 = rng.normal(size=3), rng.normal(size=3) * 3
    x = np.array([a0, a0 + rng.normal(size=3), b0, b0 + rng.normal(size=3)])
    assume(min(np.linalg.norm(x[1] - x[0]), np.linalg.norm(x[3] - x[2])) > 0.5)
    mu_a, mu_b, s_a, s_b = (
        rng.uniform(-2, 2),
        rng.uniform(-2, 2),
        rng.uniform(0.2, 0.8),
        rng.uniform(0.2, 0.8),
    )
    centres = np.linalg.norm((x[0] + s_a * (x[1] - x[0])) - (x[2] + s_b * (x[3] - x[2])))
    assume(centres > 1.0)
    expected = tinker_dipole_energy(x, mu_a, s_a, mu_b, s_b)
    got = float(term(dipole_pair, MM3)(x, np.array([mu_a, s_a, mu_b, s_b]), np.zeros(0)))
    assert got == pytest.approx(expected, rel=2e-6)  # debye constant: CODATA here, units.py's 5 digits


def linear(theta_offset: float = 0.0) -> np.ndarray:
    """F–C–F-like: 1.85 Å arms, bent by ``theta_offset`` radians from 180°."""
    return np.array(
        [
            [0.0, 1.85, 0.0],
            [0.0, 0.0, 0.0],
            [1.85 * math.sin(theta_offset), -1.85 * math.cos(theta_offset), 0.0],
        ]
    )


@pytest.mark.parametrize("conventions", [MM3, HARMONIC], ids=["mm3", "harmonic"])
@pytest.mark.parametrize("theta0_deg", [180.0, 109.5])
def test_angle_is_finite_at_exactly_180_degrees(engine, theta0_deg, conventions):
    from q2mm_engine_jax.terms.bend import angle

    k = 25.0
    f = lambda x: angle(x, np.array([k, math.radians(theta0_deg)]), np.zeros(0), conventions)  # noqa: E731
    x = linear()
    energy, grad, hess = f(x), jax.grad(f)(x), jax.hessian(f)(x)
    delta = math.pi - math.radians(theta0_deg)
    series = mm3_series(delta) if conventions is MM3 else 1.0
    assert float(energy) == pytest.approx(k * delta**2 * series, rel=1e-12, abs=1e-15)
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))
    if theta0_deg != 180.0:
        return
    # A linear ideal angle is smooth at 180°: zero gradient, and the bending
    # stiffness across the line is 2k/r² per unit sideways displacement of an end
    # atom (the series' odd terms vanish there).
    assert np.abs(grad).max() == 0.0
    assert float(hess[2, 0, 2, 0]) == pytest.approx(2 * k / 1.85**2, rel=1e-9)
    assert float(hess[0, 2, 0, 2]) == pytest.approx(2 * k / 1.85**2, rel=1e-9)
    bent = jax.hessian(f)(linear(1e-6))
    np.testing.assert_allclose(hess, bent, atol=1e-5 * np.abs(bent).max())  # the cubic term is O(δ)
    if conventions is HARMONIC:
        # k δ² is C∞ there: central differences of the (exact, off-line) gradient agree.
        h = 1e-5
        flat = x.reshape(-1)
        fd = np.array(
            [
                (
                    np.asarray(jax.grad(f)((flat + h * e).reshape(3, 3)))
                    - np.asarray(jax.grad(f)((flat - h * e).reshape(3, 3)))
                ).reshape(-1)
                / (2 * h)
                for e in np.eye(9)
            ]
        )
        np.testing.assert_allclose(np.asarray(hess).reshape(9, 9), fd, atol=1e-8 * np.abs(fd).max())


def tinker_charge_dipole_energy(x, q, mu, s) -> float:
    """Tinker echgdpl: e = f q μ (xk·xr) / (|xk| r³), f = electric / (debye · D),
    xk the dipole's bond, xr from the charge to the dipole's centre."""
    xk = x[2] - x[1]
    xr = x[1] + xk * s - x[0]
    r2 = xr @ xr
    f = 332.0538 * DEBYE_IN_E_ANGSTROM / 1.5
    return f * q * mu * (xk @ xr) / (math.sqrt((xk @ xk) * r2) * r2)


@given(seeds)
@SETTINGS
def test_charge_dipole_interaction(seed):
    from q2mm_engine_jax.terms.nonbonded import charge_dipole

    rng = np.random.default_rng(seed)
    d0 = rng.normal(size=3) * 3
    x = np.array([rng.normal(size=3), d0, d0 + rng.normal(size=3)])
    assume(np.linalg.norm(x[2] - x[1]) > 0.5)
    q, mu, s = rng.uniform(-1, 1), rng.uniform(-2, 2), rng.uniform(0.2, 0.8)
    assume(np.linalg.norm(x[1] + s * (x[2] - x[1]) - x[0]) > 1.0)
    got = float(term(charge_dipole, MM3)(x, np.array([q, mu, s]), np.zeros(0)))
    assert got == pytest.approx(tinker_charge_dipole_energy(x, q, mu, s), rel=2e-6)
