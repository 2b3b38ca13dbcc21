"""The in-JIT optimizers on the real CH₃F fit: they reach the optimum scipy's L-BFGS-B
finds with the same analytical gradient, honour bounds, end failed (keeping the best
finite point) when the fit diverges or meets NaN, and refuse non-traceable engines."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
from q2mm.config import load_config
from q2mm.errors import ConfigError
from q2mm.estimate import estimate_forcefield
from q2mm.model import FunctionalForm
from q2mm.objective import Objective
from q2mm.parameters import ParameterSpace
from q2mm.plugins import registry
from q2mm.protocols import Counters
from q2mm.run import run_fit
from q2mm.testing.harmonic_engine import HarmonicEngine
from q2mm.topology import build_system

QUASI_NEWTON = ["jaxopt:lbfgs", "jaxopt:lbfgsb", "optax:lbfgs"]
EVERY = [*QUASI_NEWTON, "jaxopt:gradient-descent", "optax:adam", "optax:adamw", "optax:sgd"]


def inside(x, bounds) -> bool:
    return all(lo <= v <= hi for v, (lo, hi) in zip(x, bounds, strict=True))


@pytest.mark.parametrize("name", QUASI_NEWTON)
def test_quasi_newton_methods_reach_the_scipy_optimum(ch3f, scipy_reference, name):
    result = registry().create("optimizer", name).minimize(ch3f.objective, ch3f.x0, ch3f.bounds)
    assert result.status == "converged", result.message
    assert result.score == pytest.approx(scipy_reference.score, rel=0.01)
    # the score the compiled program reports is the objective's own at that x
    assert result.score == pytest.approx(ch3f.objective.value(result.x), rel=1e-9)
    assert inside(result.x, ch3f.bounds)
    assert result.evaluations >= result.iterations >= 1
    assert result.run_seconds > 0 and "compile" in result.message and "run" in result.message
    # a real fit, not a stall: far below the QFUERZA start
    assert result.score < 0.2 * ch3f.objective.value(ch3f.x0)


def between(fit, reference, parameter: str) -> tuple[int, float]:
    """A parameter's index and the midpoint of its start and its scipy optimum, which
    lie well apart (so that a cap or a wall there is a real obstacle to the fit)."""
    k = fit.space.ids.index(parameter)
    start, optimum = fit.x0[k], reference.x[k]
    assert optimum > 1.02 * start, (start, optimum)
    return k, 0.5 * (start + optimum)


@pytest.mark.parametrize("name", EVERY)
def test_an_active_upper_bound_is_honoured(ch3f, scipy_reference, name):
    """C–H k is capped halfway between its start (361.7 kcal/(mol·Å²)) and its
    unconstrained optimum (382): the result sits on the cap, never beyond, unless
    the method failed (then the point it keeps is still inside the box)."""
    k, cap = between(ch3f, scipy_reference, "bond:C.3-H.k")
    bounds = ch3f.bounds
    bounds[k] = (bounds[k][0], cap)
    options = {} if name in QUASI_NEWTON or name == "optax:sgd" else {"max_iterations": 400}
    result = registry().create("optimizer", name, **options).minimize(ch3f.objective, ch3f.x0, bounds)
    assert inside(result.x, bounds)
    if result.status != "failed":
        assert result.x[k] == pytest.approx(cap, rel=1e-6)
        assert result.score < ch3f.objective.value(ch3f.x0)


def test_compile_and_run_time_are_separated_and_counted(ch3f):
    """A fresh objective (same fit) has no compiled program: the first run compiles
    and reports its compile time and in-program evaluations in its result (which `q2mm
    run` adds to the objective's counters for timing.compile_s and evaluations) without
    touching the objective's counters; the second call compiles nothing."""
    base = ch3f.objective
    objective = Objective.build(list(base.molecules), list(base.systems), base.engine, ch3f.space)
    optimizer = registry().create("optimizer", "optax:lbfgs")
    first = optimizer.minimize(objective, ch3f.x0, ch3f.bounds)
    assert first.compile_seconds > 0
    assert first.program_evaluations == first.evaluations > 0
    assert objective.counters.evaluations == 0
    second = optimizer.minimize(objective, ch3f.x0, ch3f.bounds)
    assert second.compile_seconds == 0.0
    assert second.score == first.score and second.iterations == first.iterations


class Walled:
    """The real CH₃F objective with its score replaced by NaN beyond a wall on one
    parameter: what a relaxation that breaks down, or a residual that overflows,
    looks like to an optimizer inside JIT."""

    def __init__(self, objective, index: int, wall: float):
        self.counters = Counters()
        self.traceable = True
        self.engine_name = objective.engine_name
        self.index, self.wall = index, wall
        self.scales = objective.scales
        value = objective.traced_score()
        self._score = lambda x: jnp.where(x[index] > wall, jnp.nan, value(x))

    def traced_score(self):
        return self._score


@pytest.fixture(scope="module")
def walled(ch3f, scipy_reference):
    """C–F k's optimum (334) lies beyond a wall halfway from its start (281)."""
    return Walled(ch3f.objective, *between(ch3f, scipy_reference, "bond:C.3-F.k"))


def test_nan_ends_a_first_order_run_failed_with_the_best_finite_point(ch3f, walled):
    result = registry().create("optimizer", "optax:adam").minimize(walled, ch3f.x0, ch3f.bounds)
    assert result.status == "failed"
    assert "non-finite" in result.message
    assert math.isfinite(result.score) and result.x[walled.index] <= walled.wall
    assert result.score == pytest.approx(ch3f.objective.value(result.x), rel=1e-9)
    assert result.score < ch3f.objective.value(ch3f.x0)


def test_nan_never_leaks_out_of_a_line_search_method(ch3f, walled):
    """A line search backs off non-finite trial points, so the wall acts like a bound
    the method cannot see: the run may end there by its score test or by failed line
    searches (which one depends on where exactly the wall sits), but the point it
    returns is finite, inside the wall, and scored as the objective scores it."""
    result = registry().create("optimizer", "optax:lbfgs").minimize(walled, ch3f.x0, ch3f.bounds)
    assert result.score < ch3f.objective.value(ch3f.x0)
    assert math.isfinite(result.score) and result.x[walled.index] <= walled.wall
    assert result.score == pytest.approx(ch3f.objective.value(result.x), rel=1e-9)


def test_a_diverging_run_fails_and_keeps_the_best_finite_point(ch3f):
    """Plain SGD at its default rate overshoots on this fit (gradients of 10⁴–10⁵
    per scaled unit) until the MM relaxation breaks down."""
    result = registry().create("optimizer", "optax:sgd").minimize(ch3f.objective, ch3f.x0, ch3f.bounds)
    assert result.status == "failed", result.message
    assert math.isfinite(result.score)
    assert result.score == pytest.approx(ch3f.objective.value(result.x), rel=1e-9)
    assert result.score <= ch3f.objective.value(ch3f.x0) * (1 + 1e-12)


@pytest.fixture(scope="module")
def numpy_objective(ch3f):
    molecule = ch3f.objective.molecules[0]
    forcefield = estimate_forcefield([molecule], form=FunctionalForm.HARMONIC)
    space = ParameterSpace.from_forcefield(forcefield, kinds=("bond", "angle"))
    return Objective.build([molecule], [build_system(molecule, forcefield)], HarmonicEngine(), space)


@pytest.mark.parametrize("name", [*EVERY, "jax:multistart"])
def test_a_non_traceable_engine_is_refused_with_a_pointer_to_scipy(numpy_objective, name):
    optimizer = registry().create("optimizer", name)
    with pytest.raises(ConfigError, match=r"not traceable; use a scipy optimizer \(e\.g\. scipy:lbfgsb"):
        optimizer.minimize(numpy_objective, numpy_objective.space.x0, numpy_objective.space.bounds)


CONFIG = """
engine = "harmonic-numpy"
optimizer = "jaxopt:lbfgsb"
output = "out"

[forcefield]
estimate = "qfuerza"
form = "harmonic"

[[structures]]
file = "ch3f-hessian.npy"
kind = "ground_state"
"""


def test_q2mm_run_refuses_the_pairing_before_fitting(tmp_path, data_dir, q2mm_registry):
    for name in ("ch3f-optimized.xyz", "ch3f-hessian.npy", "ch3f-frequencies.txt", "ch3f-energy.txt"):
        (tmp_path / name).write_bytes((data_dir / "ch3f" / name).read_bytes())
    (tmp_path / "q2mm.toml").write_text(CONFIG)
    with pytest.raises(ConfigError, match="not traceable; use a scipy optimizer"):
        run_fit(load_config(tmp_path / "q2mm.toml"), plugins=q2mm_registry)
    assert not (tmp_path / "out" / "result.json").exists()


def test_every_start_inside_the_box_is_kept_inside(ch3f):
    """Starts outside the box are projected in before the first evaluation."""
    start = np.array(ch3f.x0)
    k = ch3f.space.ids.index("bond:C.3-H.k")
    cap = 0.97 * start[k]  # below the start (361.7)
    bounds = ch3f.bounds
    bounds[k] = (bounds[k][0], cap)
    result = registry().create("optimizer", "jaxopt:lbfgsb").minimize(ch3f.objective, start, bounds)
    assert inside(result.x, bounds)
    assert result.x[k] == pytest.approx(cap, rel=1e-6)
