"""Exact parameter derivatives of the traceable functions against central finite
differences of the NumPy-facing session: d energy/d values, d Hessian element/d
values, and d relaxed geometry/d values (implicit differentiation of the
minimization) — on CH₃F and on the S_N2 transition state."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest


@pytest.fixture(params=["ch3f", "sn2", "ch3f_qfuerza", "sn2_qfuerza"])
def case(request, engine):
    """(session, values, coordinates): hand-built MM3 systems and the QFUERZA-estimated
    ones of the real pipeline, at their QM geometry moved off the MM minimum (an
    estimated force field has its minimum at the QM geometry, where every first
    derivative vanishes)."""
    system, values = request.getfixturevalue(request.param)
    x = system.molecule.coordinates
    x = x + np.random.default_rng(11).normal(scale=0.04, size=x.shape)
    return engine.prepare(system), values, x


def steps(values: np.ndarray) -> np.ndarray:
    return 1e-6 * np.maximum(1.0, np.abs(values))


def central(f, values: np.ndarray) -> np.ndarray:
    """d f / d values by central differences, one row per parameter."""
    rows = []
    for i, h in enumerate(steps(values)):
        up, down = values.copy(), values.copy()
        up[i] += h
        down[i] -= h
        rows.append((np.asarray(f(up)) - np.asarray(f(down))) / (2 * h))
    return np.array(rows)


def test_energy_parameter_gradient(case):
    session, values, x = case
    fns = session.traceable()
    exact = np.asarray(jax.jit(jax.grad(fns.energy))(values, x))
    numeric = central(lambda v: session.energy(v, x), values)
    assert np.abs(exact).max() > 0.1
    np.testing.assert_allclose(exact, numeric, rtol=1e-6, atol=1e-7)


def test_hessian_element_parameter_gradient(case):
    """The stiffest diagonal element and the largest off-diagonal coupling: what a
    frequency or eigenmatrix residual differentiates."""
    session, values, x = case
    fns = session.traceable()
    h = session.hessian(values, x)
    off = np.abs(h - np.diag(np.diag(h)))
    stiffest = int(np.argmax(np.abs(np.diag(h))))
    coupled = np.unravel_index(np.argmax(off), h.shape)
    for i, j in [(stiffest, stiffest), (int(coupled[0]), int(coupled[1]))]:
        exact = np.asarray(jax.jit(jax.grad(lambda v, i=i, j=j: fns.hessian(v, x)[i, j]))(values))
        numeric = central(lambda v, i=i, j=j: session.hessian(v, x)[i, j], values)
        assert np.abs(exact).max() > 1e-4
        np.testing.assert_allclose(exact, numeric, rtol=1e-5, atol=1e-9)


def distances(x):
    """Every interatomic distance: rigid-motion invariant, so it compares relaxed
    geometries whatever rigid motion the minimizer left them in."""
    i, j = np.array(list(itertools.combinations(range(x.shape[0]), 2))).T
    return jnp.linalg.norm(x[i] - x[j], axis=-1)


def test_relaxed_geometry_parameter_derivative(case):
    session, values, x0 = case
    fns = session.traceable()
    start = fns.relax_start(x0)
    relaxed, converged, _ = jax.jit(fns.relax)(values, start)
    assert bool(converged)
    reference = session.minimize(values, x0)
    assert reference.converged and reference.gradient_norm < 1e-6
    np.testing.assert_allclose(distances(relaxed), distances(reference.coordinates), atol=1e-9)

    def relaxed_distances(v):
        return distances(fns.relax(v, start)[0])

    reverse = np.asarray(jax.jit(jax.jacrev(relaxed_distances))(values))  # (n_pairs, n_values)
    forward = np.asarray(jax.jit(jax.jacfwd(relaxed_distances))(values))
    np.testing.assert_allclose(reverse, forward, atol=1e-8 * np.abs(forward).max())

    def minimized_distances(v):
        result = session.minimize(v, x0)
        return np.asarray(distances(result.coordinates)) if result.converged else np.nan

    # A linear ideal angle (the TS's F–C–F, θ0 = π) is a kink, not a slope: for
    # θ0 ≥ π the minimum sits on the cone point at 180°, for θ0 < π it bends in any
    # direction. No derivative exists there to compare with; the exact one is finite.
    angles = session.system.terms["angle"]
    kinks = sorted({int(s) for s in angles.slots[:, 1] if np.isclose(values[s], np.pi)})
    assert np.all(np.isfinite(reverse))
    smooth = [i for i in range(len(values)) if i not in kinks]
    numeric = central(minimized_distances, values).T
    assert np.abs(numeric[:, smooth]).max() > 1e-3  # the relaxed geometry really depends on the parameters
    # Central differences of converged minimizations (gradient below 1e-8) carry
    # errors of a few 1e-6 where the ideal F–C–F is within 1e-6 rad of linear.
    np.testing.assert_allclose(reverse[:, smooth], numeric[:, smooth], rtol=1e-4, atol=5e-6)
