"""The analytical objective's exact gradient against central differences of its own
value, residual kind by residual kind, on real fitting problems: CH₃F and the S_N2
transition state (QFUERZA starts, method C for the TS), one Rh-enamide TS (its OPT
parameters, Jaguar Hessian) and the ethane ground state with its rotation TS (the
relative-energy residual needs a group). Points are moved off the start so that
every residual and every relaxation has something to do.

The analytical path evaluates Hessians from the terms the fit moves plus a
precomputed remainder, warm-starts relaxations with their Newton factor and batches
structures; a central difference goes through exactly the same machinery, so any
error in those shows up here.
"""

from __future__ import annotations

import numpy as np
import pytest
from q2mm.estimate import estimate_forcefield
from q2mm.io import read_structures
from q2mm.io.numpy_bundle import read_bundle
from q2mm.model import StationaryPoint
from q2mm.objective import Objective
from q2mm.parameters import ParameterSpace
from q2mm.topology import build_system
from q2mm.topology.perception import perceive

KINDS = ["eigenmatrix", "frequency", "hessian", "geometry"]


def _bundle(data_dir, name, kind):
    folder = data_dir / name
    molecule = read_bundle(folder / f"{name}-optimized.xyz", hessian=folder / f"{name}-hessian.npy")
    return molecule.with_(stationary_point=kind, name=name)


def _estimated(molecules):
    ff = estimate_forcefield(molecules, method="qfuerza", form="mm3")
    space = ParameterSpace.from_forcefield(ff, kinds=("bond", "angle"))
    return [build_system(m, ff) for m in molecules], space


@pytest.fixture(scope="module")
def ch3f_problem(data_dir):
    molecules = [_bundle(data_dir, "ch3f", StationaryPoint.GROUND_STATE)]
    return molecules, *_estimated(molecules)


@pytest.fixture(scope="module")
def sn2_problem(data_dir):
    molecules = [_bundle(data_dir, "sn2-ts", StationaryPoint.TRANSITION_STATE)]
    return molecules, *_estimated(molecules)


@pytest.fixture(scope="module")
def ethane_problem(data_dir):
    molecules = []
    for name, kind in (("GS", StationaryPoint.GROUND_STATE), ("TS", StationaryPoint.TRANSITION_STATE)):
        molecule = read_structures(data_dir / "ethane" / f"{name}.fchk")[0]
        molecules.append(
            molecule.with_(stationary_point=kind, name=f"ethane {name}", bonds=perceive(molecule).bonds)
        )
    return molecules, *_estimated(molecules)


def check_gradient(problem, terms, directions: int | None = None, seed: int = 0):
    """Exact directional derivatives against central differences: along every
    coordinate (``directions`` None) or along that many random directions, each
    scaled by the parameters' own sizes."""
    from q2mm_engine_jax.engine import JaxEngine

    molecules, systems, space = problem
    objective = Objective.build(molecules, systems, JaxEngine(), space, terms=terms)
    rng = np.random.default_rng(seed)
    # A linear ideal angle (the S_N2 TS's F–C–F) stays where it is: at θ0 = π the
    # relaxed geometry has a kink in θ0, and beyond π no smooth minimum at all.
    smooth = ~np.isclose(space.x0, np.pi)
    x = space.x0 * (1.0 + 0.03 * smooth * rng.uniform(-1.0, 1.0, space.size))
    value, grad = objective.value_and_grad(x)
    assert np.isfinite(value) and np.abs(grad).max() > 0
    size = np.maximum(np.abs(x), 1e-3) * smooth
    if directions is None:
        along = np.diag(size)[smooth]
    else:
        along = rng.normal(size=(directions, space.size)) * size
    for d in along:
        h = 1e-6
        numeric = (objective.value(x + h * d) - objective.value(x - h * d)) / (2 * h)
        exact = float(grad @ d)
        assert exact == pytest.approx(numeric, rel=2e-5, abs=1e-7 * (1.0 + abs(value))), (terms, d)


@pytest.mark.parametrize("kind", KINDS)
def test_ch3f(ch3f_problem, kind):
    check_gradient(ch3f_problem, [(kind, 1.0, {})])


@pytest.mark.parametrize("kind", KINDS)
def test_sn2_transition_state(sn2_problem, kind):
    check_gradient(sn2_problem, [(kind, 1.0, {})])


@pytest.mark.parametrize("kind", ["eigenmatrix", "geometry", "hessian"])
def test_rh_enamide_structure(rh_problem, kind):
    check_gradient(rh_problem, [(kind, 1.0, {})], directions=3)


@pytest.mark.parametrize("kind", ["eigenmatrix", "frequency", "hessian", "energy", "tether", "stability"])
def test_ethane_ground_state_and_rotation_ts(ethane_problem, kind):
    """No geometry residual here: QFUERZA leaves ethane's torsion at zero, so the MM
    methyl rotation is free and a relaxed H–C–C–H dihedral has no derivative. That
    free rotation is below the stability floor in both structures."""
    check_gradient(ethane_problem, [(kind, 1.0, {})], directions=4)


def test_a_jacobian_fit_evaluates_everything_through_its_jacobian_program(ch3f_problem):
    """An optimizer that asks for Jacobians gets every evaluation from one program
    (residuals and Jacobian together); its scores, gradients (2 Jᵀr) and Jacobians
    are those of the score-gradient program, with the default objective."""
    from q2mm_engine_jax.engine import JaxEngine

    molecules, systems, space = ch3f_problem
    plain = Objective.build(molecules, systems, JaxEngine(), space)
    jacobian_first = Objective.build(molecules, systems, JaxEngine(), space)
    jacobian_first.expect_jacobians()
    x = space.x0 * np.linspace(0.95, 1.05, space.size)
    value, grad = plain.value_and_grad(x)
    value_j, grad_j = jacobian_first.value_and_grad(x)
    assert value_j == pytest.approx(value, rel=1e-12) and value > 1.0
    np.testing.assert_allclose(grad_j, grad, rtol=1e-9, atol=1e-9 * np.abs(grad).max())
    jac = jacobian_first.jacobian(x)
    np.testing.assert_allclose(jac, plain.jacobian(x), rtol=1e-10, atol=1e-12 * np.abs(jac).max())
    np.testing.assert_allclose(
        2.0 * jac.T @ jacobian_first.residuals(x), grad, rtol=1e-9, atol=1e-9 * np.abs(grad).max()
    )
