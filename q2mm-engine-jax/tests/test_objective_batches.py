"""The analytical objective's batches and warm starts against the plain evaluation.

CH₃F and the S_N2 transition state (two topologies: the engine pads them into one
batch) on one QFUERZA-estimated MM3 force field, eigenmatrix + geometry objective.
The batched objective must equal the structure-by-structure one, and an evaluation
whose relaxations start from the previous point's minima must equal a fresh one that
starts from the QM geometries.
"""

from __future__ import annotations

import numpy as np
import pytest
from q2mm.estimate import estimate_forcefield
from q2mm.io.numpy_bundle import read_bundle
from q2mm.model import StationaryPoint
from q2mm.objective import Objective
from q2mm.parameters import ParameterSpace
from q2mm.testing.unbatched import Unbatched
from q2mm.topology import build_system


@pytest.fixture(scope="module")
def problem(data_dir):
    molecules = []
    for name, kind in (("ch3f", StationaryPoint.GROUND_STATE), ("sn2-ts", StationaryPoint.TRANSITION_STATE)):
        folder = data_dir / name
        bundle = read_bundle(folder / f"{name}-optimized.xyz", hessian=folder / f"{name}-hessian.npy")
        molecules.append(bundle.with_(stationary_point=kind, name=name))
    ff = estimate_forcefield(molecules, method="qfuerza", form="mm3")
    systems = [build_system(m, ff) for m in molecules]
    space = ParameterSpace.from_forcefield(ff, kinds=("bond", "angle"))
    return molecules, systems, space


def build(problem, engine):
    molecules, systems, space = problem
    return Objective.build(molecules, systems, engine, space)


def test_padded_batch_equals_structure_by_structure(problem, engine):
    batched, single = build(problem, engine), build(problem, Unbatched(engine))
    assert type(batched.path.batches.get((0, 1))[0]).__name__ == "BatchSession"
    assert type(single.path.batches.get((0, 1))[0]).__name__ == "SessionBatch"
    x = problem[2].x0
    score, grad = batched.value_and_grad(x)
    score_1, grad_1 = single.value_and_grad(x)
    assert np.isfinite(score) and np.abs(grad).max() > 0
    assert score == pytest.approx(score_1, rel=1e-10)
    np.testing.assert_allclose(grad, grad_1, rtol=1e-8, atol=1e-8 * np.abs(grad_1).max())
    # Both relax to |g| < 1e-8 kcal/(mol·Å) along their own paths: the relaxed
    # geometries agree to ~1e-9 Å, which is ~1e-6 of a geometry residual (σ = 0.001 Å).
    np.testing.assert_allclose(batched.residuals(x), single.residuals(x), rtol=1e-9, atol=1e-6)


def test_warm_started_relaxations_equal_cold_ones(problem, engine):
    """The second objective evaluates x1 from the minima it found at x0; the fresh one
    from the QM geometries. Same minima, same score and gradient."""
    x0 = problem[2].x0
    # Inside the bounds: a linear angle's theta0 (the S_N2 F–C–F, π) may only decrease.
    x1 = np.clip(x0 * (1.0 + 0.02 * np.sin(np.arange(len(x0)) + 1.0)), problem[2].lower, problem[2].upper)
    warm, cold = build(problem, engine), build(problem, engine)
    warm.value_and_grad(x0)
    assert warm.path.starts.warm  # x0 became the incumbent
    score, grad = warm.value_and_grad(x1)
    score_cold, grad_cold = cold.value_and_grad(x1)
    assert score == pytest.approx(score_cold, rel=1e-9)
    np.testing.assert_allclose(grad, grad_cold, rtol=1e-6, atol=1e-7 * np.abs(grad_cold).max())


def test_whole_molecule_hessians_give_the_same_objective(problem, engine):
    """Engine option ``hessian="whole"`` (``jax.hessian`` of the whole energy, batched
    over structures of different sizes) against the local assembly: the benchmark's
    reference computes the same objective."""
    from q2mm_engine_jax.engine import JaxEngine

    whole = JaxEngine(hessian="whole")
    x0 = problem[2].x0
    x = x0 * (1.0 + 0.01 * ~np.isclose(x0, np.pi))  # the TS's linear F–C–F stays at 180°
    score, grad = build(problem, engine).value_and_grad(x)
    score_w, grad_w = build(problem, whole).value_and_grad(x)
    assert score_w == pytest.approx(score, rel=1e-10)
    np.testing.assert_allclose(grad_w, grad, rtol=1e-8, atol=1e-8 * np.abs(grad).max())
    systems = problem[1]
    for h_w, h in zip(
        whole.prepare_batch(systems).hessian(problem[2].forcefield.vector()),
        engine.prepare_batch(systems).hessian(problem[2].forcefield.vector()),
        strict=True,
    ):
        np.testing.assert_allclose(h_w, h, rtol=0, atol=1e-12)
