"""The engine with Tinker found honestly: its plugin record, typed errors for an absent
Tinker and for Tinker's own failures, energies of CH₃F under stock MM3 against what
Tinker 26.2 printed (``data/tinker-ch3f``), and sessions in worker processes. Live
tests skip, saying why, where Tinker is not installed."""

from __future__ import annotations

import pickle
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from q2mm.io.tinker_output import read_analyze
from q2mm.model import FunctionalForm
from q2mm.plugins import registry
from q2mm.testing.records import record_mismatches
from q2mm_engine_tinker.driver import KEY_NAME, XYZ_NAME, Driver, driver_executable
from q2mm_engine_tinker.errors import TinkerError, TinkerNotFoundError
from q2mm_engine_tinker.keyfile import TinkerInput
from q2mm_engine_tinker.locate import find_tinker, missing_reason
from q2mm_engine_tinker.programs import Programs

from .systems import CH3F_MM3_VALUES, ch3f_mm3_system, expressible, formaldehyde_like

live = pytest.mark.skipif(bool(missing_reason()), reason=str(missing_reason()))


def test_plugin_record_is_light():
    code = (
        "import sys; from q2mm.plugins import registry; r = registry().get('engine', 'tinker'); "
        "print(sorted(r.capabilities)); print(r.factory); print('q2mm_engine_tinker.engine' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:3] == [
        "['energy', 'gradient', 'hessian', 'minimize']",
        "q2mm_engine_tinker.engine:TinkerEngine",
        "False",
    ]


def test_absent_tinker_is_a_typed_error_saying_what_was_looked_for(tmp_path):
    with pytest.raises(TinkerNotFoundError, match=r"analyze, testhess, minimize .*TINKER_DIR"):
        find_tinker({"PATH": str(tmp_path)})


@live
def test_record_matches_the_engine():
    assert record_mismatches(registry().get("engine", "tinker")) == []


@live
@pytest.mark.parametrize("backend", ["driver", "programs"])
def test_stock_mm3_energies_match_tinkers_own_output(data_dir, backend):
    """CH₃F with the parameters Tinker applied from mm3.prm: each family q2mm models
    equals analyze's printed component (4 decimals); the total differs from Tinker's by
    exactly the angle-angle energy this engine switches off."""
    from q2mm_engine_tinker.engine import TinkerEngine

    recorded = read_analyze(data_dir / "tinker-ch3f/analyze-E.txt")
    session = TinkerEngine(backend=backend).prepare(ch3f_mm3_system(data_dir))
    energy = session.energy(CH3F_MM3_VALUES)
    angang = recorded.component("Angle-Angle").energy
    assert energy == pytest.approx(recorded.total - angang, abs=1.5e-4)
    if backend == "driver":
        families = session.term_energies(CH3F_MM3_VALUES)
        names = {"bond": "Bond Stretching", "angle": "Angle Bending", "strbnd": "Stretch-Bend"}
        assert set(families) == set(names)
        for family, title in names.items():
            assert families[family] == pytest.approx(recorded.component(title).energy, abs=5e-5)


def _bad_folder(tmp_path, data_dir):
    tinker_input = TinkerInput.build(ch3f_mm3_system(data_dir))
    (tmp_path / XYZ_NAME).write_text(tinker_input.xyz)
    key = tinker_input.key(CH3F_MM3_VALUES).replace("parameters none", "parameters missing-file.prm")
    (tmp_path / KEY_NAME).write_text(key)
    return tinker_input


@live
def test_driver_failure_quotes_tinker(tmp_path, data_dir):
    _bad_folder(tmp_path, data_dir)
    with pytest.raises(TinkerError, match=r"structure\.key.*(?i:parameter)"):
        Driver(driver_executable(find_tinker()), tmp_path, timeout=60, threads=1)


@live
def test_program_failure_quotes_tinker(tmp_path, data_dir):
    tinker_input = _bad_folder(tmp_path, data_dir)
    programs = Programs(find_tinker(), tmp_path, timeout=60, threads=1, xyz=tinker_input.xyz)
    with pytest.raises(TinkerError, match=r"Tinker analyze failed .*structure\.key.*(?i:parameter)"):
        programs.run("analyze", "E")


def _energy_in_worker(session, values) -> float:
    return session.energy(values)


@live
def test_sessions_run_in_worker_processes(tinker_engine, data_dir):
    """A session pickles as its system and settings and starts its own driver."""
    session = tinker_engine.prepare(ch3f_mm3_system(data_dir))
    here = session.energy(CH3F_MM3_VALUES)
    pickle.loads(pickle.dumps(session))
    with ProcessPoolExecutor(2) as pool:
        there = list(pool.map(_energy_in_worker, [session] * 2, [CH3F_MM3_VALUES, 2 * CH3F_MM3_VALUES]))
    assert there[0] == here
    assert there[1] != here and np.isfinite(there[1])


@live
def test_new_parameters_equal_a_fresh_start(tinker_engine, data_dir):
    """The driver re-reads parameters without Tinker's full set-up (see reassign in
    q2mm_driver.f90): after several changes its numbers equal, bit for bit, those of
    a driver that started with the final parameters — on an Rh-enamide structure,
    which has every kind this engine writes but opbend/urey-bradley/improper (next test)."""
    from q2mm.io import read_structures
    from q2mm.io.macromodel import read_mmo
    from q2mm.io.mm3_fld import MM3Fld
    from q2mm.topology import build_system

    folder = data_dir / "rh-enamide"
    molecule = read_structures(folder / "training_set/rh_enamide_training_set.mol2")[0]
    mmo = read_mmo(folder / "training_set/rh_enamide_training_set.mmo")[0]
    ff = MM3Fld().read(folder / "rh_hyd_enamide_start.fld")
    system = expressible(build_system(molecule, ff, mmo=mmo))[0]
    values = ff.vector()
    rng = np.random.default_rng(3)
    warm = tinker_engine.prepare(system)
    for _ in range(3):
        final = values * rng.uniform(0.9, 1.1, values.shape)
        warm.energy(final)
    fresh = tinker_engine.prepare(system)
    x = system.molecule.coordinates + rng.uniform(-0.01, 0.01, system.molecule.coordinates.shape)
    for method in ("energy", "gradient", "hessian"):
        assert np.array_equal(getattr(warm, method)(final, x), getattr(fresh, method)(final, x)), method


@live
def test_new_parameters_equal_a_fresh_start_for_trigonal_terms(tinker_engine):
    """The same for out-of-plane bends, Urey–Bradley and impropers."""
    system, values = formaldehyde_like(FunctionalForm.MM3)
    warm = tinker_engine.prepare(system)
    warm.energy(values)
    final = values * 1.07
    fresh = tinker_engine.prepare(system)
    for method in ("energy", "gradient", "hessian"):
        assert np.array_equal(getattr(warm, method)(final), getattr(fresh, method)(final)), method
