"""The traceable test engine (``harmonic-jax``): the NumPy engine's energies and
derivatives on real CH₃F, its minima, the implicit derivative of its relaxations, and
the engine conformance kit. Everything but the plugin listing needs JAX and skips,
saying why, where it is absent (the core's own session)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from q2mm.estimate import estimate_forcefield
from q2mm.io.numpy_bundle import read_bundle
from q2mm.model import FunctionalForm, StationaryPoint
from q2mm.testing.conformance import EngineConformance
from q2mm.testing.harmonic_engine import HarmonicEngine
from q2mm.testing.registry import testing_registry as with_test_engines
from q2mm.topology import build_system


def test_the_testing_plugin_lists_it_as_traceable_without_importing_jax():
    code = (
        "import sys\n"
        "import q2mm.testing.plugin as t\n"
        "from q2mm.plugins import Registry\n"
        "records = Registry.discover(extra=[('testing', t)]).records('engine')\n"
        "print(sorted(next(r for r in records if r.name == 'harmonic-jax').capabilities))\n"
        "print('jax' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    capabilities, imported = out.stdout.split("\n")[:2]
    assert capabilities == str(["energy", "gradient", "hessian", "minimize", "traceable"])
    assert imported == "False"


class TestConformance(EngineConformance):
    """The kit third-party engines run, on this engine as the registry creates it."""

    energy_tolerance = 1e-10

    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls, jax):
        return with_test_engines().create("engine", "harmonic-jax")


@pytest.fixture(scope="module")
def ch3f(data_dir, jax):
    """CH₃F, its QFUERZA harmonic force field with every ideal value moved off the QM
    geometry (so that no term sits at its minimum and the MM minimum is a compromise
    between the terms), a displaced geometry, and both engines' sessions."""
    from q2mm.testing.traceable_engine import TraceableHarmonicEngine

    d = data_dir / "ch3f"
    molecule = read_bundle(d / "ch3f-optimized.xyz", hessian=d / "ch3f-hessian.npy").with_(
        stationary_point=StationaryPoint.GROUND_STATE, name="ch3f"
    )
    forcefield = estimate_forcefield([molecule], method="qfuerza", form=FunctionalForm.HARMONIC)
    system = build_system(molecule, forcefield)
    values = forcefield.vector().copy()
    bonds, angles = system.terms["bond"], system.terms["angle"]
    values[np.unique(bonds.slots[:, 1])] *= 1.03
    values[np.unique(angles.slots[:, 1])] = 1.95  # F–C–H and H–C–H both 111.7°: incompatible
    displaced = molecule.coordinates + 0.05 * np.random.default_rng(7).standard_normal((5, 3))
    return {
        "molecule": molecule,
        "values": values,
        "displaced": displaced,
        "numpy": HarmonicEngine().prepare(system),
        "jax": TraceableHarmonicEngine().prepare(system),
    }


def _distances(x) -> np.ndarray:
    """Interatomic distances (i < j): a relaxed geometry is defined up to rigid motion."""
    x = np.asarray(x)
    i, j = np.triu_indices(len(x), 1)
    return np.linalg.norm(x[i] - x[j], axis=-1)


@pytest.mark.parametrize("where", ["qm", "displaced"])
def test_energy_gradient_and_hessian_equal_the_numpy_engines(ch3f, where):
    x = ch3f["molecule"].coordinates if where == "qm" else ch3f["displaced"]
    values, reference, traced = ch3f["values"], ch3f["numpy"], ch3f["jax"]
    energy = reference.energy(values, x)
    assert energy > 1.0  # off-minimum: the comparison is not of round-off
    assert traced.energy(values, x) == pytest.approx(energy, rel=1e-10)
    for name in ("gradient", "hessian"):
        expected = getattr(reference, name)(values, x)
        got = getattr(traced, name)(values, x)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())


def test_relax_reaches_the_numpy_engines_minimum(ch3f, jax):
    values, start = ch3f["values"], ch3f["displaced"]
    expected = ch3f["numpy"].minimize(values, start)
    assert expected.converged
    functions = ch3f["jax"].traceable()
    relaxed, converged, again = jax.jit(functions.relax)(values, functions.relax_start(start))
    assert bool(converged)
    np.testing.assert_allclose(_distances(relaxed), _distances(expected.coordinates), atol=1e-9)
    assert float(functions.energy(values, relaxed)) == pytest.approx(expected.energy, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(np.asarray(again), np.asarray(relaxed))
    # the session's own minimize is the same relaxation
    result = ch3f["jax"].minimize(values, start)
    assert result.converged and result.gradient_norm < 1e-8 and result.iterations >= 1
    np.testing.assert_allclose(_distances(result.coordinates), _distances(expected.coordinates), atol=1e-9)


def test_a_relaxation_cut_short_or_without_a_strict_minimum_has_not_converged(ch3f, jax):
    """Capped at one step it is still moving; with every force constant zero every
    geometry is a minimum (zero gradient, zero curvature): no isolated minimum, no
    derivative, not converged."""
    from q2mm.testing.traceable_engine import TraceableHarmonicEngine

    values, start = ch3f["values"], ch3f["displaced"]
    session = TraceableHarmonicEngine(max_iterations=1).prepare(ch3f["numpy"].system)
    result = session.minimize(values, start)
    assert not result.converged and result.gradient_norm > 1e-8
    system = ch3f["numpy"].system
    free = values.copy()
    free[np.unique(np.concatenate([t.slots[:, 0] for t in system.terms.values()]))] = 0.0
    result = ch3f["jax"].minimize(free, start)
    assert result.gradient_norm == 0.0 and not result.converged


def test_the_implicit_derivative_of_the_minimum_matches_central_differences(ch3f, jax):
    """d(relaxed distances)/d(values) in reverse and forward mode against central
    differences of relaxations (each converged to 1e-8 kcal/(mol·Å))."""
    values, functions = ch3f["values"], ch3f["jax"].traceable()
    start = functions.relax_start(ch3f["molecule"].coordinates)

    def distances(v):
        relaxed = functions.relax(v, start)[0]
        i, j = np.triu_indices(relaxed.shape[0], 1)
        return jax.numpy.linalg.norm(relaxed[i] - relaxed[j], axis=-1)

    reverse = np.asarray(jax.jit(jax.jacrev(distances))(values))
    forward = np.asarray(jax.jit(jax.jacfwd(distances))(values))
    run = jax.jit(distances)
    numeric = np.zeros_like(reverse)
    for p in range(len(values)):
        h = 1e-5 * max(abs(values[p]), 1.0)
        up, down = values.copy(), values.copy()
        up[p] += h
        down[p] -= h
        numeric[:, p] = (np.asarray(run(up)) - np.asarray(run(down))) / (2 * h)
    scale = np.abs(numeric).max()
    assert scale > 1e-3  # the minimum does move with the parameters
    np.testing.assert_allclose(reverse, numeric, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(forward, reverse, rtol=1e-10, atol=1e-12 * scale)
