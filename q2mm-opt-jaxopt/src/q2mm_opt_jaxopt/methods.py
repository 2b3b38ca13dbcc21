"""One iteration of each method, as pure JAX functions for :mod:`q2mm_opt_jaxopt.loop`.

A method is a frozen, hashable value (its static settings: the compiled program is
cached under it) with

- ``coordinates``: ``"box"`` (it works on the scaled parameters y and keeps them in
  the box itself, natively or by projection) or ``"transform"`` (it works on an
  unconstrained z with y = T(z), :mod:`q2mm_opt_jaxopt.bounds`);
- ``make(fun, lower, upper)`` → ``(init, step, reset)`` closed over ``fun`` (the
  score as a function of the method's coordinates) and the traced bounds:
  ``init(u0) → (state, f, g, evaluations)``,
  ``step(u, state, f, g) → (u, state, f, g, evaluations, line_search_failed)``, where
  f and g are the score and its gradient at the returned u (every method here ends
  an iteration knowing them, so the loop tracks the best point for free) and
  ``evaluations`` counts score evaluations (each with its gradient, except inside
  line searches that need only values), and ``reset(u, state, f, g) → state``: the
  state of a fresh start at u whose score and gradient are known (no evaluation: a
  second copy of the score function in the program would double its compile time).

The loop itself, convergence tests and best-point tracking are shared
(:mod:`q2mm_opt_jaxopt.loop`); the library supplies only the update rule, so every
method reports the same statuses and the same evaluation counts.
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import attrs
import jax
import jax.numpy as jnp
import optax

from .bounds import project

with warnings.catch_warnings():
    # jaxopt 0.8.5 announces it is unmaintained; it still works on the JAX we pin,
    # and optax is the default backend of this package (see the README).
    warnings.filterwarnings("ignore", message="JAXopt is no longer maintained", category=DeprecationWarning)
    import jaxopt

EVALUATIONS = jnp.int32
SCHEDULES = ("constant", "cosine", "exponential")


def _count(n):
    return jnp.asarray(n, dtype=EVALUATIONS)


def _first_step_scale(g):
    """Initial inverse-Hessian scale so that the first step moves at most one scaled
    unit (the capped reciprocal of the gradient norm optax.lbfgs also uses); scores
    here have gradients of 10²–10⁶ per scaled unit, so a unit step would overshoot by
    as much."""
    return jnp.minimum(1.0, 1.0 / jnp.maximum(jnp.linalg.norm(g), 1e-30))


@attrs.frozen
class JaxoptLBFGS:
    """``jaxopt.LBFGS`` with its zoom line search, on transformed coordinates."""

    history: int = 10
    max_line_search: int = 30
    coordinates: ClassVar[str] = "transform"

    def make(self, fun, lower, upper):
        solver = jaxopt.LBFGS(fun=fun, history_size=self.history, maxls=self.max_line_search, maxiter=1)

        def init(u0):
            state = solver.init_state(u0)
            state = state._replace(gamma=_first_step_scale(state.grad))
            return state, state.value, state.grad, _count(state.num_fun_eval)

        def step(u, state, f, g):
            u_new, new = solver.update(u, state)
            evaluations = _count(new.num_fun_eval - state.num_fun_eval)
            return u_new, new, new.value, new.grad, evaluations, new.failed_linesearch

        def reset(u, state, f, g):
            # rho = 0 removes a stored pair from the two-loop recursion.
            return state._replace(
                value=f,
                grad=g,
                rho_history=jnp.zeros_like(state.rho_history),
                gamma=_first_step_scale(g),
                stepsize=jnp.asarray(solver.max_stepsize, dtype=state.stepsize.dtype),
            )

        return init, step, reset


@attrs.frozen
class JaxoptLBFGSB:
    """``jaxopt.LBFGSB``: L-BFGS-B with native box bounds, on scaled coordinates."""

    history: int = 10
    max_line_search: int = 30
    coordinates: ClassVar[str] = "box"

    def make(self, fun, lower, upper):
        solver = jaxopt.LBFGSB(fun=fun, history_size=self.history, maxls=self.max_line_search, maxiter=1)
        box = (lower, upper)

        def init(u0):
            state = solver.init_state(u0, bounds=box)
            return state, state.value, state.grad, _count(state.num_fun_eval)

        def step(u, state, f, g):
            u_new, new = solver.update(u, state, bounds=box)
            evaluations = _count(new.num_fun_eval - state.num_fun_eval)
            return u_new, new, new.value, new.grad, evaluations, new.failed_linesearch

        def reset(u, state, f, g):
            # num_updates = 0 masks every stored pair out of the compact L-BFGS matrix.
            return state._replace(
                value=f,
                grad=g,
                num_updates=jnp.zeros_like(state.num_updates),
                theta=jnp.ones_like(state.theta) * solver.theta,
                stepsize=jnp.ones_like(state.stepsize) * solver.max_stepsize,
            )

        return init, step, reset


@attrs.frozen
class ProjectedGradientDescent:
    """Projected gradient descent (spectral projected gradient without the
    non-monotone rule): direction d = P(y − α g) − y with α the Barzilai–Borwein
    step of the previous iteration, then jaxopt's Armijo backtracking along d. Every
    trial point y + t·d, t ∈ (0, 1], lies in the box (it is convex), so the score is
    never evaluated outside it."""

    max_line_search: int = 30
    decrease_factor: float = 0.5
    coordinates: ClassVar[str] = "box"

    def make(self, fun, lower, upper):
        search = jaxopt.BacktrackingLineSearch(
            fun=fun,
            condition="armijo",
            maxiter=self.max_line_search,
            decrease_factor=self.decrease_factor,
            max_stepsize=1.0,
        )

        def init(u0):
            f, g = jax.value_and_grad(fun)(u0)
            return _first_step_scale(g), f, g, _count(1)

        def step(u, alpha, f, g):
            direction = project(u - alpha * g, lower, upper) - u
            ls = search.run(1.0, u, value=f, grad=g, descent_direction=direction).state
            u_new, f_new, g_new = ls.params, ls.value, ls.grad
            s, y = u_new - u, g_new - g
            sy = s @ y
            alpha_new = jnp.clip(jnp.where(sy > 0, (s @ s) / jnp.where(sy > 0, sy, 1.0), alpha), 1e-12, 1e12)
            return u_new, alpha_new, f_new, g_new, _count(ls.num_fun_eval), ls.failed

        def reset(u, alpha, f, g):
            return _first_step_scale(g)

        return init, step, reset


@attrs.frozen
class OptaxFirstOrder:
    """An optax first-order transformation (``adam``, ``adamw``, ``sgd``) with a
    learning-rate schedule, projected onto the box after every step; one score and
    gradient evaluation per iteration."""

    rule: str = "adam"
    learning_rate: float = 1e-2
    schedule: str = "constant"
    decay_steps: int = 1000
    decay_rate: float = 0.1
    final_fraction: float = 0.0
    momentum: float | None = None
    weight_decay: float = 1e-4
    coordinates: ClassVar[str] = "box"

    def rate(self):
        if self.schedule == "constant":
            return self.learning_rate
        if self.schedule == "cosine":
            return optax.cosine_decay_schedule(
                self.learning_rate, self.decay_steps, alpha=self.final_fraction
            )
        return optax.exponential_decay(self.learning_rate, self.decay_steps, self.decay_rate)

    def transformation(self):
        if self.rule == "adam":
            return optax.adam(self.rate())
        if self.rule == "adamw":
            return optax.adamw(self.rate(), weight_decay=self.weight_decay)
        return optax.sgd(self.rate(), momentum=self.momentum)

    def make(self, fun, lower, upper):
        transformation = self.transformation()
        value_and_grad = jax.value_and_grad(fun)

        def init(u0):
            f, g = value_and_grad(u0)
            return transformation.init(u0), f, g, _count(1)

        def step(u, state, f, g):
            updates, new = transformation.update(g, state, u)
            u_new = project(optax.apply_updates(u, updates), lower, upper)
            f_new, g_new = value_and_grad(u_new)
            return u_new, new, f_new, g_new, _count(1), jnp.asarray(False)

        def reset(u, state, f, g):
            return transformation.init(u)

        return init, step, reset


@attrs.frozen
class OptaxLBFGS:
    """``optax.lbfgs`` with its zoom line search, on transformed coordinates."""

    history: int = 10
    max_line_search: int = 30
    coordinates: ClassVar[str] = "transform"

    def make(self, fun, lower, upper):
        transformation = optax.lbfgs(
            memory_size=self.history,
            linesearch=optax.scale_by_zoom_linesearch(
                max_linesearch_steps=self.max_line_search, initial_guess_strategy="one"
            ),
        )
        value_and_grad = jax.value_and_grad(fun)

        def init(u0):
            f, g = value_and_grad(u0)
            return transformation.init(u0), f, g, _count(1)

        def step(u, state, f, g):
            updates, new = transformation.update(g, state, u, value=f, grad=g, value_fn=fun)
            u_new = optax.apply_updates(u, updates)
            f_new = optax.tree_utils.tree_get(new, "value")
            g_new = optax.tree_utils.tree_get(new, "grad")
            info = optax.tree_utils.tree_get(new, "info")
            failed = info.decrease_error > 0
            return u_new, new, f_new, g_new, _count(info.num_linesearch_steps), failed

        def reset(u, state, f, g):
            return transformation.init(u)

        return init, step, reset
