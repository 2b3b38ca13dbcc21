"""The NumPy test engine: closed-form derivatives, units, minimization, refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from q2mm.errors import UnsupportedTermError
from q2mm.io import read_structures
from q2mm.model import Conventions, FunctionalForm, MMSystem, Molecule, StationaryPoint, TermSet
from q2mm.model.units import FREQUENCY_AU_TO_CM1, HESSIAN_AU_TO_KCALMOL_A2
from q2mm.testing.conformance import EngineConformance
from q2mm.testing.harmonic_engine import HarmonicEngine
from q2mm.topology import perceive
from q2mm.vibrations import frequencies_from_hessian


class TestConformance(EngineConformance):
    """The engine conformance kit third-party engines run, on this engine."""

    @classmethod
    def make_engine(cls):
        return HarmonicEngine()


def _system(molecule: Molecule, bonds, angles, form=FunctionalForm.HARMONIC) -> MMSystem:
    """One parameter row per term: slots 2t, 2t+1 (k, ideal) for term t."""
    terms = {}
    if len(bonds):
        terms["bond"] = TermSet("bond", bonds, [[2 * t, 2 * t + 1] for t in range(len(bonds))], ("k", "r0"))
    if len(angles):
        base = 2 * len(bonds)
        terms["angle"] = TermSet(
            "angle", angles, [[base + 2 * t, base + 2 * t + 1] for t in range(len(angles))], ("k", "theta0")
        )
    return MMSystem(molecule, form, Conventions(), terms, n_parameters=2 * (len(bonds) + len(angles)))


def test_diatomic_frequency_matches_the_closed_form():
    """E = k (r − r0)²: d²E/dr² = 2k, ν̃ = √(2k/μ) — units from kcal/mol/Å² to cm⁻¹."""
    k, r0 = 500.0, 0.92
    mol = Molecule(["H", "F"], [[0.0, 0.0, 0.0], [0.0, 0.0, r0]])
    session = HarmonicEngine().prepare(_system(mol, [[0, 1]], []))
    hessian = session.hessian(np.array([k, r0]))
    m1, m2 = mol.masses
    mu = m1 * m2 / (m1 + m2)
    expected = FREQUENCY_AU_TO_CM1 * math.sqrt(2 * k / HESSIAN_AU_TO_KCALMOL_A2 / mu)
    (nu,) = frequencies_from_hessian(hessian, mol.coordinates, mol.masses)
    assert nu == pytest.approx(expected, rel=1e-10)
    assert 3000 < nu < 5000  # an H–F stretch, not a unit slip


def _ch3f(data_dir) -> Molecule:
    mol = read_structures(data_dir / "ch3f" / "ch3f-hessian.npy")[0]
    return mol.with_(stationary_point=StationaryPoint.GROUND_STATE, name="ch3f")


def test_qm_ideal_values_make_the_qm_geometry_the_minimum(data_dir):
    """With every r0 and θ0 taken from the QM geometry each term is at its minimum, so
    the energy and gradient vanish there and minimization stays put."""
    mol = _ch3f(data_dir)
    topology = perceive(mol)
    system = _system(mol, topology.bonds, topology.angles)
    x = mol.coordinates
    values = []
    for i, j in topology.bonds:
        values += [300.0, np.linalg.norm(x[i] - x[j])]
    for i, j, k in topology.angles:
        a, b = x[i] - x[j], x[k] - x[j]
        values += [40.0, math.acos(a @ b / np.linalg.norm(a) / np.linalg.norm(b))]
    values = np.array(values)
    session = HarmonicEngine().prepare(system)
    assert session.energy(values) == pytest.approx(0.0, abs=1e-20)
    assert np.abs(session.gradient(values)).max() < 1e-10
    shaken = x + 0.03 * np.random.default_rng(7).standard_normal(x.shape)
    result = session.minimize(values, shaken)
    assert result.converged and result.gradient_norm < 1e-7
    assert result.energy == pytest.approx(0.0, abs=1e-14)
    for i, j in topology.bonds:
        r = np.linalg.norm(result.coordinates[i] - result.coordinates[j])
        assert r == pytest.approx(np.linalg.norm(x[i] - x[j]), abs=1e-9)


def _numeric_gradient(session, values, x, h=1e-6):
    g = np.zeros(x.size)
    for i in range(x.size):
        up, down = x.reshape(-1).copy(), x.reshape(-1).copy()
        up[i] += h
        down[i] -= h
        g[i] = (
            session.energy(values, up.reshape(x.shape)) - session.energy(values, down.reshape(x.shape))
        ) / (2 * h)
    return g


def _numeric_hessian(session, values, x, h=1e-5):
    rows = []
    for i in range(x.size):
        up, down = x.reshape(-1).copy(), x.reshape(-1).copy()
        up[i] += h
        down[i] -= h
        rows.append(
            (
                session.gradient(values, up.reshape(x.shape))
                - session.gradient(values, down.reshape(x.shape))
            ).reshape(-1)
            / (2 * h)
        )
    return np.array(rows)


@settings(max_examples=25, deadline=None)
@given(
    angle=st.floats(min_value=0.3, max_value=2.9),
    lengths=st.tuples(st.floats(0.8, 2.0), st.floats(0.8, 2.0)),
    twist=st.floats(-1.0, 1.0),
    ideal=st.tuples(st.floats(0.9, 1.6), st.floats(0.5, 2.8)),
)
def test_closed_form_derivatives_match_central_differences(angle, lengths, twist, ideal):
    """Bent triatomics (any angle away from 0° and 180°), off-minimum parameters: the
    analytical gradient matches differences of the energy, the Hessian differences of
    the gradient."""
    r1, r2 = lengths
    x = np.array(
        [
            [r1, 0.0, 0.1 * twist],
            [0.0, 0.0, 0.0],
            [r2 * math.cos(angle), r2 * math.sin(angle), -0.2 * twist],
        ]
    )
    mol = Molecule(["H", "O", "H"], x)
    session = HarmonicEngine().prepare(_system(mol, [[0, 1], [1, 2]], [[0, 1, 2]]))
    values = np.array([400.0, ideal[0], 450.0, ideal[0] + 0.1, 60.0, ideal[1]])
    np.testing.assert_allclose(
        session.gradient(values).reshape(-1), _numeric_gradient(session, values, x), rtol=1e-6, atol=1e-6
    )
    hessian = session.hessian(values) * HESSIAN_AU_TO_KCALMOL_A2
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-9)
    np.testing.assert_allclose(hessian, _numeric_hessian(session, values, x), rtol=1e-5, atol=1e-4)


def test_refuses_mm3_form_and_other_terms(data_dir):
    mol = _ch3f(data_dir)
    topology = perceive(mol)
    with pytest.raises(UnsupportedTermError, match="mm3"):
        HarmonicEngine().prepare(_system(mol, topology.bonds, topology.angles, FunctionalForm.MM3))
    system = _system(mol, topology.bonds, topology.angles)
    system = MMSystem(
        mol,
        system.form,
        system.conventions,
        {**system.terms, "urey_bradley": TermSet("urey_bradley", [[2, 0, 3]], [[0, 1]], ("k", "r0"))},
        n_parameters=system.n_parameters,
    )
    with pytest.raises(UnsupportedTermError, match="urey_bradley"):
        HarmonicEngine().prepare(system)
