"""The engine as q2mm sees it: plugin record (no JAX import to list it), protocol and
capabilities, refusals by name, honest minimization, typed errors for bad input,
batches, and the persistent compilation cache."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from q2mm.errors import ConfigError, UnsupportedTermError
from q2mm.model import MMSystem, TermSet
from q2mm.protocols import Engine, EngineSession

ALL = {"energy", "gradient", "hessian", "minimize", "traceable"}


def run_python(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_plugin_is_listed_without_importing_jax():
    out = run_python(
        """
        import sys
        from q2mm.plugins import Registry
        record = Registry.discover().get("engine", "jax")
        print(record.factory, sorted(record.capabilities), "jax" in sys.modules)
        """
    )
    factory, *rest = out.split(" ", 1)
    assert factory == "q2mm_engine_jax.engine:JaxEngine"
    assert rest[0].strip().endswith("False")
    for capability in ALL:
        assert capability in rest[0]


def test_engine_protocol_and_description(engine):
    assert isinstance(engine, Engine)
    assert engine.name == "jax"
    assert {c.value for c in engine.capabilities} == ALL
    assert {str(f) for f in engine.forms} == {"harmonic", "mm3"}
    assert engine.term_kinds == {
        "bond",
        "angle",
        "strbnd",
        "urey_bradley",
        "torsion",
        "improper",
        "opbend",
        "vdw",
        "vdw_pair",
        "charge",
        "dipole",
    }
    info = engine.describe()
    assert info["precision"] == "float64"
    assert info["platform"] in {"cpu", "gpu", "cuda", "rocm", "tpu"}
    import jax

    assert info["jax_version"] == jax.__version__
    assert jax.config.jax_enable_x64


def test_unknown_term_kind_is_refused_by_name(ch3f, engine):
    system, _ = ch3f
    angle_angle = TermSet("angle_angle", [[2, 0, 3]], [[0]], ("k",))
    bad = MMSystem(
        system.molecule,
        system.form,
        system.conventions,
        {**system.terms, "angle_angle": angle_angle},
        system.nonbonded,
        system.n_parameters,
    )
    with pytest.raises(UnsupportedTermError, match="angle_angle"):
        engine.prepare(bad)


def test_charge_dipole_pairs_follow_tinkers_exclusions(rh_enamide, engine):
    """Rh carries a point charge and 22–24 bonds carry dipoles: every dipole that
    neither contains Rh nor an atom bonded to Rh interacts with it (Tinker's
    echgdpl), and bond dipoles sharing no atom interact pairwise (edipole)."""
    system, _ = rh_enamide
    blocks = {b.kind: b for b in engine.prepare(system).plan.blocks}
    rh = int(np.flatnonzero(system.nonbonded.charge_slots >= 0)[0])
    assert system.molecule.elements[rh] == "Rh"
    near = {rh} | {int(j) for b in system.terms["bond"].atoms.tolist() for j in b if rh in b}
    dipoles = [tuple(d) for d in system.terms["dipole"].atoms.tolist()]
    expected = sorted(d for d in dipoles if not near & set(d))
    got = sorted(tuple(a[1:]) for a in np.asarray(blocks["charge_dipole"].atoms).tolist())
    assert got == expected and all(a[0] == rh for a in np.asarray(blocks["charge_dipole"].atoms).tolist())
    pairs = {
        frozenset((tuple(a[:2]), tuple(a[2:]))) for a in np.asarray(blocks["dipole_pair"].atoms).tolist()
    }
    disjoint = {
        frozenset((a, b)) for i, a in enumerate(dipoles) for b in dipoles[i + 1 :] if not set(a) & set(b)
    }
    assert pairs == disjoint


def test_bad_options_and_inputs_raise_typed_errors(ch3f, engine):
    from q2mm_engine_jax.engine import JaxEngine

    with pytest.raises(ConfigError, match="tolerance"):
        JaxEngine(tolerance=1e-3)
    system, values = ch3f
    session = engine.prepare(system)
    assert isinstance(session, EngineSession)
    with pytest.raises(ConfigError, match="parameter vector"):
        session.energy(values[:-1])
    with pytest.raises(ConfigError, match="coordinates"):
        session.gradient(values, system.molecule.coordinates[:4])


@pytest.mark.parametrize("name", ["ch3f", "sn2"])
def test_minimize_converges_to_a_true_minimum(name, engine, request):
    system, values = request.getfixturevalue(name)
    session = engine.prepare(system)
    result = session.minimize(values)
    assert result.converged
    assert result.gradient_norm < 1e-8
    g = session.gradient(values, result.coordinates)
    assert np.linalg.norm(g) < 1e-6
    assert result.energy == pytest.approx(session.energy(values, result.coordinates), abs=1e-12)
    assert result.energy < session.energy(values)
    # A minimum, not a saddle: no negative curvature beyond the six rigid-body modes.
    eigenvalues = np.linalg.eigvalsh(session.hessian(values, result.coordinates))
    assert eigenvalues[0] > -1e-8 and np.sum(eigenvalues > 1e-5) == 3 * system.molecule.n_atoms - 6


def test_minimize_reports_failure_honestly(ch3f, engine):
    from q2mm_engine_jax.engine import JaxEngine

    system, values = ch3f
    strict = JaxEngine(max_iterations=1).prepare(system)
    result = strict.minimize(values)
    assert not result.converged
    assert result.iterations == 1
    assert result.gradient_norm == pytest.approx(np.linalg.norm(strict.gradient(values, result.coordinates)))
    assert result.gradient_norm > 1e-8
    fns = strict.traceable()
    assert not bool(fns.relax(values, fns.relax_start(system.molecule.coordinates))[1])


def test_batch_of_one_topology_matches_single_sessions(ch3f, engine):
    import jax

    system, values = ch3f
    session = engine.prepare(system)
    rng = np.random.default_rng(3)
    geometries = [system.molecule.coordinates + rng.normal(scale=0.02, size=(5, 3)) for _ in range(3)]
    batch = engine.prepare_batch([system] * 3)
    np.testing.assert_allclose(
        batch.energy(values, geometries), [session.energy(values, x) for x in geometries], atol=1e-12
    )
    for h, x in zip(batch.hessian(values, geometries), geometries, strict=True):
        np.testing.assert_allclose(h, session.hessian(values, x), atol=1e-14)
    relaxed = batch.minimize(values, geometries)
    assert all(r.converged for r in relaxed)
    fns = batch.traceable()
    stacked = batch.stack(geometries)
    np.testing.assert_allclose(
        jax.jit(fns.energy)(values, stacked), batch.energy(values, geometries), atol=1e-12
    )
    x, ok, _ = jax.jit(fns.relax)(values, fns.relax_start(stacked))
    assert np.all(np.asarray(ok))


def test_padded_batch_of_different_topologies(mixed, engine):
    """CH₃F (5 atoms) and the S_N2 TS (6 atoms) on one force field, padded to common
    shapes: the same energies, gradients, Hessians, minima and parameter gradients
    as one structure at a time."""
    import jax

    systems, values = mixed
    systems = [*systems, systems[0]]
    sessions = [engine.prepare(s) for s in systems]
    batch = engine.prepare_batch(systems)
    assert batch.width == 6  # the largest molecule
    np.testing.assert_allclose(batch.energy(values), [s.energy(values) for s in sessions], atol=1e-12)
    for g, s in zip(batch.gradient(values), sessions, strict=True):
        np.testing.assert_allclose(g, s.gradient(values), atol=1e-12)
    for h, s in zip(batch.hessian(values), sessions, strict=True):
        np.testing.assert_allclose(h, s.hessian(values), atol=1e-14)
    for r, s in zip(batch.minimize(values), sessions, strict=True):
        single = s.minimize(values)
        assert r.converged and single.converged
        assert r.energy == pytest.approx(single.energy, abs=1e-10)
    fns = batch.traceable()
    stacked = batch.stack()
    total = jax.jit(jax.grad(lambda v: fns.energy(v, stacked).sum()))(values)
    singles = sum(jax.grad(s.traceable().energy)(values, s.system.molecule.coordinates) for s in sessions)
    np.testing.assert_allclose(total, singles, atol=1e-10)
    relaxed, ok, _ = jax.jit(fns.relax)(values, fns.relax_start(stacked))
    assert np.all(np.asarray(ok))
    np.testing.assert_allclose(relaxed[2, 5:], stacked[2, 5:])  # padding atoms never move


def test_compilation_cache_folder_is_configurable(monkeypatch, tmp_path):
    import platformdirs
    from q2mm.jax_runtime import CACHE_ENV, cache_dir

    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert cache_dir() == Path(platformdirs.user_cache_dir("q2mm")) / "jax"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    assert cache_dir() == tmp_path
    for off in ("off", "0", "false", ""):
        monkeypatch.setenv(CACHE_ENV, off)
        assert cache_dir() is None


def test_compiled_executables_land_in_the_cache(tmp_path):
    """A fresh process with the cache folder overridden writes its compiled
    executables there (the cache is on by default) — even when something was
    compiled before the engine was created."""
    folder = tmp_path / "cache"
    out = run_python(
        """
        import jax
        jax.jit(lambda a: a + 1)(1.0)
        from q2mm.testing.conformance import VALUES, harmonic_ch3f_system
        from q2mm_engine_jax.engine import JaxEngine
        engine = JaxEngine()
        engine.prepare(harmonic_ch3f_system()).hessian(VALUES)
        print(engine.describe()["compilation_cache"])
        """,
        Q2MM_JAX_CACHE_DIR=str(folder),
    )
    assert out.strip() == str(folder)
    assert any(p.name.startswith("jit_hessian") for p in folder.iterdir())


def test_cpu_compiler_flags_leave_the_users_own_alone():
    """Each of q2mm's XLA CPU flags is added unless ``XLA_FLAGS`` already names it."""
    out = run_python(
        """
        import os
        from q2mm.jax_runtime import configure
        configure()
        print(os.environ["XLA_FLAGS"])
        """,
        XLA_FLAGS="--xla_cpu_use_fusion_emitters=true",
    )
    assert out.split() == ["--xla_cpu_use_fusion_emitters=true", "--xla_cpu_experimental_ynn_fusion_type="]


@pytest.mark.parametrize("dtype", [np.int64, float])
def test_unique_rows_is_numpys_unique_with_its_grouping_order(dtype):
    from q2mm_engine_jax.plan import unique_rows

    rows = np.random.default_rng(5).integers(-3, 4, size=(500, 3)).astype(dtype)
    expected, inverse = np.unique(rows, axis=0, return_inverse=True)
    unique, group, order = unique_rows(rows)
    np.testing.assert_array_equal(unique, expected)
    np.testing.assert_array_equal(group, inverse.ravel())
    np.testing.assert_array_equal(order, np.argsort(group, kind="stable"))
