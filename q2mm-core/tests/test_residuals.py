"""Residual kinds on the real QM data: zero where MM equals QM, mode pairing by
overlap, degenerate modes, transition-state methods C and D, geometry, energies."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from q2mm.errors import ConfigError
from q2mm.estimate import invert_reaction_curvature
from q2mm.io import read_structures
from q2mm.model import Conventions, FunctionalForm, MMSystem, Molecule, StationaryPoint, TermSet
from q2mm.parameters import ParameterSpace
from q2mm.residuals import eigenmatrix, energy, frequency, geometry, hessian, stability, tether
from q2mm.residuals.frequency import assign_by_overlap
from q2mm.residuals.weights import DEFAULT_WEIGHTS
from q2mm.topology import perceive
from q2mm.vibrations import match_modes, normal_modes, to_wavenumbers


@pytest.fixture(scope="module")
def ch3f(data_dir) -> Molecule:
    return read_structures(data_dir / "ch3f" / "ch3f-hessian.npy")[0].with_(
        stationary_point=StationaryPoint.GROUND_STATE, name="ch3f"
    )


@pytest.fixture(scope="module")
def sn2(data_dir) -> Molecule:
    return read_structures(data_dir / "sn2-ts" / "sn2-ts-hessian.npy")[0].with_(
        stationary_point=StationaryPoint.TRANSITION_STATE, name="sn2-ts"
    )


def _file_frequencies(path) -> np.ndarray:
    return np.array(
        [float(line) for line in path.read_text().splitlines() if line.strip() and line[0] != "#"]
    )


def _from_mass_weighted(molecule: Molecule, h_mw: np.ndarray) -> np.ndarray:
    s = np.sqrt(np.repeat(molecule.masses, 3))
    return h_mw * s[:, None] * s[None, :]


def _bonded_system(molecule: Molecule) -> MMSystem:
    """Bonds, angles and torsions of the perceived topology (slots unused here)."""
    t = perceive(molecule)
    terms = {
        "bond": TermSet("bond", t.bonds, [[0, 1]] * len(t.bonds), ("k", "r0")),
        "angle": TermSet("angle", t.angles, [[0, 1]] * len(t.angles), ("k", "theta0")),
    }
    if len(t.torsions):
        terms["torsion"] = TermSet("torsion", t.torsions, [[0, 1]] * len(t.torsions), ("k", "phase"))
    return MMSystem(molecule, FunctionalForm.HARMONIC, Conventions(), terms, n_parameters=2)


# ----------------------------------------------------------------------------- QM as MM


def test_qm_hessian_as_mm_gives_zero_residuals(ch3f):
    mm = {"hessian": np.array(ch3f.hessian)}
    assert np.abs(eigenmatrix.build(ch3f, None).evaluate(mm, np)).max() < 1e-12
    assert np.abs(frequency.build(ch3f, None).evaluate(mm, np)).max() < 1e-6
    assert np.abs(hessian.build(ch3f, None).evaluate(mm, np)).max() == 0.0


def test_eigenmatrix_diagonal_is_the_qm_spectrum(ch3f, data_dir):
    residual = eigenmatrix.build(ch3f, None)
    diagonal = residual.diagonal(ch3f.hessian)
    np.testing.assert_allclose(diagonal, residual.reference.eigenvalues, rtol=1e-12, atol=1e-15)
    # ...and that spectrum is Psi4's own (same isotopic masses): 9 modes, to 1e-3 cm⁻¹.
    psi4 = _file_frequencies(data_dir / "ch3f" / "ch3f-frequencies.txt")
    np.testing.assert_allclose(to_wavenumbers(diagonal), psi4, atol=1e-3)
    # Off-diagonal couplings vanish; the residual is laid out diagonal first.
    n = residual.reference.n_modes
    assert residual.weights.shape == (n + n * (n - 1) // 2,)
    assert set(residual.weights[:n]) == {DEFAULT_WEIGHTS["eigenmatrix.diagonal"]}
    assert set(residual.weights[n:]) == {DEFAULT_WEIGHTS["eigenmatrix.off_diagonal"]}


def test_eigenmatrix_ignores_rigid_motions(ch3f):
    """A force along a pure translation or rotation is invisible to the projection."""
    masses = np.repeat(ch3f.masses, 3)
    x = ch3f.coordinates - (ch3f.masses[:, None] * ch3f.coordinates).sum(0) / ch3f.masses.sum()
    translation = np.tile([1.0, 0.0, 0.0], ch3f.n_atoms) * np.sqrt(masses)
    rotation = np.cross([0.0, 0.0, 1.0], x).reshape(-1) * np.sqrt(masses)
    residual = eigenmatrix.build(ch3f, None)
    base = residual.evaluate({"hessian": ch3f.hessian}, np)
    for d in (translation, rotation):
        d = d / np.linalg.norm(d)
        polluted = ch3f.hessian + _from_mass_weighted(ch3f, 0.3 * np.outer(d, d))
        np.testing.assert_allclose(residual.evaluate({"hessian": polluted}, np), base, atol=1e-12)


# ----------------------------------------------------------------------------- pairing


def test_frequencies_pair_by_overlap_when_modes_swap_order(ch3f):
    """Move the 1040 cm⁻¹ C–F stretch above the 1495 cm⁻¹ umbrella and mix the two
    modes by 20°: sorted-index pairing would compare the wrong modes, overlap pairing
    compares each QM mode with the MM mode that looks like it."""
    ref = frequency.build(ch3f, None)
    modes = ref.reference.modes  # (3N, 9) mass-weighted QM modes
    lam = ref.reference.eigenvalues.copy()
    mm_lam = lam.copy()
    mm_lam[0] = (1700.0 / 5140.487) ** 2  # C–F stretch now at 1700 cm⁻¹
    mm_lam[3] = (1450.0 / 5140.487) ** 2
    c, s = math.cos(math.radians(20)), math.sin(math.radians(20))
    rotated = modes.copy()
    rotated[:, 0], rotated[:, 3] = c * modes[:, 0] + s * modes[:, 3], -s * modes[:, 0] + c * modes[:, 3]
    mm_hessian = _from_mass_weighted(ch3f, rotated @ np.diag(mm_lam) @ rotated.T)
    r = ref.evaluate({"hessian": mm_hessian}, np)
    qm = to_wavenumbers(lam)
    expected = np.zeros(9)
    expected[0], expected[3] = 1700.0 - qm[0], 1450.0 - qm[3]
    np.testing.assert_allclose(r, expected, atol=1e-6)
    # The test means something: by sorted index the stretch would be 1450 cm⁻¹.
    by_index = np.sort(to_wavenumbers(mm_lam)) - qm
    assert abs(by_index[0] - expected[0]) > 200


def test_degenerate_pair_residual_does_not_depend_on_the_arbitrary_basis(ch3f):
    """Split CH₃F's 1191 cm⁻¹ E pair in the MM Hessian and rotate the pair's basis: the
    MM modes inside the pair have no identity, and the residual vector must not care."""
    ref = frequency.build(ch3f, None)
    assert ref.clusters == ((0, 1), (1, 3), (3, 4), (4, 6), (6, 7), (7, 9))
    modes = ref.reference.modes
    lam = ref.reference.eigenvalues.copy()
    lam[1], lam[2] = (1180.0 / 5140.487) ** 2, (1205.0 / 5140.487) ** 2
    results = []
    for angle in (0.0, 30.0, 45.0, 60.0, 90.0, 135.0):
        c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        basis = modes.copy()
        basis[:, 1], basis[:, 2] = c * modes[:, 1] + s * modes[:, 2], -s * modes[:, 1] + c * modes[:, 2]
        results.append(
            ref.evaluate({"hessian": _from_mass_weighted(ch3f, basis @ np.diag(lam) @ basis.T)}, np)
        )
    qm = to_wavenumbers(ref.reference.eigenvalues)
    np.testing.assert_allclose(results[0][1:3], [1180.0 - qm[1], 1205.0 - qm[2]], atol=1e-6)
    for r in results[1:]:
        np.testing.assert_allclose(r, results[0], atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 12), mixing=st.floats(0.0, 0.35))
def test_greedy_pairing_agrees_with_the_hungarian_assignment(seed, n, mixing):
    """On overlap matrices of mode sets related by a permutation and a moderate
    rotation (every QM mode with one dominant partner), greedy pairing is the
    maximum-overlap assignment of :func:`q2mm.vibrations.match_modes`."""
    rng = np.random.default_rng(seed)
    generator = rng.standard_normal((n, n))
    rotation = np.linalg.qr(np.eye(n) + mixing * (generator - generator.T) / math.sqrt(n))[0]
    vectors = rotation[:, rng.permutation(n)]  # columns: "MM" modes in the QM basis
    pairs = assign_by_overlap(vectors * vectors, np)
    assert (pairs.sum(axis=0) == 1).all() and (pairs.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(pairs.argmax(axis=1), match_modes(np.eye(n), vectors.T))


# ----------------------------------------------------------------------------- transition states


def test_ts_method_c_targets_the_inverted_curvature(sn2):
    mm = {"hessian": np.array(sn2.hessian)}
    freq = frequency.build(sn2, None, ts_method="C")
    assert freq.reference.reaction_mode == 0
    nu_rc = to_wavenumbers(freq.reference.eigenvalues[0])
    assert nu_rc == pytest.approx(-461.7, abs=0.05)  # summary.txt: −461.7 cm⁻¹
    r = freq.evaluate(mm, np)
    assert r[0] == pytest.approx(nu_rc - 5140.487, abs=1e-6)  # target √1.0 a.u.
    assert np.abs(r[1:]).max() < 1e-6
    assert (freq.weights == DEFAULT_WEIGHTS["frequency"]).all()
    eig = eigenmatrix.build(sn2, None, ts_method="C", ts_curvature=0.5)
    e = eig.evaluate(mm, np)
    assert e[0] == pytest.approx(eig.reference.eigenvalues[0] - 0.5, abs=1e-12)
    assert np.abs(e[1:]).max() < 1e-12
    # The raw-Hessian residual compares with the estimator's inverted Hessian.
    hess = hessian.build(sn2, None, ts_method="C")
    assert (
        np.abs(hess.evaluate({"hessian": invert_reaction_curvature(sn2.hessian, sn2.coordinates)}, np)).max()
        < 1e-12
    )
    assert np.abs(hess.evaluate(mm, np)).max() > 0.1


def test_ts_method_d_gives_the_reaction_mode_zero_weight(sn2):
    mm = {"hessian": np.array(sn2.hessian)}
    freq = frequency.build(sn2, None, ts_method="D")
    assert freq.weights[0] == 0 and (freq.weights[1:] > 0).all()
    assert np.abs(freq.evaluate(mm, np)).max() < 1e-6
    eig = eigenmatrix.build(sn2, None, ts_method="D")
    n = eig.reference.n_modes
    assert n == 3 * 6 - 6
    # only the reaction mode's own curvature has zero weight: its couplings keep theirs
    assert (eig.weights == 0).sum() == 1
    assert eig.weights[0] == 0 and eig.weights[1] > 0
    v0, v1 = eig.reference.modes[:, 0], eig.reference.modes[:, 1]
    coupled = _from_mass_weighted(sn2, 0.01 * (np.outer(v0, v1) + np.outer(v1, v0)))
    r = eig.weights * eig.evaluate({"hessian": mm["hessian"] + coupled}, np)
    assert r[n] == pytest.approx(0.01 * eig.weights[n], rel=1e-6) and np.abs(np.delete(r, n)).max() < 1e-6
    # Curvature along the reaction mode is invisible to D's Hessian residual, not to C's.
    v = eig.reference.modes[:, 0]
    along = mm["hessian"] + _from_mass_weighted(sn2, 0.8 * np.outer(v, v))
    d = hessian.build(sn2, None, ts_method="D")
    assert np.abs(d.evaluate({"hessian": along}, np)).max() < 1e-12
    assert np.abs(d.evaluate({"hessian": 1.01 * mm["hessian"]}, np)).max() > 1e-4
    c = hessian.build(sn2, None, ts_method="C")
    assert not np.allclose(c.evaluate({"hessian": along}, np), c.evaluate(mm, np))


def test_stability_charges_only_curvatures_below_the_floor(ch3f, sn2):
    """Zero at a minimum; a softened mode pays the floor minus its curvature; a TS's
    reaction mode counts under D (the TSFF's minimum is at the TS) but not in the floor."""
    ch3f_floor = stability.build(ch3f, None)
    lowest = ch3f_floor.reference.eigenvalues[0]
    assert ch3f_floor.floor == pytest.approx(0.5 * lowest, rel=1e-12)
    assert (ch3f_floor.evaluate({"hessian": np.array(ch3f.hessian)}, np) == 0).all()
    v = ch3f_floor.reference.modes[:, 0]
    softened = np.array(ch3f.hessian) - _from_mass_weighted(ch3f, 0.9 * lowest * np.outer(v, v))
    r = ch3f_floor.evaluate({"hessian": softened}, np)
    assert r[0] == pytest.approx(0.4 * lowest, rel=1e-9) and np.abs(r[1:]).max() < 1e-15
    ts = stability.build(sn2, None, ts_method="D")
    assert ts.floor == pytest.approx(0.5 * ts.reference.eigenvalues[1], rel=1e-12)
    r = ts.evaluate({"hessian": np.array(sn2.hessian)}, np)
    assert r[0] == pytest.approx(ts.floor - ts.reference.eigenvalues[0], rel=1e-9)
    assert np.abs(r[1:]).max() < 1e-15
    assert (ts.weights == DEFAULT_WEIGHTS["stability"]).all() and ts.weights.size == ts.reference.n_modes


def test_stationary_kind_is_declared_never_guessed(ch3f, sn2):
    with pytest.raises(ConfigError, match="no negative eigenvalue"):
        frequency.build(ch3f.with_(stationary_point=StationaryPoint.TRANSITION_STATE), None)
    with pytest.raises(ConfigError, match="declares no stationary kind"):
        eigenmatrix.build(sn2.with_(stationary_point=None), None)
    with pytest.raises(ConfigError, match="unknown TS method"):
        eigenmatrix.build(sn2, None, ts_method="B")
    # A TS declared a ground state is taken at its word: its imaginary mode is a target.
    as_ground = frequency.build(sn2, None, stationary_point="ground_state")
    assert as_ground.reference.reaction_mode is None
    assert as_ground.targets_cm1[0] == pytest.approx(-461.7, abs=0.05)
    with pytest.raises(ConfigError, match="needs a QM Hessian"):
        hessian.build(ch3f.with_(hessian=None), None)


# ----------------------------------------------------------------------------- geometry


def test_geometry_residual_of_a_rotated_methyl_group(data_dir):
    """Staggered ethane: H–C–C–H torsions of ±60° and 180°. Turning one methyl group
    by 5° about the C–C axis changes every torsion by 5° (wrapped: 180° → −175° is a
    5° change, not 355°) and no bond or angle."""
    eth = read_structures(data_dir / "ethane" / "GS.log")[0]
    system = _bonded_system(eth)
    residual = geometry.build(eth, system)
    torsions = np.degrees(geometry.torsion_angles(eth.coordinates, residual.atoms["torsion"], np))
    assert sorted(np.round(np.abs(torsions)).astype(int)) == [60] * 6 + [180] * 3
    c1, c2 = [i for i, e in enumerate(eth.elements) if e == "C"]
    side = [j for i, j in residual.atoms["bond"] if i == c2 and j != c1] + [
        i for i, j in residual.atoms["bond"] if j == c2 and i != c1
    ]
    axis = (eth.coordinates[c2] - eth.coordinates[c1]) / np.linalg.norm(
        eth.coordinates[c2] - eth.coordinates[c1]
    )
    t = math.radians(5.0)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + math.sin(t) * k + (1 - math.cos(t)) * k @ k
    moved = np.array(eth.coordinates)
    moved[side] = (moved[side] - moved[c2]) @ rot.T + moved[c2]
    r = residual.evaluate({"relaxed": moved}, np)
    np.testing.assert_allclose(r[residual.parts["bond"]], 0, atol=1e-12)
    np.testing.assert_allclose(r[residual.parts["angle"]], 0, atol=1e-12)
    np.testing.assert_allclose(np.abs(r[residual.parts["torsion"]]), t, atol=1e-9)
    assert len(set(np.sign(r[residual.parts["torsion"]]))) == 1  # the same sense for all
    w = residual.weights  # 1/σ with σ = 0.001 Å, 0.1°, 0.5° (residuals/weights.py)
    assert w[residual.parts["bond"]][0] == pytest.approx(1000.0)
    assert w[residual.parts["angle"]][0] == pytest.approx(180 / math.pi / 0.1)
    assert w[residual.parts["torsion"]][0] == pytest.approx(180 / math.pi / 0.5)


def test_geometry_derivatives_are_finite_at_a_linear_angle(jax):
    jnp = jax.numpy

    atoms = np.array([[0, 1, 2]])
    x = jnp.array([[-1.8, 0.0, 0.0], [0.0, 0.0, 0.0], [1.9, 0.0, 0.0]])  # F–C–F, exactly 180°
    angle = geometry.bond_angles(x, atoms, jnp)
    assert float(angle[0]) == pytest.approx(math.pi)
    grad = jax.jit(jax.grad(lambda c: jnp.sum(geometry.bond_angles(c, atoms, jnp) ** 2)))(x)
    assert np.isfinite(np.asarray(grad)).all()


# ----------------------------------------------------------------------------- energy, tether


def test_relative_energies_within_a_group(data_dir):
    """Ethane's rotation barrier (Gaussian B3LYP/6-31G*): ≈ 2.8 kcal/mol."""
    gs = read_structures(data_dir / "ethane" / "GS.log")[0]
    ts = read_structures(data_dir / "ethane" / "TS.log")[0]
    barrier = ts.energy - gs.energy
    assert 2.5 < barrier < 3.2
    residual = energy.build([gs, ts], [None, None])
    np.testing.assert_allclose(residual.evaluate({"energy": [0.0, barrier]}, np), 0.0, atol=1e-9)
    flat = residual.evaluate({"energy": [5.0, 5.0]}, np)
    np.testing.assert_allclose(flat, [barrier / 2, -barrier / 2], atol=1e-9)
    shifted = residual.evaluate({"energy": [-1000.0, -1000.0 + 1.0]}, np)
    np.testing.assert_allclose(shifted, [(barrier - 1.0) / 2, -(barrier - 1.0) / 2], atol=1e-9)
    with pytest.raises(ConfigError, match="at least 2"):
        energy.build([gs], [None])
    with pytest.raises(ConfigError, match="missing for"):
        energy.build([gs, ts.with_(energy=None, name="ts")], [None, None])


def test_tether_measures_relative_change_of_strengths_and_absolute_of_geometry(ch3f):
    from q2mm.estimate import estimate_forcefield

    ff = estimate_forcefield([ch3f], form=FunctionalForm.HARMONIC)
    space = ParameterSpace.from_forcefield(ff)
    residual = tether.build(space)
    x = np.array(space.x0)
    assert np.abs(residual.evaluate({"values": space.expand(x)}, np)).max() == 0.0
    k = space.ids.index("bond:C.3-H.k")
    r0 = space.ids.index("bond:C.3-H.r0")
    x[k] *= 1.1
    x[r0] += 0.05
    r = residual.evaluate({"values": space.expand(x)}, np)
    assert r[k] == pytest.approx(0.1) and r[r0] == pytest.approx(0.05)
    assert np.count_nonzero(r) == 2


# ----------------------------------------------------------------------------- array API


def test_residuals_give_the_same_numbers_inside_jax_jit(ch3f, sn2, jax):
    jnp = jax.numpy

    rng = np.random.default_rng(3)
    for molecule, method in ((ch3f, "C"), (sn2, "C"), (sn2, "D")):
        noise = rng.standard_normal(molecule.hessian.shape) * 0.02
        mm_hessian = np.array(molecule.hessian) * 1.07 + noise + noise.T
        for module in (eigenmatrix, frequency, hessian, stability):
            residual = module.build(molecule, None, ts_method=method)
            expected = residual.evaluate({"hessian": mm_hessian}, np)
            traced = jax.jit(lambda h, r=residual: r.evaluate({"hessian": h}, jnp))(jnp.asarray(mm_hessian))
            np.testing.assert_allclose(np.asarray(traced), expected, rtol=1e-9, atol=1e-9)
    system = _bonded_system(ch3f)
    residual = geometry.build(ch3f, system)
    moved = ch3f.coordinates + 0.01 * rng.standard_normal(ch3f.coordinates.shape)
    traced = jax.jit(lambda c: residual.evaluate({"relaxed": c}, jnp))(jnp.asarray(moved))
    np.testing.assert_allclose(np.asarray(traced), residual.evaluate({"relaxed": moved}, np), atol=1e-12)


def test_qm_modes_are_the_normal_modes_of_the_vibrations_module(ch3f):
    """One source of truth: the residuals' QM modes are q2mm.vibrations' normal modes."""
    ref = eigenmatrix.build(ch3f, None).reference
    nm = normal_modes(ch3f.hessian, ch3f.coordinates, ch3f.masses)
    np.testing.assert_allclose(ref.modes.T, nm.vectors, atol=0)
