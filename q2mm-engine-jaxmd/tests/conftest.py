"""Fixtures of the jax-md engine tests. The MM systems are the JAX engine tests' own
(ethane with every term family in both forms, built by hand in
q2mm-engine-jax/tests/conftest.py, loaded from there so both engines are tested on
the same structures); the engines are created once per run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from q2mm.model import FunctionalForm

_spec = importlib.util.spec_from_file_location(
    "q2mm_engine_jax_test_systems", Path(__file__).parents[2] / "q2mm-engine-jax" / "tests" / "conftest.py"
)
systems = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(systems)


@pytest.fixture(scope="session")
def jax_engine():
    from q2mm_engine_jax.engine import JaxEngine

    return JaxEngine()


@pytest.fixture(
    scope="session", params=[FunctionalForm.MM3, FunctionalForm.HARMONIC], ids=["mm3", "harmonic"]
)
def ethane(data_dir, jax_engine, request):
    """(system, values): ethane with every term family — MM3: Buckingham vdW with H
    reduction and bond dipoles; harmonic: Lennard-Jones, charges, 1-4 scaling."""
    molecule, bonds = systems.read_mol2(data_dir / "ethane" / "GS.mol2")
    ff = systems.ethane_forcefield(request.param)
    return systems.ethane_system(molecule, bonds, ff), ff.vector()
