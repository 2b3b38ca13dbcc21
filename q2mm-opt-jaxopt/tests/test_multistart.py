"""jax:multistart on the real CH₃F fit: the same starts as the core's multistart, at
least as good a best optimum as scipy from those starts, loop and vmap agreeing start
by start, and one compilation serving every start and every later call."""

from __future__ import annotations

import math

import numpy as np
import pytest
from jax import monitoring
from q2mm.objective import Objective
from q2mm.plugins import registry

LOWERING = "/jax/core/compile/jaxpr_to_mlir_module_duration"
_lowerings: list[str] = []


def _count_lowerings(event: str, duration: float, **kwargs) -> None:
    if event == LOWERING:
        _lowerings.append(event)


monitoring.register_event_duration_secs_listener(_count_lowerings)


def narrow(fit, fraction: float) -> list[tuple[float, float]]:
    """x0 ± fraction·|x0|: every start stays where MM relaxations converge."""
    return [(v - fraction * abs(v), v + fraction * abs(v)) for v in fit.x0]


@pytest.fixture(scope="module")
def scipy_starts(ch3f):
    """Sixteen separate scipy:lbfgsb runs from the core multistart's starts."""
    return (
        registry()
        .create("optimizer", "multistart", inner="scipy:lbfgsb", starts=16, seed=3)
        .minimize(ch3f.objective, ch3f.x0, ch3f.bounds)
    )


def test_sixteen_starts_find_the_best_optimum_scipy_finds_from_the_same_starts(ch3f, scipy_starts):
    optimizer = registry().create("optimizer", "jax:multistart", starts=16, seed=3)
    result = optimizer.minimize(ch3f.objective, ch3f.x0, ch3f.bounds)
    assert len(result.starts) == 16
    for mine, theirs in zip(result.starts, scipy_starts.starts, strict=True):
        np.testing.assert_array_equal(mine.start, theirs.start)
    scipy_best = min(s.result.score for s in scipy_starts.starts if s.result.status != "failed")
    assert result.score <= scipy_best * 1.01
    assert result.status == "converged"
    # the best is the lowest start that did not fail, and the spread is over those
    usable = [s for s in result.starts if s.result.status != "failed" and math.isfinite(s.result.score)]
    assert result.best == min(usable, key=lambda s: s.result.score).index
    np.testing.assert_allclose(result.spread, np.std([s.result.x for s in usable], axis=0))
    for record in result.starts:
        assert record.result.status in ("converged", "stopped", "failed")
        assert record.result.iterations >= 0 and record.result.message
    assert result.mode == "loop" and dict(result.calibration) == {}  # CPU: loop, not measured
    assert result.iterations == sum(s.result.iterations for s in result.starts)


def test_vmap_and_loop_run_the_same_starts_to_the_same_ends(ch3f):
    """Three starts in batches of two (the second batch padded) against the loop."""
    bounds = narrow(ch3f, 0.1)
    common = {"starts": 3, "seed": 5, "inner_options": {"max_iterations": 200}}
    looped = registry().create("optimizer", "jax:multistart", mode="loop", **common)
    vmapped = registry().create("optimizer", "jax:multistart", mode="vmap", batch_size=2, **common)
    a = looped.minimize(ch3f.objective, ch3f.x0, bounds)
    b = vmapped.minimize(ch3f.objective, ch3f.x0, bounds)
    assert (a.mode, b.mode) == ("loop", "vmap")
    # Vectorized arithmetic rounds differently, so trajectories part in the last
    # digits (a few iterations more or less), never in where they end.
    for x, y in zip(a.starts, b.starts, strict=True):
        assert x.result.status == y.result.status == "converged"
        assert x.result.score == pytest.approx(y.result.score, rel=1e-7)
        np.testing.assert_allclose(x.result.x, y.result.x, rtol=1e-4)
    assert a.score == pytest.approx(b.score, rel=1e-7)


def test_concurrent_loop_calls_give_the_sequential_results(ch3f):
    """Two starts at a time through the one compiled program: each start's result
    is exactly the one a sequential loop gets, in start order."""
    bounds = narrow(ch3f, 0.1)
    common = {"starts": 4, "seed": 3, "mode": "loop", "inner_options": {"max_iterations": 200}}
    one = registry().create("optimizer", "jax:multistart", workers=1, **common)
    two = registry().create("optimizer", "jax:multistart", workers=2, **common)
    a = one.minimize(ch3f.objective, ch3f.x0, bounds)
    b = two.minimize(ch3f.objective, ch3f.x0, bounds)
    for x, y in zip(a.starts, b.starts, strict=True):
        np.testing.assert_array_equal(x.start, y.start)
        assert x.result.score == y.result.score and x.result.iterations == y.result.iterations
        np.testing.assert_array_equal(x.result.x, y.result.x)
    assert a.score == b.score


def test_measuring_picks_the_faster_way_and_remembers_it(ch3f):
    bounds = narrow(ch3f, 0.1)
    optimizer = registry().create(
        "optimizer", "jax:multistart", starts=4, seed=7, measure=True, batch_size=2, mode="auto"
    )
    first = optimizer.minimize(ch3f.objective, ch3f.x0, bounds)
    timings = dict(first.calibration)
    assert set(timings) == {"loop_seconds_per_start", "vmap_seconds_per_start"}
    assert all(v > 0 for v in timings.values())
    faster = "vmap" if timings["vmap_seconds_per_start"] < timings["loop_seconds_per_start"] else "loop"
    assert first.mode == faster
    again = optimizer.minimize(ch3f.objective, ch3f.x0, bounds)
    assert again.mode == faster and dict(again.calibration) == {}


def test_one_compilation_serves_every_start_and_every_later_call(ch3f):
    """Counted with JAX's own compile events: after the first run, further calls from
    other starts, with other bounds and other iteration limits, and a multi-start of
    four, lower nothing."""
    base = ch3f.objective
    objective = Objective.build(list(base.molecules), list(base.systems), base.engine, ch3f.space)
    _lowerings.clear()
    first = registry().create("optimizer", "optax:lbfgs").minimize(objective, ch3f.x0, ch3f.bounds)
    assert len(_lowerings) >= 1 and first.compile_seconds > 0
    _lowerings.clear()
    again = registry().create("optimizer", "optax:lbfgs", max_iterations=50, gtol=1e-4)
    again.minimize(objective, ch3f.x0 * 1.05, narrow(ch3f, 0.2))
    multi = (
        registry()
        .create("optimizer", "jax:multistart", starts=4, mode="loop")
        .minimize(objective, ch3f.x0, narrow(ch3f, 0.3))
    )
    assert _lowerings == []
    assert multi.compile_seconds == 0.0
    assert all(s.result.compile_seconds == 0.0 for s in multi.starts)
