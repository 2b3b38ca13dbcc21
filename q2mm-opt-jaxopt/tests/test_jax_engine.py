"""The in-JIT optimizers with the real JAX engine, as the README runs them: `q2mm run`
on examples/ch3f (MM3, engine = "jax") with ``--optimizer optax:lbfgs``. Only where
q2mm-engine-jax is installed (the all-packages session); this package's own session
installs the core alone and skips it, saying why (its other tests run on the core's
traceable test engine)."""

from __future__ import annotations

from pathlib import Path

import pytest
from q2mm.config import load_config
from q2mm.run import run_fit

pytest.importorskip(
    "q2mm_engine_jax",
    reason="q2mm-engine-jax is not installed (q2mm-opt-jaxopt does not depend on it; "
    "the MM3 fit on the real JAX engine runs in the all-packages session)",
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ch3f" / "q2mm.toml"


def test_q2mm_run_fits_the_mm3_example_in_jit_on_the_jax_engine(tmp_path):
    config = load_config(EXAMPLE)
    result = run_fit(config, overrides={"optimizer": "optax:lbfgs", "output": tmp_path / "out"})
    assert result["engine"]["name"] == "jax"
    assert result["optimizer"]["name"] == "optax:lbfgs"
    assert result["status"] == "converged"
    # the optimum scipy:lbfgsb reaches with the engine's analytical gradient (README)
    assert result["score"]["final"] == pytest.approx(158.621, rel=1e-4)
    assert result["timing"]["compile_s"] > 0
    assert (tmp_path / "out" / "result.json").is_file()
