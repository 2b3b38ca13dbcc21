"""Fixtures: the real CH₃F fit the optimizers are tested on (Psi4 B3LYP Hessian,
QFUERZA-estimated harmonic force field, bond and angle parameters, the default
objective (eigenmatrix + geometry + stability + tether) on the core's traceable test engine,
``harmonic-jax``: no engine package needed) and the optimum scipy:lbfgsb reaches on
it with the engine's analytical gradient.

Session-scoped: the compiled solver programs are kept per objective, so every test
module that uses this objective reuses what an earlier one compiled (compile time is
most of this suite's time; JAX's persistent cache carries it across runs)."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
from q2mm.estimate import estimate_forcefield
from q2mm.io.numpy_bundle import read_bundle
from q2mm.model import FunctionalForm, StationaryPoint
from q2mm.objective import Objective
from q2mm.optimizers.scipy_methods import LBFGSB
from q2mm.parameters import ParameterSpace
from q2mm.protocols import OptimizeResult
from q2mm.topology import build_system


@attrs.frozen(eq=False)
class Fit:
    objective: Objective
    space: ParameterSpace

    @property
    def x0(self) -> np.ndarray:
        return np.array(self.space.x0)

    @property
    def bounds(self) -> list[tuple[float, float]]:
        return list(self.space.bounds)


def build_fit(data_dir, folder: str, prefix: str, kind: StationaryPoint, engine, terms=None) -> Fit:
    d = data_dir / folder
    molecule = read_bundle(
        d / f"{prefix}-optimized.xyz",
        hessian=d / f"{prefix}-hessian.npy",
        frequencies=d / f"{prefix}-frequencies.txt",
    ).with_(stationary_point=kind, name=prefix)
    forcefield = estimate_forcefield(
        [molecule], method="qfuerza", form=FunctionalForm.HARMONIC, ts_method="C"
    )
    space = ParameterSpace.from_forcefield(forcefield, kinds=("bond", "angle"))
    objective = Objective.build(
        molecules=[molecule],
        systems=[build_system(molecule, forcefield)],
        engine=engine,
        space=space,
        ts_method="C",
        terms=terms,
    )
    return Fit(objective, space)


@pytest.fixture(scope="session")
def engine():
    """Harmonic bonds and angles as pure JAX functions, relaxations implicitly
    differentiated: all the in-JIT optimizers need of an engine."""
    from q2mm.testing.traceable_engine import TraceableHarmonicEngine

    return TraceableHarmonicEngine()


@pytest.fixture(scope="session")
def ch3f(data_dir, engine) -> Fit:
    return build_fit(data_dir, "ch3f", "ch3f", StationaryPoint.GROUND_STATE, engine)


@pytest.fixture(scope="session")
def scipy_reference(ch3f) -> OptimizeResult:
    result = LBFGSB().minimize(ch3f.objective, ch3f.x0, ch3f.bounds)
    assert result.status == "converged", result.message
    return result


@pytest.fixture(scope="session")
def sn2(data_dir, engine) -> Fit:
    """The F⁻ + CH₃F S_N2 transition state, declared one, method C; eigenmatrix +
    geometry only: with harmonic angles the best fit puts an MM curvature right on the
    stability floor, where the score's second derivative jumps: with the floor optax's
    L-BFGS line search ends "stopped" at 171,244, without it converged at 171,239
    (measured) — a fact about that kink, not about TS handling."""
    terms = [("eigenmatrix", 1.0, {}), ("geometry", 1.0, {})]
    return build_fit(data_dir, "sn2-ts", "sn2-ts", StationaryPoint.TRANSITION_STATE, engine, terms)
