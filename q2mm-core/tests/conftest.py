"""Fixtures of the core's tests that lean on OpenMM, an optional dependency: its
bundled force-field XML files are real third-party inputs for the OpenMM XML reader,
and OpenMM itself checks that written files mean what q2mm means. In the core's own
nox session OpenMM is absent and those tests skip, saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

WHY = "OpenMM is not installed (it comes with q2mm-engine-openmm)"


@pytest.fixture(scope="session")
def openmm():
    return pytest.importorskip("openmm", reason=WHY)


@pytest.fixture(scope="session")
def openmm_app(openmm):
    return pytest.importorskip("openmm.app", reason=WHY)


@pytest.fixture(scope="session")
def openmm_data(openmm_app) -> Path:
    """OpenMM's bundled force-field files (amber99sb.xml, tip3p.xml, ...)."""
    return Path(openmm_app.__file__).parent / "data"


@pytest.fixture(scope="session")
def jax():
    """JAX in float64, for the core's tests of its JAX-facing code (the analytical
    path, array-API residuals); they skip where JAX is absent (the core's own
    session: it comes with q2mm-engine-jax)."""
    module = pytest.importorskip("jax", reason="JAX is not installed (it comes with q2mm-engine-jax)")
    module.config.update("jax_enable_x64", True)
    return module
