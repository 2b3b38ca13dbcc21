"""`q2mm run` on the bundled CH₃F example with engine = "openmm" (finite-difference
parameter gradients) ends at the optimum the JAX engine's analytical path reaches."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from q2mm.config import load_config
from q2mm.run import run_fit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ch3f" / "q2mm.toml"


@pytest.mark.skipif(
    importlib.util.find_spec("q2mm_engine_jax") is None, reason="q2mm-engine-jax is not installed"
)
def test_ch3f_example_reaches_the_jax_optimum(tmp_path):
    cfg = load_config(EXAMPLE)
    openmm = run_fit(cfg, overrides={"engine": "openmm", "output": tmp_path / "openmm"})
    jax = run_fit(cfg, overrides={"engine": "jax", "output": tmp_path / "jax"})
    assert openmm["status"] == jax["status"] == "converged"
    assert openmm["gradient"] == "finite-difference" and jax["gradient"] == "analytical"
    assert openmm["score"]["final"] == pytest.approx(jax["score"]["final"], rel=0.01)
    assert openmm["score"]["final"] < 0.2 * openmm["score"]["initial"]
    assert openmm["metrics"]["frequency_rmsd_cm1"] == pytest.approx(
        jax["metrics"]["frequency_rmsd_cm1"], rel=0.01
    )
