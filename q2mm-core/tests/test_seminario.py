"""Seminario / modified-Seminario projections on the real CH₃F, ethane and S_N2
Hessians, against a straightforward re-implementation of the formulas written here,
a closed form, and rotational invariance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from q2mm.estimate import angle_constant, bond_constant
from q2mm.io import read_structures
from q2mm.io.numpy_bundle import read_bundle
from q2mm.model import StationaryPoint
from q2mm.model.units import BOHR_TO_ANGSTROM, HARTREE_TO_KCALMOL, MDYN_A_TO_KCALMOL_A2
from q2mm.topology import perceive

AU = HARTREE_TO_KCALMOL / BOHR_TO_ANGSTROM**2  # Hartree/Bohr² → kcal/(mol·Å²)


@pytest.fixture(scope="module")
def ch3f(data_dir):
    return read_bundle(data_dir / "ch3f/ch3f-optimized.xyz", data_dir / "ch3f/ch3f-hessian.npy")


@pytest.fixture(scope="module")
def sn2(data_dir):
    return read_bundle(data_dir / "sn2-ts/sn2-ts-optimized.xyz", data_dir / "sn2-ts/sn2-ts-hessian.npy")


@pytest.fixture(scope="module")
def ethane(data_dir):
    return read_structures(data_dir / "ethane/GS.fchk")[0]


# --- the formulas, written out directly --------------------------------------------------


def unit(v):
    return v / np.linalg.norm(v)


def eigen_sum(block, direction):
    """Σₙ λₙ |d·vₙ| with numpy's eigenvectors as they come."""
    values, vectors = np.linalg.eig(block)
    return float(np.real(sum(values[n] * abs(np.dot(direction, vectors[:, n])) for n in range(3))))


def minus_block(hessian, a, b):
    return -hessian[3 * a : 3 * a + 3, 3 * b : 3 * b + 3] * AU


def hand_bond_physical(coords, hessian, a, b):
    """Seminario 1996: both directions averaged; k of E = ½ k Δr², kcal/(mol·Å²)."""
    u = unit(coords[b] - coords[a])
    return 0.5 * (eigen_sum(minus_block(hessian, a, b), u) + eigen_sum(minus_block(hessian, b, a), -u))


def hand_angle_physical(coords, hessian, a, b, c, neighbours):
    """Allen, Payne & Cole 2018: in-plane projections in series, each divided by
    1 + mean |u_P·u_P'|² over the other angles at b that share its bond."""

    def perpendicular(outer, other):
        u_outer, u_other = unit(coords[b] - coords[outer]), unit(coords[b] - coords[other])
        return unit(np.cross(unit(np.cross(u_other, u_outer)), u_outer))

    def scale(outer, other):
        mine = perpendicular(outer, other)
        extra = [np.dot(mine, perpendicular(outer, x)) ** 2 for x in neighbours if x not in (outer, other)]
        return 1.0 + (np.mean(extra) if extra else 0.0)

    u_ab, u_cb = unit(coords[b] - coords[a]), unit(coords[b] - coords[c])
    normal = unit(np.cross(u_cb, u_ab))
    u_pa, u_pc = unit(np.cross(normal, u_ab)), unit(np.cross(u_cb, normal))
    s_a = eigen_sum(minus_block(hessian, a, b), u_pa) / scale(a, c)
    s_c = eigen_sum(minus_block(hessian, c, b), u_pc) / scale(c, a)
    r_ab, r_cb = np.linalg.norm(coords[a] - coords[b]), np.linalg.norm(coords[c] - coords[b])
    return 1.0 / (1.0 / (r_ab**2 * s_a) + 1.0 / (r_cb**2 * s_c))


# --- checks ----------------------------------------------------------------------------------


def test_canonical_constant_is_half_the_physical_one_closed_form():
    """A diatomic with E = ½ k (r − r0)² has the Hessian k [[P, −P], [−P, P]] at r0,
    P = ûûᵀ; Seminario recovers k exactly, and canonical E = k' Δr² means k' = k/2."""
    u = unit(np.array([0.3, -1.2, 0.7]))
    coords = np.array([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]]) + np.outer([0.0, 1.1], u)
    k_au = 0.37
    p = np.outer(u, u)
    hessian = k_au * np.block([[p, -p], [-p, p]])
    assert bond_constant(coords, hessian, 0, 1) == pytest.approx(k_au * AU / 2, rel=1e-12)


@pytest.mark.parametrize(("molecule", "bond"), [("ch3f", (0, 1)), ("ch3f", (0, 2)), ("ethane", (1, 3))])
def test_bond_against_the_formula(molecule, bond, request):
    """C–F of CH₃F, a C–H, and C–C of ethane. Along a C₃ axis (C–F, C–C) the block's
    transverse eigenvalue pair is degenerate up to noise (2·10⁻⁴); its eigenvectors are
    perpendicular to the bond, so the basis choice moves k by ≤ 10⁻⁴."""
    m = request.getfixturevalue(molecule)
    expected = hand_bond_physical(m.coordinates, m.hessian, *bond) / 2
    assert bond_constant(m.coordinates, m.hessian, *bond) == pytest.approx(expected, rel=1e-4)


def test_ch3f_bond_constants_are_physical(ch3f):
    c_h = [bond_constant(ch3f.coordinates, ch3f.hessian, 0, h) / MDYN_A_TO_KCALMOL_A2 for h in (2, 3, 4)]
    c_f = bond_constant(ch3f.coordinates, ch3f.hessian, 0, 1) / MDYN_A_TO_KCALMOL_A2
    assert all(4.5 < k < 5.5 for k in c_h)  # C–H stretch, mdyn/Å
    assert 3.0 < c_f < 7.0
    assert np.ptp(c_h) < 1e-4  # three symmetry-equivalent bonds


def test_h_c_h_angle_against_the_formula(ch3f):
    topo = perceive(ch3f)
    for a, b, c in [(2, 0, 3), (3, 0, 4)]:
        expected = hand_angle_physical(ch3f.coordinates, ch3f.hessian, a, b, c, topo.neighbours[b]) / 2
        got = angle_constant(ch3f.coordinates, ch3f.hessian, a, b, c, topo.neighbours[b])
        assert got == pytest.approx(expected, rel=1e-10)


def test_ethane_h_c_h_angles_against_the_formula(ethane):
    topo = perceive(ethane)
    for a, b, c in [(0, 1, 2), (0, 1, 4), (5, 3, 6)]:
        expected = hand_angle_physical(ethane.coordinates, ethane.hessian, a, b, c, topo.neighbours[b]) / 2
        got = angle_constant(ethane.coordinates, ethane.hessian, a, b, c, topo.neighbours[b])
        assert got == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(
    ("molecule", "angles"),
    [("ch3f", [(1, 0, 2), (1, 0, 3), (1, 0, 4)]), ("ethane", [(0, 1, 3), (2, 1, 3), (4, 1, 3)])],
)
def test_degenerate_eigenspaces_do_not_break_symmetry(molecule, angles, request):
    """Symmetry-equivalent angles against a C₃ axis: F–C–H of CH₃F, H–C–C of ethane.
    The axial block (F–C, C–C) has a transverse eigenvalue pair degenerate up to noise,
    and the in-plane direction of these angles lies in it. With the eigenvectors numpy
    happens to pick, the plain sum gives the equivalent angles constants 5–12 % apart;
    weighting the degenerate space by |Pû| gives them one value (to the geometry's own
    symmetry) — the plain sum's with the basis aligned to the projection, its smallest."""
    m = request.getfixturevalue(molecule)
    topo = perceive(m)
    centre = angles[0][1]
    plain = [hand_angle_physical(m.coordinates, m.hessian, *a, topo.neighbours[centre]) / 2 for a in angles]
    ours = [angle_constant(m.coordinates, m.hessian, *a, topo.neighbours[centre]) for a in angles]
    assert np.ptp(plain) / np.mean(plain) > 0.02
    assert np.ptp(ours) / np.mean(ours) < 5e-3  # the geometries are symmetric to ~10⁻³
    assert min(ours) <= min(plain) * (1 + 1e-3)


def test_linear_angle_of_the_sn2_transition_state(sn2):
    topo = perceive(sn2.with_(stationary_point=StationaryPoint.TRANSITION_STATE))
    assert (1, 0, 2) in topo.angles
    k = angle_constant(sn2.coordinates, sn2.hessian, 1, 0, 2, topo.neighbours[0])
    assert np.isfinite(k) and k > 0


def rotation(q):
    w, x, y, z = np.asarray(q) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def all_constants(m, coords, hessian):
    topo = perceive(m)
    bonds = [bond_constant(coords, hessian, *b) for b in topo.bonds]
    angles = [angle_constant(coords, hessian, *a, topo.neighbours[a[1]]) for a in topo.angles]
    return np.array(bonds + angles)


quaternions = st.lists(st.floats(-1, 1, allow_nan=False), min_size=4, max_size=4).filter(
    lambda q: np.linalg.norm(q) > 0.1
)


@settings(max_examples=25, deadline=None)
@given(
    q=quaternions,
    shift=st.lists(st.floats(-5, 5), min_size=3, max_size=3),
    which=st.sampled_from(["ch3f", "sn2", "ethane"]),
)
def test_constants_are_invariant_under_rigid_motion(q, shift, which, ch3f, sn2, ethane):
    m = {"ch3f": ch3f, "sn2": sn2.with_(stationary_point=StationaryPoint.TRANSITION_STATE), "ethane": ethane}[
        which
    ]
    r = rotation(q)
    coords = m.coordinates @ r.T + np.asarray(shift)
    big = np.kron(np.eye(m.n_atoms), r)
    hessian = big @ m.hessian @ big.T
    before = all_constants(m, m.coordinates, m.hessian)
    after = all_constants(m, coords, hessian)
    assert np.allclose(after, before, rtol=1e-8, atol=1e-8)
