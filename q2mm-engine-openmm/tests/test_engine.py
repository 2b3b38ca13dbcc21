"""The engine around the physics: platform choice and its errors, unit conversions,
parameters updated in place without leaking between sessions, sessions that pickle
into worker processes, refusals of terms it cannot evaluate, relaxation, and a plugin
record that does not import OpenMM."""

from __future__ import annotations

import multiprocessing
import pickle
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import attrs
import numpy as np
import pytest
from q2mm.errors import ConfigError, Q2MMError, UnsupportedTermError
from q2mm.io import read_structures
from q2mm.io.macromodel import read_mmo
from q2mm.io.mm3_fld import MM3Fld
from q2mm.model import Conventions, FunctionalForm, MMSystem, Molecule, Nonbonded, TermSet
from q2mm.model.forcefield import TERM_KINDS
from q2mm.plugins import registry
from q2mm.testing.conformance import VALUES, harmonic_ch3f_system
from q2mm.topology import build_system
from q2mm_engine_openmm import units
from q2mm_engine_openmm.engine import OpenMMEngine
from q2mm_engine_openmm.platform import PlatformUnavailableError, available_platforms


@pytest.fixture(scope="module")
def rh_system(data_dir):
    """Rh-enamide structure 1 (36 atoms) under the starting MM3 force field: bonds,
    angles (two near-linear), torsions, stretch-bends, bond dipoles, the Rh charge,
    Buckingham vdW with reduced hydrogens."""
    folder = data_dir / "rh-enamide/training_set"
    molecule = read_structures(folder / "rh_enamide_training_set.mol2")[0]
    mmo = read_mmo(folder / "rh_enamide_training_set.mmo")[0]
    ff = MM3Fld().read(data_dir / "rh-enamide/rh_hyd_enamide_start.fld")
    return build_system(molecule, ff, mmo=mmo), ff.vector()


# --- platforms ----------------------------------------------------------------------------


def test_unavailable_platform_is_a_typed_error_listing_the_available_ones():
    assert {"Reference", "CPU"} <= set(available_platforms())
    with pytest.raises(PlatformUnavailableError) as info:
        OpenMMEngine(platform="CUDA")
    assert isinstance(info.value, ConfigError) and isinstance(info.value, Q2MMError)
    message = str(info.value)
    assert "'CUDA'" in message and "Reference" in message and "CPU" in message
    # the same through the plugin registry, as `q2mm run --engine openmm` would build it
    with pytest.raises(PlatformUnavailableError, match="Reference"):
        registry().create("engine", "openmm", platform="CUDA")


def test_precision_and_platform_properties_are_checked():
    assert OpenMMEngine(platform="Reference", precision="double").describe()["precision"] == "double"
    with pytest.raises(ConfigError, match="double precision only"):
        OpenMMEngine(platform="Reference", precision="single")
    with pytest.raises(ConfigError, match="no property Colour"):
        OpenMMEngine(platform="CPU", Colour="blue")
    described = OpenMMEngine(platform="CPU", Threads=1).describe()
    assert described["platform"] == "CPU" and described["properties"] == {"Threads": "1"}
    assert described["precision"] == "double" and described["hessian_step_angstrom"] == 1e-5
    for bad in ({"hessian_step": 0.0}, {"gradient_tolerance": -1.0}, {"newton_steps": -1}):
        with pytest.raises(ConfigError):
            OpenMMEngine(platform="Reference", **bad)


def test_cpu_and_reference_agree_to_round_off(rh_system):
    """Every force this engine builds runs through OpenMM's double-precision bonded
    kernels on CPU too, which is why describe() reports double precision there."""
    system, values = rh_system
    ref = OpenMMEngine(platform="Reference").prepare(system)
    cpu = OpenMMEngine(platform="CPU", Threads=1).prepare(system)
    assert cpu.energy(values) == pytest.approx(ref.energy(values), rel=1e-13)
    np.testing.assert_allclose(cpu.gradient(values), ref.gradient(values), rtol=1e-12, atol=1e-10)
    h_ref = ref.hessian(values)
    assert np.abs(cpu.hessian(values) - h_ref).max() < 1e-10 * np.abs(h_ref).max()


# --- units --------------------------------------------------------------------------------


def test_unit_conversions_against_independent_values():
    # 1 kcal/(mol·Å²) = 4.184 kJ/mol per 0.01 nm²
    assert units.bond_constant_to_openmm(1.0) == pytest.approx(418.4, rel=1e-15)
    # OpenMM's harmonic forces carry the ½: E = k Δr² ⇒ k' = 2k
    assert units.harmonic_bond_constant(1.0) == pytest.approx(836.8, rel=1e-15)
    assert units.harmonic_angle_constant(1.0) == pytest.approx(8.368, rel=1e-15)
    # 1 Hartree/Bohr² = 2625.4996 kJ/mol / (0.0529177 nm)² = 9.375829e5 kJ/(mol·nm²)
    assert units.hessian_from_openmm(np.array([[9.375829e5]]))[0, 0] == pytest.approx(1.0, rel=1e-6)
    # a force of +1 kJ/(mol·nm) is a gradient of −1/41.84 kcal/(mol·Å)
    assert units.gradient_from_forces(np.array([1.0]))[0] == pytest.approx(-1 / 41.84, rel=1e-15)
    # Coulomb: CHARMM's 332.0637 kcal·Å/(mol·e²) is OpenMM's ONE_4PI_EPS0, 138.935456 kJ·nm/(mol·e²)
    assert units.coulomb_constant_to_openmm(332.0637) == pytest.approx(138.935456, rel=1e-7)
    assert units.dipole_moment_to_openmm(1.0) == pytest.approx(0.020819434, rel=1e-8)


# --- parameters in place -----------------------------------------------------------------


def perturbed(values: np.ndarray, seed: int) -> np.ndarray:
    return values * (1 + 0.05 * np.random.default_rng(seed).uniform(-1, 1, values.shape))


def test_parameters_update_in_place_exactly(rh_system):
    """A session re-evaluated under many parameter vectors, one value at a time (as
    finite differences over parameters do) and all at once, gives what a fresh session
    gives — nothing of a previous vector survives, reduction factors included (they
    move virtual sites, which reinitializes the context)."""
    system, values = rh_system
    engine = OpenMMEngine(platform="Reference")
    session = engine.prepare(system)
    session.energy(values)
    rng = np.random.default_rng(0)
    reduction = system.nonbonded.vdw_slots[:, 2]
    probes = [*rng.choice(len(values), 5, replace=False), int(reduction[reduction >= 0][0])]
    for slot in probes:
        moved = values.copy()
        moved[slot] *= 1.01
        assert session.energy(moved) == pytest.approx(engine.prepare(system).energy(moved), abs=1e-10)
    for seed in range(2):
        v = perturbed(values, seed)
        fresh = engine.prepare(system)
        assert session.energy(v) == pytest.approx(fresh.energy(v), abs=1e-10)
        np.testing.assert_allclose(session.gradient(v), fresh.gradient(v), atol=1e-9)
    assert session.energy(values) == pytest.approx(engine.prepare(system).energy(values), abs=1e-10)


def test_sessions_of_one_system_do_not_share_parameters(rh_system):
    """OpenMM force objects are shared by every context made from one System; each
    session has its own, so interleaved sessions keep their own parameters."""
    system, values = rh_system
    engine = OpenMMEngine(platform="Reference")
    a, b = engine.prepare(system), engine.prepare(system)
    va, vb = perturbed(values, 1), perturbed(values, 2)
    ea, eb = a.energy(va), b.energy(vb)
    assert ea != pytest.approx(eb, abs=1e-3)
    assert a.energy(va) == ea and b.energy(vb) == eb
    x = system.molecule.coordinates + 0.01
    assert a.energy(va, x) == pytest.approx(engine.prepare(system).energy(va, x), abs=1e-10)
    assert b.energy(vb) == eb


def test_bad_inputs_are_typed_errors():
    session = OpenMMEngine(platform="Reference").prepare(harmonic_ch3f_system())
    with pytest.raises(ConfigError, match="8 parameters"):
        session.energy(VALUES[:-1])
    with pytest.raises(ConfigError, match="5 atoms"):
        session.energy(VALUES, np.zeros((4, 3)))


# --- pickling and worker processes ------------------------------------------------------


def test_sessions_pickle_and_rebuild_in_worker_processes(rh_system):
    system, values = rh_system
    session = OpenMMEngine(platform="Reference").prepare(system)
    expected_e, expected_h = session.energy(values), session.hessian(values)
    clone = pickle.loads(pickle.dumps(session))
    assert clone.energy(values) == expected_e
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        e = pool.submit(session.energy, values).result()
        h = pool.submit(session.hessian, values).result()
    assert e == pytest.approx(expected_e, rel=1e-14)
    np.testing.assert_allclose(h, expected_h, rtol=0, atol=1e-12 * np.abs(expected_h).max())


# --- refusals -----------------------------------------------------------------------------


def _with_terms(**extra: TermSet) -> MMSystem:
    base = harmonic_ch3f_system()
    return MMSystem(base.molecule, base.form, base.conventions, {**base.terms, **extra}, n_parameters=8)


def test_unknown_term_kinds_are_refused_by_name():
    engine = OpenMMEngine(platform="Reference")
    assert set(engine.term_kinds) == set(TERM_KINDS)
    with pytest.raises(UnsupportedTermError, match="angle_angle"):
        engine.prepare(_with_terms(angle_angle=TermSet("angle_angle", [(1, 0, 2)], [[4]], ("k",))))


def test_malformed_terms_are_refused():
    engine = OpenMMEngine(platform="Reference")
    with pytest.raises(UnsupportedTermError, match="periodicities"):
        engine.prepare(
            _with_terms(
                torsion=TermSet("torsion", [(2, 0, 1, 3)], [[0, 1]], ("k", "phase"), {"periodicity": [1.5]})
            )
        )
    with pytest.raises(UnsupportedTermError, match="periodicity"):
        engine.prepare(_with_terms(torsion=TermSet("torsion", [(2, 0, 1, 3)], [[0, 1]], ("k", "phase"))))
    with pytest.raises(UnsupportedTermError, match="'r2_0'"):
        engine.prepare(
            _with_terms(strbnd=TermSet("strbnd", [(1, 0, 2)], [[0, 0, 1, 4]], ("k1", "k2", "r1_0", "theta0")))
        )
    with pytest.raises(UnsupportedTermError, match="4 atoms"):
        engine.prepare(_with_terms(improper=TermSet("improper", [(1, 0, 2)], [[0, 1]], ("k", "phi0"))))
    lj = Conventions(vdw_form="morse")
    pair = Nonbonded([[0, 1, -1]] * 2, [-1, -1], [-1, -1], [(0, 1)], [1.0], [0.0], [[-1, -1]])
    with pytest.raises(UnsupportedTermError, match="morse"):
        engine.prepare(
            MMSystem(Molecule(("C", "C"), [[0, 0, 0], [3, 0, 0]]), FunctionalForm.MM3, lj, {}, pair, 2)
        )


# --- relaxation ---------------------------------------------------------------------------


def test_minimize_reaches_the_tolerance_and_reports_honestly(rh_system):
    system, values = rh_system
    relaxed = OpenMMEngine(platform="Reference").prepare(system).minimize(values)
    assert relaxed.converged and relaxed.gradient_norm < 1e-8 and relaxed.iterations > 0
    session = OpenMMEngine(platform="Reference").prepare(system)
    assert relaxed.energy == pytest.approx(session.energy(values, relaxed.coordinates), abs=1e-9)
    assert relaxed.energy < session.energy(values)
    assert np.linalg.norm(session.gradient(values, relaxed.coordinates)) < 1e-8
    # one L-BFGS iteration and no Newton step cannot reach 1e-8: said so, not hidden
    stopped = (
        OpenMMEngine(platform="Reference", max_iterations=1, newton_steps=0).prepare(system).minimize(values)
    )
    assert not stopped.converged and stopped.gradient_norm > 1e-8


# --- plugin -------------------------------------------------------------------------------


def test_plugin_record_is_light_and_accurate():
    code = (
        "import sys; from q2mm.plugins import registry; r = registry().get('engine', 'openmm'); "
        "print(sorted(r.capabilities)); print(r.factory); "
        "print('openmm' in sys.modules, 'q2mm_engine_openmm.engine' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "['energy', 'gradient', 'hessian', 'minimize']"
    assert out[1] == "q2mm_engine_openmm.engine:OpenMMEngine"
    assert out[2] == "False False"
    engine = registry().create("engine", "openmm", platform="Reference")
    assert {c.value for c in engine.capabilities} == {"energy", "gradient", "hessian", "minimize"}
    assert attrs.asdict(engine.settings)["platform"]["name"] == "Reference"
