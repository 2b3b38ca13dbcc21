"""The jax-md engine against the JAX engine on the same structures: equal with a
cutoff beyond every distance, different by exactly the pairs beyond a finite cutoff,
unchanged when its neighbour list overflows and is rebuilt, and never evaluated on a
stale list's plan."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from q2mm.errors import ConfigError
from q2mm_engine_jax import energy as jax_energy
from q2mm_engine_jax.terms.nonbonded import switch
from q2mm_engine_jaxmd.engine import JaxMdEngine


def _relative(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


def test_parity_beyond_every_distance(ethane, jax_engine):
    """Neighbour lists with a cutoff longer than any distance: the JAX engine's numbers."""
    system, values = ethane
    reference = jax_engine.prepare(system)
    session = JaxMdEngine(cutoff=40.0, switch=0.0).prepare(system)
    assert _relative(session.energy(values), reference.energy(values)) <= 1e-10
    assert _relative(session.gradient(values), reference.gradient(values)) <= 1e-10
    assert _relative(session.hessian(values), reference.hessian(values)) <= 1e-9


def test_traceable_functions_check_their_list(ethane):
    """Traced functions equal the session's near the structure's own coordinates, and
    are NaN (not a stale-list number) once an atom moved beyond skin/2."""
    system, values = ethane
    session = JaxMdEngine(cutoff=40.0, switch=0.0, skin=0.5).prepare(system)
    fns = session.traceable()
    x = np.asarray(system.molecule.coordinates)
    energy = jax.jit(fns.energy)
    assert float(energy(jnp.asarray(values), x)) == pytest.approx(session.energy(values), abs=1e-10)
    moved = x.copy()
    moved[0, 0] += 0.3
    assert np.isnan(float(energy(jnp.asarray(values), moved)))


def _pair_energies(system, values, jax_engine):
    """Per vdW / Coulomb pair of the JAX engine's plan: (energy, distance) — vdW
    between centres, Coulomb between atoms."""
    plan = jax_engine.prepare(system).plan
    x = jnp.asarray(system.molecule.coordinates)
    energies = jax_energy.term_energies(plan, jnp.asarray(values), x[None])
    centres, _, _ = jax_energy._centres(plan, jax_energy._extended(values), x)
    out = []
    for block in plan.blocks:
        if block.kind in ("vdw", "coulomb"):
            points = np.asarray((centres if block.family.centres else x)[block.atoms])
            r = np.linalg.norm(points[:, 0] - points[:, 1], axis=-1)
            out.append((np.asarray(energies[block.kind]), r))
    return out


@pytest.mark.parametrize("width", [0.0, 0.5], ids=["truncated", "switched"])
def test_finite_cutoff_drops_exactly_the_pairs_beyond_it(ethane, jax_engine, width):
    """E_all − E_cut = Σ_pairs (1 − S(r)) E_pair: with truncation the pairs beyond the
    cutoff, with a switch also the switched part of those inside."""
    system, values = ethane
    cutoff = 2.9
    session = JaxMdEngine(cutoff=cutoff, switch=width).prepare(system)
    dropped = sum(
        float(np.sum(e * (1.0 - np.asarray(switch(r, cutoff - width, cutoff)))))
        for e, r in _pair_energies(system, values, jax_engine)
    )
    assert abs(dropped) > 1e-4  # the cutoff does cut something
    difference = jax_engine.prepare(system).energy(values) - session.energy(values)
    assert difference == pytest.approx(dropped, rel=1e-10, abs=1e-12)


def test_overflow_is_rebuilt_not_truncated(ethane, jax_engine):
    """A capacity far too small for the pairs is detected and the list allocated
    again: the numbers are the all-pairs ones."""
    system, values = ethane
    session = JaxMdEngine(cutoff=40.0, switch=0.0, capacity_multiplier=0.2).prepare(system)
    energy = session.energy(values)
    assert session.neighbours.rebuilds >= 1
    assert _relative(energy, jax_engine.prepare(system).energy(values)) <= 1e-10


def _listed_pairs(plan):
    """The vdW and Coulomb entries of a plan without its padding (scale 0)."""
    return {
        b.kind: np.asarray(b.atoms)[np.asarray(b.scale)[np.asarray(b.rule)] != 0]
        for b in plan.blocks
        if b.kind in ("vdw", "coulomb")
    }


def test_plan_is_kept_only_while_its_list_is(ethane):
    """Coordinates within skin/2 reuse the last plan; beyond, the list is rebuilt and
    the plan holds the pairs a fresh session finds there, not the stale ones."""
    system, _ = ethane
    engine = JaxMdEngine(cutoff=2.9, switch=0.0, skin=0.5)
    session = engine.prepare(system)
    x = np.asarray(system.molecule.coordinates)
    plan = session.plan_at(x)
    assert session.plan_at(x + 0.1) is plan
    moved = x.copy()
    moved[0] += 1.5
    rebuilt, fresh = (
        _listed_pairs(session.plan_at(moved)),
        _listed_pairs(engine.prepare(system).plan_at(moved)),
    )
    assert rebuilt.keys() == fresh.keys()
    assert all(np.array_equal(rebuilt[k], fresh[k]) for k in rebuilt)
    before = _listed_pairs(plan)
    assert any(not np.array_equal(before[k], rebuilt[k]) for k in rebuilt)


def test_switch_is_smooth_at_both_ends():
    r = jnp.array([0.9, 1.0, 1.5, 2.0, 2.1])
    np.testing.assert_allclose(switch(r, 1.0, 2.0), [1.0, 1.0, 0.5, 0.0, 0.0], atol=1e-15)
    first = np.asarray(jax.vmap(jax.grad(lambda r: switch(r, 1.0, 2.0)))(r))
    second = np.asarray(jax.vmap(jax.grad(jax.grad(lambda r: switch(r, 1.0, 2.0))))(r))
    np.testing.assert_allclose(first[[0, 1, 3, 4]], 0.0, atol=1e-12)
    np.testing.assert_allclose(second[[0, 1, 3, 4]], 0.0, atol=1e-12)


def test_options_are_checked():
    with pytest.raises(ConfigError, match="switch"):
        JaxMdEngine(cutoff=5.0, switch=6.0)
    with pytest.raises(ConfigError, match="gtoll"):
        JaxMdEngine(gtoll=1.0)
    with pytest.raises(ConfigError, match="box"):
        JaxMdEngine(cutoff=5.0, box=[10.0, 10.0])
