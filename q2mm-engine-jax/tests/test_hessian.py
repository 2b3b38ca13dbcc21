"""Coordinate derivatives: the locally assembled Hessian equals jax.hessian of the
total energy, gradients and Hessians agree with central differences, and the units
at the session boundary are Hartree/Bohr²."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from q2mm.model.units import HESSIAN_AU_TO_KCALMOL_A2


@pytest.fixture(params=["ch3f", "sn2", "ethane_mm3", "ethane_harmonic", "hydrogen_pairs"])
def case(request):
    return request.getfixturevalue(request.param)


def central_gradient(energy, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    flat = x.reshape(-1)
    out = np.empty(flat.size)
    for i in range(flat.size):
        e = np.zeros(flat.size)
        e[i] = h
        out[i] = (energy((flat + e).reshape(x.shape)) - energy((flat - e).reshape(x.shape))) / (2 * h)
    return out.reshape(x.shape)


@pytest.mark.parametrize(
    "name", ["ch3f", "sn2", "ethane_mm3", "ethane_harmonic", "hydrogen_pairs", "rh_enamide"]
)
def test_local_assembly_equals_whole_molecule_hessian(name, engine, request):
    from q2mm_engine_jax.energy import hessian, whole_hessian

    system, values = request.getfixturevalue(name)
    session = engine.prepare(system)
    x = np.asarray(system.molecule.coordinates)[None]
    local = np.asarray(jax.jit(hessian)(session.plan, values, x))[0]
    whole = np.asarray(jax.jit(whole_hessian)(session.plan, values, x))[0]
    assert np.abs(whole).max() > 1.0  # kcal/mol/Å²: not a trivial Hessian
    np.testing.assert_allclose(local, whole, rtol=0, atol=1e-10)
    np.testing.assert_allclose(local, local.T, rtol=0, atol=1e-10)


def test_gradient_against_central_differences(case, engine):
    system, values = case
    session = engine.prepare(system)
    rng = np.random.default_rng(7)
    x = system.molecule.coordinates + rng.normal(scale=0.03, size=system.molecule.coordinates.shape)
    numeric = central_gradient(lambda c: session.energy(values, c), x)
    analytic = session.gradient(values, x)
    assert np.abs(analytic).max() > 1.0
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-6)


def test_hessian_against_central_differences_of_the_gradient(case, engine):
    system, values = case
    session = engine.prepare(system)
    x = system.molecule.coordinates
    h = 1e-5
    flat = x.reshape(-1)
    numeric = np.array(
        [
            (
                session.gradient(values, (flat + h * e).reshape(x.shape))
                - session.gradient(values, (flat - h * e).reshape(x.shape))
            ).reshape(-1)
            / (2 * h)
            for e in np.eye(flat.size)
        ]
    )
    analytic = session.hessian(values) * HESSIAN_AU_TO_KCALMOL_A2  # the session speaks Hartree/Bohr²
    np.testing.assert_allclose(analytic, numeric, rtol=0, atol=1e-6 * np.abs(numeric).max())


def test_traceable_functions_match_the_session(ch3f, engine):
    system, values = ch3f
    session = engine.prepare(system)
    fns = session.traceable()
    x = system.molecule.coordinates
    assert float(jax.jit(fns.energy)(values, x)) == pytest.approx(session.energy(values), abs=1e-12)
    np.testing.assert_allclose(jax.jit(fns.gradient)(values, x), session.gradient(values), atol=1e-12)
    np.testing.assert_allclose(jax.jit(fns.hessian)(values, x), session.hessian(values), atol=1e-14)


@pytest.mark.parametrize("name", ["ethane_mm3", "ethane_harmonic"])
def test_blocks_evaluated_in_chunks_give_the_same_numbers(name, engine, request, monkeypatch):
    """A block of at least eight chunks (a neighbour list's pairs) is evaluated chunk
    by chunk: three ethanes as one batch with chunks of two entries (bonds, torsions
    and vdW pairs end with a remainder) give the energies, gradients, Hessians and
    parameter derivatives of every block at once."""
    from q2mm_engine_jax import energy

    system, values = request.getfixturevalue(name)
    batch = engine.prepare_batch([system] * 3)
    x = batch.stack() + np.random.default_rng(3).normal(scale=0.02, size=batch.stack().shape)

    def evaluate():
        def total(values):
            return jax.numpy.sum(energy.energy(batch.plan, values, x))

        return [
            *jax.jit(energy.energy_gradient)(batch.plan, values, x),
            jax.jit(energy.hessian)(batch.plan, values, x),
            jax.jit(jax.grad(total))(values),
        ]

    at_once = evaluate()
    assert max(len(b) for b in batch.plan.blocks) < 8 * energy.CHUNK
    monkeypatch.setattr(energy, "CHUNK", 2)
    jax.clear_caches()  # traces are cached per function: these must see the new size
    request.addfinalizer(jax.clear_caches)  # and later tests the module's own
    assert sum(len(b) // 2 >= 8 and len(b) % 2 for b in batch.plan.blocks) >= 2
    for chunked, whole in zip(evaluate(), at_once, strict=True):
        np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-12 * np.abs(whole).max())
