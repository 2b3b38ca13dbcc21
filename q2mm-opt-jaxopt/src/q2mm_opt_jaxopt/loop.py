"""The compiled optimization loop shared by every method.

``solve`` is one pure function: start → best point, inside a single
``jax.lax.while_loop``. Everything that varies between runs of the same fit — the
start, the bounds, the parameter scales, the iteration limit and tolerances — is an
argument, not a constant, so one compiled program serves every start of a
multi-start and every later call (``vmap`` of it serves a batch of starts).

Per iteration the method takes one step (:mod:`q2mm_opt_jaxopt.methods`) and the loop
then, in this order of precedence, ends the run when

1. the score or its gradient at an accepted new point is not finite, or a second
   failed line search ended on a non-finite point (it found no finite point along
   its direction) → ``NONFINITE`` (failed: a relaxation did not converge, or the fit
   diverged);
2. the projected gradient (∞-norm, in the method's coordinates) is ≤ ``gtol`` →
   ``GRADIENT`` (converged);
3. an accepted step lowered the score by a relative amount ≤ ``ftol`` (scipy's
   L-BFGS-B test: (f_k − f_{k+1}) / max(|f_k|, |f_{k+1}|, 1)) → ``SCORE``
   (converged);
4. the line search found no acceptable step twice in a row → ``LINE_SEARCH``
   (stopped: the point is finite and the best seen, but no optimality test passed).
   After the first failure the method restarts from the better of the two points
   with its state (curvature memory) reset — a trial point where an MM relaxation
   failed (+inf) often derails a quasi-Newton direction, rarely a fresh one;
5. ``max_iterations`` iterations are done → ``ITERATIONS`` (stopped).

The best finite point seen is carried in the loop state and is what a run returns,
so a run that ends in failure still hands back the best parameters it met.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .bounds import from_box, project, to_box


class Status(enum.IntEnum):
    RUNNING = 0
    GRADIENT = 1
    SCORE = 2
    LINE_SEARCH = 3
    ITERATIONS = 4
    NONFINITE = 5


VERDICT = {
    Status.GRADIENT: "converged",
    Status.SCORE: "converged",
    Status.LINE_SEARCH: "stopped",
    Status.ITERATIONS: "stopped",
    Status.NONFINITE: "failed",
}

REASON = {
    Status.GRADIENT: "projected gradient {criticality:.3g} ≤ gtol",
    Status.SCORE: "relative score change ≤ ftol",
    Status.LINE_SEARCH: "the line search found no acceptable step, also after a restart "
    "(projected gradient {criticality:.3g})",
    Status.ITERATIONS: "{iterations} iterations without meeting gtol or ftol",
    Status.NONFINITE: "non-finite score or gradient after {iterations} iterations "
    "(an MM relaxation failed or the fit diverged); best finite point kept",
}


class Controls(NamedTuple):
    """Run-time limits (traced: changing them does not recompile)."""

    max_iterations: jax.Array
    gtol: jax.Array
    ftol: jax.Array


class Outcome(NamedTuple):
    """What one start ends with; ``best`` and ``score`` are the best finite point
    seen (scaled coordinates) and its score (+inf when no finite point was met)."""

    best: jax.Array
    score: jax.Array
    iterations: jax.Array
    evaluations: jax.Array
    status: jax.Array
    criticality: jax.Array


class _Carry(NamedTuple):
    iteration: jax.Array
    u: jax.Array
    state: object
    f: jax.Array
    g: jax.Array
    best: jax.Array
    score: jax.Array
    evaluations: jax.Array
    status: jax.Array
    criticality: jax.Array
    restarted: jax.Array


def _status(finite, criticality, small_change, line_search_failed, iteration, controls):
    return jnp.select(
        [
            ~finite,
            criticality <= controls.gtol,
            small_change,
            line_search_failed,
            iteration >= controls.max_iterations,
        ],
        [
            int(s)
            for s in (Status.NONFINITE, Status.GRADIENT, Status.SCORE, Status.LINE_SEARCH, Status.ITERATIONS)
        ],
        int(Status.RUNNING),
    )


def solve(method, value_fn, y0, lower, upper, scale, controls: Controls) -> Outcome:
    """Minimize ``value_fn(y · scale)`` over y in [lower, upper] from ``y0``."""
    transformed = method.coordinates == "transform"

    def to_y(u):
        return to_box(u, lower, upper) if transformed else u

    def fun(u):
        return value_fn(to_y(u) * scale)

    def criticality(u, g):
        if transformed:
            return jnp.max(jnp.abs(g), initial=0.0)
        return jnp.max(jnp.abs(u - project(u - g, lower, upper)), initial=0.0)

    def finite(f, g):
        return jnp.isfinite(f) & jnp.all(jnp.isfinite(g))

    init, step, reset = method.make(fun, lower, upper)
    y_start = project(y0, lower, upper)
    u0 = from_box(y_start, lower, upper) if transformed else y_start
    state, f0, g0, evaluations0 = init(u0)
    ok0 = finite(f0, g0)
    crit0 = criticality(u0, g0)
    carry = _Carry(
        iteration=jnp.asarray(0),
        u=u0,
        state=state,
        f=f0,
        g=g0,
        best=to_y(u0),
        score=jnp.where(jnp.isfinite(f0), f0, jnp.inf),
        evaluations=evaluations0,
        status=_status(ok0, crit0, False, False, 0, controls),
        criticality=crit0,
        restarted=jnp.asarray(False),
    )

    def body(c: _Carry) -> _Carry:
        u, state, f, g, evaluations, failed = step(c.u, c.state, c.f, c.g)
        iteration = c.iteration + 1
        ok = finite(f, g)
        better = ok & (f < c.score)
        best = jnp.where(better, to_y(u), c.best)
        score = jnp.where(better, f, c.score)
        retry = failed & ~c.restarted
        moved = ok & (f < c.f)

        # A failed line search: forget the curvature memory and start again from
        # the better of the two points, once.
        u = jnp.where(retry & ~moved, c.u, u)
        f = jnp.where(retry & ~moved, c.f, f)
        g = jnp.where(retry & ~moved, c.g, g)
        state = jax.lax.cond(retry, lambda: reset(u, state, f, g), lambda: state)
        crit = criticality(u, g)
        decrease = c.f - f
        size = jnp.maximum(jnp.maximum(jnp.abs(c.f), jnp.abs(f)), 1.0)
        # The first step after a restart is a probe with a fresh memory; its change
        # says nothing about convergence.
        small = ~failed & ~c.restarted & ok & (decrease >= 0) & (decrease <= controls.ftol * size)
        # After a restart f and g are the restart point's (finite). A second failed
        # line search that ended on a non-finite point found no finite point along
        # its direction: failed (NONFINITE precedes LINE_SEARCH).
        status = _status(finite(f, g), crit, small, failed & c.restarted, iteration, controls)
        return _Carry(
            iteration=iteration,
            u=u,
            state=state,
            f=f,
            g=g,
            best=best,
            score=score,
            evaluations=c.evaluations + evaluations,
            status=status,
            criticality=crit,
            restarted=retry,
        )

    end = jax.lax.while_loop(lambda c: c.status == int(Status.RUNNING), body, carry)
    return Outcome(
        best=end.best,
        score=end.score,
        iterations=end.iteration,
        evaluations=end.evaluations,
        status=end.status,
        criticality=end.criticality,
    )
