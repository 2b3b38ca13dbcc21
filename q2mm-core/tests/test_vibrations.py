"""Frequency analysis against the QM programs' own frequencies and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from q2mm import vibrations
from q2mm.io.numpy_bundle import NumpyBundle
from q2mm.model.units import ANGSTROM_TO_BOHR, FREQUENCY_AU_TO_CM1


def _bundle(data_dir, name):
    molecule = NumpyBundle().read(data_dir / name / f"{name}-hessian.npy")[0]
    # Psi4 used isotopic masses; its normal-mode file records them.
    masses = np.load(data_dir / name / f"{name}-normal-modes.npz")["masses_amu"]
    return molecule, masses


@pytest.fixture(scope="module")
def ch3f(data_dir):
    return _bundle(data_dir, "ch3f")


@pytest.fixture(scope="module")
def sn2(data_dir):
    return _bundle(data_dir, "sn2-ts")


def test_ch3f_frequencies_match_psi4(ch3f, data_dir):
    molecule, masses = ch3f
    computed = vibrations.frequencies_from_hessian(molecule.hessian, molecule.coordinates, masses)
    reference = np.loadtxt(data_dir / "ch3f" / "ch3f-frequencies.txt")
    assert computed.shape == (9,)
    np.testing.assert_allclose(computed, reference, atol=0.1, rtol=0)


def test_sn2_ts_frequencies_include_the_imaginary_mode(sn2, data_dir):
    molecule, masses = sn2
    computed = vibrations.frequencies_from_hessian(molecule.hessian, molecule.coordinates, masses)
    reference = np.loadtxt(data_dir / "sn2-ts" / "sn2-ts-frequencies.txt")
    np.testing.assert_allclose(computed, reference, atol=0.1, rtol=0)
    assert (computed < 0).sum() == 1
    assert computed[0] == pytest.approx(-461.7, abs=0.05)


def test_molecule_masses_are_the_isotopic_masses_qm_programs_use(ch3f):
    """Psi4 records the masses it used; ours must match them or every C–H stretch
    moves by > 0.1 cm⁻¹ (standard atomic weights did)."""
    molecule, masses = ch3f
    np.testing.assert_allclose(molecule.masses, masses, rtol=1e-8)
    exact = vibrations.frequencies_from_hessian(molecule.hessian, molecule.coordinates, masses)
    ours = vibrations.frequencies_from_hessian(molecule.hessian, molecule.coordinates, molecule.masses)
    np.testing.assert_allclose(ours, exact, atol=1e-6)


def _rigid_vectors(coordinates, masses):
    """Mass-weighted translations and rotations, built independently of the module."""
    x = np.asarray(coordinates) - np.average(coordinates, axis=0, weights=masses)
    sqrt_m = np.sqrt(masses)[:, None]
    vectors = [(sqrt_m * np.tile(np.eye(3)[a], (len(masses), 1))).ravel() for a in range(3)]
    vectors += [(sqrt_m * np.cross(np.eye(3)[a], x)).ravel() for a in range(3)]
    return np.array(vectors)


def test_projector_removes_exactly_six_rigid_modes_of_ch3f(ch3f):
    molecule, masses = ch3f
    p = vibrations.projector(molecule.coordinates, masses)
    np.testing.assert_allclose(p @ p, p, atol=1e-12)
    np.testing.assert_allclose(p, p.T, atol=1e-12)
    np.testing.assert_allclose(p @ _rigid_vectors(molecule.coordinates, masses).T, 0, atol=1e-10)
    eigenvalues = np.linalg.eigvalsh(p @ vibrations.mass_weight(molecule.hessian, masses) @ p)
    zero = np.abs(eigenvalues) < 1e-10
    assert zero.sum() == 6
    assert np.abs(eigenvalues[~zero]).min() > 1e-3  # the softest real mode, 1040 cm⁻¹


def _tilted_line(distances):
    axis = np.array([1.0, 2.0, -0.5]) / np.linalg.norm([1.0, 2.0, -0.5])
    return np.outer(distances, axis), axis


def test_linear_molecule_loses_five_modes_for_any_hessian():
    coordinates, _ = _tilted_line([-1.16, 0.0, 1.16])
    masses = np.array([15.995, 12.0, 15.995])
    assert vibrations.is_linear(coordinates, masses)
    rng = np.random.default_rng(7)
    a = rng.normal(size=(9, 9))
    p = vibrations.projector(coordinates, masses)
    eigenvalues = np.linalg.eigvalsh(p @ vibrations.mass_weight(a + a.T, masses) @ p)
    assert (np.abs(eigenvalues) < 1e-10).sum() == 5
    assert vibrations.frequencies_from_hessian(a + a.T, coordinates, masses).shape == (4,)


def _springs(coordinates, pairs, k):
    """Cartesian Hessian of E = ½ k Σ (r − r0)² at r = r0: k ûûᵀ blocks."""
    n = len(coordinates)
    h = np.zeros((3 * n, 3 * n))
    for i, j in pairs:
        u = coordinates[j] - coordinates[i]
        block = k * np.outer(u, u) / (u @ u)
        for a, b, sign in ((i, i, 1), (j, j, 1), (i, j, -1), (j, i, -1)):
            h[3 * a : 3 * a + 3, 3 * b : 3 * b + 3] += sign * block
    return h


def test_diatomic_frequency_is_the_harmonic_oscillator_value():
    coordinates, _ = _tilted_line([0.0, 1.128])
    masses = np.array([12.0, 15.99491461957])
    k = 1.2  # Hartree/Bohr²
    frequencies = vibrations.frequencies_from_hessian(_springs(coordinates, [(0, 1)], k), coordinates, masses)
    reduced = masses.prod() / masses.sum()
    np.testing.assert_allclose(frequencies, [FREQUENCY_AU_TO_CM1 * np.sqrt(k / reduced)], rtol=1e-10)


def test_linear_triatomic_stretches_match_closed_forms():
    """A–B–A on two springs: ω² = k/m_A (symmetric), k(1/m_A + 2/m_B) (antisymmetric);
    the bends have no stiffness and must come out zero, not be dropped as rigid."""
    coordinates, _ = _tilted_line([-1.16, 0.0, 1.16])
    m_a, m_b, k = 15.99491461957, 12.0, 0.9
    masses = np.array([m_a, m_b, m_a])
    frequencies = vibrations.frequencies_from_hessian(
        _springs(coordinates, [(0, 1), (1, 2)], k), coordinates, masses
    )
    expected = FREQUENCY_AU_TO_CM1 * np.sqrt([0.0, 0.0, k / m_a, k * (1 / m_a + 2 / m_b)])
    np.testing.assert_allclose(frequencies, expected, atol=1e-4)


def test_normal_modes_are_eigenvectors_of_the_projected_hessian(sn2):
    molecule, masses = sn2
    modes = vibrations.normal_modes(molecule.hessian, molecule.coordinates, masses)
    assert modes.vectors.shape == (12, 18)
    np.testing.assert_allclose(modes.vectors @ modes.vectors.T, np.eye(12), atol=1e-10)
    p = vibrations.projector(molecule.coordinates, masses)
    h = p @ vibrations.mass_weight(molecule.hessian, masses) @ p
    np.testing.assert_allclose(h @ modes.vectors.T, modes.vectors.T * modes.eigenvalues, atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(modes.displacements, axis=1), 1.0)
    # The reaction mode of F⁻ + CH₃F moves the carbon along the F–C–F axis (y).
    carbon = modes.displacements[0, 0:3]
    assert abs(carbon[1]) / np.linalg.norm(carbon) > 0.99


def test_psi4_eigenvectors_pair_with_ours(sn2, data_dir):
    molecule, masses = sn2
    reference = np.load(data_dir / "sn2-ts" / "sn2-ts-normal-modes.npz")
    ours = vibrations.normal_modes(molecule.hessian, molecule.coordinates, masses)
    # Psi4's columns are mass-weighted eigenvectors of the unprojected Hessian, with
    # the six near-zero ones first; keep the vibrations.
    theirs = reference["eigenvectors"].T[np.argsort(reference["eigenvalues"])][[0, *range(7, 18)]]
    order = vibrations.match_modes(theirs, ours.vectors)
    overlap = np.abs(np.sum(theirs * ours.vectors[order], axis=1))
    # Degenerate pairs (E modes) can mix; everything else must align.
    assert np.all(overlap[[0, 3, 6, 9]] > 0.999)


@settings(max_examples=30, deadline=None)
@given(st.permutations(range(9)), st.lists(st.sampled_from([-1.0, 1.0]), min_size=9, max_size=9))
def test_match_modes_undoes_any_reordering_and_sign_flip(permutation, signs):
    rng = np.random.default_rng(3)
    reference = np.linalg.qr(rng.normal(size=(15, 9)))[0].T  # 9 orthonormal "modes"
    shuffled = reference[list(permutation)] * np.array(signs)[:, None]
    shuffled = shuffled + 0.05 * rng.normal(size=shuffled.shape)  # not exactly orthogonal any more
    order = vibrations.match_modes(reference, shuffled)
    np.testing.assert_array_equal(np.array(permutation)[order], np.arange(9))


def test_match_modes_pairs_two_swapped_ch3f_modes(ch3f):
    molecule, masses = ch3f
    modes = vibrations.normal_modes(molecule.hessian, molecule.coordinates, masses).vectors
    swapped = modes.copy()
    swapped[[0, 6]] = modes[[6, 0]]
    order = vibrations.match_modes(modes, swapped)
    assert order[0] == 6 and order[6] == 0
    np.testing.assert_array_equal(np.delete(order, [0, 6]), np.delete(np.arange(9), [0, 6]))


def test_jax_path_matches_numpy_and_has_finite_gradients(sn2):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    molecule, masses = sn2
    coordinates = np.asarray(molecule.coordinates) * ANGSTROM_TO_BOHR

    def loss(x):
        frequencies = vibrations.frequencies_from_hessian(molecule.hessian, x, masses, xp=jnp, linear=False)
        return jnp.sum(frequencies**2), frequencies

    (_, frequencies), gradient = jax.jit(jax.value_and_grad(loss, has_aux=True))(coordinates)
    np.testing.assert_allclose(
        np.asarray(frequencies),
        vibrations.frequencies_from_hessian(molecule.hessian, coordinates, masses),
        atol=1e-7,
    )
    assert np.isfinite(np.asarray(gradient)).all()
    # The projector is the only coordinate dependence: check it against central differences.
    step = 1e-5
    for atom, axis in ((0, 1), (3, 2), (5, 0)):
        shift = np.zeros_like(coordinates)
        shift[atom, axis] = step
        plus, minus = (
            np.sum(vibrations.frequencies_from_hessian(molecule.hessian, coordinates + s, masses) ** 2)
            for s in (shift, -shift)
        )
        assert float(gradient[atom, axis]) == pytest.approx((plus - minus) / (2 * step), rel=1e-4, abs=1e-2)
