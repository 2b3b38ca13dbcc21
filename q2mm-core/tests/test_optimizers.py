"""Built-in optimizers on a CH₃F fit (QFUERZA-estimated harmonic force field, NumPy
engine): each lowers the score, statuses mean what they say, multi-start is
reproducible, and an engine NaN ends in "failed", never "converged"."""

from __future__ import annotations

import math

import attrs
import numpy as np
import pytest
from q2mm.errors import ConfigError, UnknownPluginError
from q2mm.estimate import estimate_forcefield
from q2mm.io import read_structures
from q2mm.model import FunctionalForm, StationaryPoint
from q2mm.objective import Objective
from q2mm.optimizers.multistart import MultiStartResult
from q2mm.parameters import ParameterSpace
from q2mm.plugins import registry
from q2mm.testing.harmonic_engine import HarmonicEngine, HarmonicSession
from q2mm.topology import build_system

NAMES = [
    "scipy:lbfgsb",
    "scipy:nelder-mead",
    "scipy:powell",
    "scipy:trust-constr",
    "scipy:least-squares-trf",
    "scipy:least-squares-lm",
    "grad-simp",
    "multistart",
]


@attrs.frozen
class Fit:
    molecule: object
    system: object
    space: ParameterSpace

    def objective(self, engine=None, terms=None) -> Objective:
        return Objective.build(
            [self.molecule], [self.system], engine or HarmonicEngine(), self.space, terms=terms
        )

    @property
    def x0(self) -> np.ndarray:
        return np.array(self.space.x0)


@pytest.fixture(scope="module")
def fit(data_dir) -> Fit:
    mol = read_structures(data_dir / "ch3f" / "ch3f-hessian.npy")[0].with_(
        stationary_point=StationaryPoint.GROUND_STATE, name="ch3f"
    )
    ff = estimate_forcefield([mol], form=FunctionalForm.HARMONIC)
    return Fit(mol, build_system(mol, ff), ParameterSpace.from_forcefield(ff))


def _unbounded(n: int) -> list[tuple[float, float]]:
    return [(-math.inf, math.inf)] * n


def test_catalog_lists_every_builtin():
    assert set(NAMES) <= set(registry().names("optimizer"))


#: Short runs: enough to show each lowers the default CH₃F score (eigenmatrix + geometry).
SHORT = {
    "scipy:lbfgsb": {"max_iterations": 4},
    "scipy:nelder-mead": {"max_iterations": 60},
    "scipy:powell": {"max_iterations": 1},
    "scipy:trust-constr": {"max_iterations": 8},
    "scipy:least-squares-trf": {"max_evaluations": 6},
    "scipy:least-squares-lm": {"max_evaluations": 6},
    "grad-simp": {"max_cycles": 1, "simplex_iterations": 20},
    "multistart": {"inner": "scipy:lbfgsb", "inner_options": {"max_iterations": 2}, "starts": 2},
}


@pytest.mark.parametrize("name", NAMES)
def test_each_optimizer_lowers_the_ch3f_score(fit, name):
    objective = fit.objective()
    start = objective.value(fit.x0)
    bounds = _unbounded(fit.space.size) if name == "scipy:least-squares-lm" else fit.space.bounds
    optimizer = registry().create("optimizer", name, **SHORT[name])
    seen = []
    result = optimizer.minimize(objective, fit.x0, bounds, callback=lambda x, s: seen.append((x.copy(), s)))
    assert result.status in ("converged", "stopped"), result.message
    assert result.score < 0.8 * start
    assert result.score == pytest.approx(objective.value(result.x), rel=1e-12)
    assert result.evaluations > 0 and result.iterations >= 1
    assert len(seen) == result.iterations  # the callback runs once per iteration
    for x, score in seen:
        assert np.isfinite(score)
        assert not fit.space.outside_bounds(x) or name == "scipy:least-squares-lm"


def test_converged_means_the_criterion_was_met(fit):
    """On the eigenmatrix alone (no relaxations: fast) the gradient methods converge."""
    objective = fit.objective(terms=[("eigenmatrix", 1.0, {})])
    scores = {}
    for name in ("scipy:lbfgsb", "scipy:least-squares-trf", "grad-simp"):
        result = registry().create("optimizer", name).minimize(objective, fit.x0, fit.space.bounds)
        assert result.status == "converged", (name, result.message)
        scores[name] = result.score
    # lbfgsb and trf find the same minimum; grad-simp stops within its 1 % criterion
    assert scores["scipy:lbfgsb"] == pytest.approx(scores["scipy:least-squares-trf"], rel=1e-6)
    assert scores["grad-simp"] < 1.1 * scores["scipy:least-squares-trf"]


def test_iteration_limit_is_stopped_not_converged(fit):
    objective = fit.objective(terms=[("eigenmatrix", 1.0, {})])
    result = (
        registry()
        .create("optimizer", "scipy:lbfgsb", max_iterations=2)
        .minimize(objective, fit.x0, fit.space.bounds)
    )
    assert result.status == "stopped" and result.iterations == 2


def test_levenberg_marquardt_refuses_bounds(fit):
    with pytest.raises(ConfigError, match="cannot honour bounds"):
        registry().create("optimizer", "scipy:least-squares-lm").minimize(
            fit.objective(), fit.x0, fit.space.bounds
        )


def test_multistart_is_reproducible_with_a_seed(fit):
    objective = fit.objective(terms=[("eigenmatrix", 1.0, {})])
    options = {"inner": "scipy:lbfgsb", "inner_options": {"max_iterations": 3}, "starts": 5, "seed": 11}
    runs = [
        registry().create("optimizer", "multistart", **options).minimize(objective, fit.x0, fit.space.bounds)
        for _ in range(2)
    ]
    other = (
        registry()
        .create("optimizer", "multistart", **{**options, "seed": 12})
        .minimize(objective, fit.x0, fit.space.bounds)
    )
    for run in (*runs, other):
        assert isinstance(run, MultiStartResult) and len(run.starts) == 5
        np.testing.assert_array_equal(run.starts[0].start, fit.x0)  # the given start comes first
        for record in run.starts:
            assert not fit.space.outside_bounds(record.start)
        assert run.score == min(r.result.score for r in run.starts)
        assert run.iterations == sum(r.result.iterations for r in run.starts)
    for a, b in zip(runs[0].starts, runs[1].starts, strict=True):
        np.testing.assert_array_equal(a.start, b.start)
        np.testing.assert_array_equal(a.result.x, b.result.x)
    assert not np.allclose(runs[0].starts[1].start, other.starts[1].start)
    # Sobol points spread over the box: every parameter's samples span most of its range.
    lower, upper = np.array(fit.space.lower), np.array(fit.space.upper)
    spread = np.ptp([r.start for r in runs[0].starts[1:]], axis=0) / (upper - lower)
    assert (spread > 0.3).all()


def test_multistart_options_are_checked():
    with pytest.raises(UnknownPluginError):
        registry().create("optimizer", "multistart", inner="scipy:bfgs")
    with pytest.raises(ConfigError):
        registry().create("optimizer", "multistart", inner="multistart")
    with pytest.raises(ConfigError, match="sampler"):
        registry().create("optimizer", "multistart", sampler="halton")


class _NaNSession(HarmonicSession):
    def hessian(self, values, coordinates=None):
        hessian = super().hessian(values, coordinates)
        if values[self.watch] > self.limit:
            hessian = hessian.copy()
            hessian[0, 0] = np.nan
        return hessian


class NaNEngine(HarmonicEngine):
    """The NumPy engine, except that its Hessian turns NaN once the parameter slot
    ``watch`` exceeds ``limit`` — an engine failing in part of parameter space."""

    def __init__(self, watch: int, limit: float):
        super().__init__()
        self.watch, self.limit = watch, limit

    def prepare(self, system):
        session = super().prepare(system)
        session.__class__ = _NaNSession
        session.watch, session.limit = self.watch, self.limit
        return session


@pytest.mark.parametrize("name", NAMES)
def test_engine_nan_everywhere_fails(fit, name):
    objective = fit.objective(engine=NaNEngine(watch=0, limit=-1.0), terms=[("eigenmatrix", 1.0, {})])
    bounds = _unbounded(fit.space.size) if name == "scipy:least-squares-lm" else fit.space.bounds
    result = registry().create("optimizer", name, **SHORT[name]).minimize(objective, fit.x0, bounds)
    assert result.status == "failed"
    assert "non-finite" in result.message


@pytest.mark.parametrize("name", ["scipy:lbfgsb", "scipy:least-squares-trf", "grad-simp"])
def test_engine_nan_met_mid_run_fails_with_the_best_point(fit, name):
    """The fit wants a stiffer C–H bond; past 2 % the engine returns NaN. The run must
    end failed — never converged at the wall — and report the best finite point."""
    slot = fit.space.groups[fit.space.ids.index("bond:C.3-H.k")][0]
    start_k = fit.space.forcefield.vector()[slot]
    objective = fit.objective(
        engine=NaNEngine(watch=slot, limit=1.02 * start_k), terms=[("eigenmatrix", 1.0, {})]
    )
    result = registry().create("optimizer", name).minimize(objective, fit.x0, fit.space.bounds)
    assert result.status == "failed" and "non-finite" in result.message
    assert np.isfinite(result.score) and result.score <= objective.value(fit.x0)
    assert result.score == pytest.approx(objective.value(result.x), rel=1e-12)


class _StuckSession(HarmonicSession):
    def minimize(self, values, coordinates=None):
        result = super().minimize(values, coordinates)
        if values[self.watch] > self.limit:
            return attrs.evolve(result, converged=False)
        return result


class StuckEngine(HarmonicEngine):
    """The NumPy engine, except that its relaxation reports no convergence once the
    parameter slot ``watch`` exceeds ``limit``."""

    def __init__(self, watch: int, limit: float):
        super().__init__()
        self.watch, self.limit = watch, limit

    def prepare(self, system):
        session = super().prepare(system)
        session.__class__ = _StuckSession
        session.watch, session.limit = self.watch, self.limit
        return session


def test_lbfgsb_steps_back_from_trial_points_whose_relaxation_fails(fit):
    """The fit stiffens the C–H bond; relaxations fail just beyond its optimal force
    constant, so line-search trials overshooting it fail. L-BFGS-B must step back
    from them and end where the undisturbed fit ends, never at a penalty value."""
    slot = fit.space.groups[fit.space.ids.index("bond:C.3-H.k")][0]
    lbfgsb = registry().create("optimizer", "scipy:lbfgsb")
    plain = lbfgsb.minimize(fit.objective(), fit.x0, fit.space.bounds)
    start, best = fit.space.forcefield.vector()[slot], fit.space.expand(plain.x, np)[slot]
    assert best > 1.05 * start
    limit = start + 1.02 * (best - start)
    objective = fit.objective(engine=StuckEngine(watch=slot, limit=limit))
    result = lbfgsb.minimize(objective, fit.x0, fit.space.bounds)
    assert "stepped back from" in result.message and "did not converge" in result.message
    assert result.status == "converged", result.message
    assert fit.space.expand(result.x, np)[slot] <= limit
    assert result.score == pytest.approx(objective.value(result.x), rel=1e-12)
    assert result.score == pytest.approx(plain.score, rel=1e-6)


def test_default_objective_keeps_the_geometry_a_frequency_fit_does_not(fit):
    """DESIGN §4: a force field that reproduces frequencies at the QM geometry but
    relaxes far from it is not a fit. With bonds and angles only, fitting CH₃F's nine
    frequencies alone reaches ~0 cm⁻¹ by bending the MM minimum ~17° away from the QM
    angles; the default objective (eigenmatrix + geometry) keeps it within a degree."""
    results = {}
    for label, terms in (("default", None), ("frequency", [("frequency", 1.0, {})])):
        objective = fit.objective(terms=terms)
        result = (
            registry()
            .create("optimizer", "scipy:least-squares-trf", max_evaluations=30)
            .minimize(objective, fit.x0, fit.space.bounds)
        )
        assert result.status != "failed"
        results[label] = objective.metrics(result.x)
    assert results["frequency"]["frequency_rmsd_cm1"] < 1.0
    assert results["frequency"]["angle_rmsd_degree"] > 10.0
    assert results["default"]["angle_rmsd_degree"] < 1.0
    assert results["default"]["bond_rmsd_angstrom"] < 0.02
    assert results["default"]["eigenmatrix_diagonal_r2"] > 0.99


def test_auto_takes_least_squares_where_the_jacobian_is_small(fit):
    """The default optimizer: CH₃F's residual vector is short, so ``auto`` runs the
    trust-region least squares and lands where ``scipy:least-squares-trf`` does; told
    the vector is too long for a Jacobian, it runs L-BFGS-B instead."""
    objective = fit.objective()
    n = objective.residuals(fit.x0).size
    auto = registry().create("optimizer", "auto").minimize(objective, fit.x0, fit.space.bounds)
    trf = (
        registry()
        .create("optimizer", "scipy:least-squares-trf")
        .minimize(fit.objective(), fit.x0, fit.space.bounds)
    )
    assert auto.message.startswith("scipy:least-squares-trf: ") and auto.status == "converged"
    assert auto.score == pytest.approx(trf.score, rel=1e-12)
    np.testing.assert_allclose(auto.x, trf.x, rtol=1e-12)
    fallback = registry().create("optimizer", "auto", max_residuals=n - 1)
    result = fallback.minimize(fit.objective(), fit.x0, fit.space.bounds)
    assert result.message.startswith("scipy:lbfgsb: ") and result.score < objective.value(fit.x0)


@pytest.mark.parametrize("name", ["scipy:least-squares-trf", "scipy:lbfgsb"])
def test_progress_test_ends_a_run_that_gains_too_little(fit, name):
    """The run ends, converged, at the first iteration whose best score is less than
    ``stall_rtol`` below the best ``stall_iterations`` iterations earlier — here (one
    iteration, 50 %) well before scipy's own tolerances end it."""
    objective = fit.objective(terms=[("eigenmatrix", 1.0, {})])
    scores: list[float] = []
    optimizer = registry().create("optimizer", name, stall_iterations=1, stall_rtol=0.5)
    result = optimizer.minimize(objective, fit.x0, fit.space.bounds, callback=lambda x, s: scores.append(s))
    best = np.minimum.accumulate(scores)  # best[i]: after iteration i + 1
    first = 1 + next(i for i in range(1, best.size) if best[i - 1] - best[i] < 0.5 * best[i])
    assert result.status == "converged" and "fell by less than 0.5" in result.message
    assert result.iterations == first
    assert result.score == pytest.approx(scores[-1], rel=1e-12)
    finished = registry().create("optimizer", name).minimize(objective, fit.x0, fit.space.bounds)
    assert finished.iterations > result.iterations and finished.score < result.score
    assert "fell by less than" not in finished.message  # off unless asked for


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("scipy:least-squares-trf", {"stall_iterations": -1}),
        ("scipy:lbfgsb", {"stall_iterations": 2.5}),
        ("auto", {"stall_rtol": -0.1}),
        ("auto", {"stall_iterations": 0, "stall_rtol": float("nan")}),
        ("auto", {"stall_iterations": "20"}),
    ],
)
def test_progress_options_are_checked(name, options):
    with pytest.raises(ConfigError, match="stall_"):
        registry().create("optimizer", name, **options)
