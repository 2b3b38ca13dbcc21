"""The analytical path of the objective: everything inside one ``jax.jit``.

For a traceable engine the whole chain is one pure JAX function of the fitted
vector x: ``values = space.expand(x, jnp)`` → per structure the engine's traceable
Hessian, energy and relaxation (implicitly differentiated by the engine) → every
residual's ``evaluate(mm, jnp)`` → weights → the score. ``jax.value_and_grad`` of that
gives the exact gradient; ``jax.jacrev`` the Jacobian least-squares methods want
(reverse mode, because engines implement the relaxation's derivative with
``custom_vjp``, which forward mode cannot go through).

Imported only when a traceable engine is used, so q2mm-core never imports JAX on its
own. Importing it turns on JAX's float64 mode (q2mm computes in float64 throughout).
Each function is jitted on first use; the time of that first call is counted as
compile time (``Objective.compile_seconds``: one evaluation takes milliseconds, a
compilation seconds).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402  (after float64 is on)

from .errors import FitFailure  # noqa: E402


class AnalyticalPath:
    def __init__(self, objective: Any) -> None:
        self._objective = objective
        self._functions = [session.traceable() for session in objective._sessions()]
        self._start = [np.asarray(system.molecule.coordinates, dtype=float) for system in objective.systems]
        self._jitted: dict[Any, Callable] = {}
        self._timed: set[Any] = set()

        def value_fn(x):
            r, flags = self._residual_vector(x)
            score = r @ r
            return jnp.where(jnp.all(flags) & jnp.isfinite(score), score, jnp.inf)

        #: Pure ``x → score`` with +inf on failure.
        self.value_fn = value_fn
        #: ``jax.jit(jax.value_and_grad(value_fn))``: what the objective's own
        #: ``value_and_grad`` runs, and what in-JIT optimizers can trace into theirs.
        self.value_and_grad_fn = jax.jit(jax.value_and_grad(value_fn))
        self._jitted["value_and_grad"] = self.value_and_grad_fn

    # traced ------------------------------------------------------------------

    def _traced_quantities(self, x, needs: Sequence[frozenset[str]]):
        values = self._objective.space.expand(x, jnp)
        mm, flags = [], []
        for functions, start, wanted in zip(self._functions, self._start, needs, strict=True):
            quantities: dict[str, Any] = {}
            coordinates = jnp.asarray(start)
            if "hessian" in wanted:
                quantities["hessian"] = functions.hessian(values, coordinates)
            if "energy" in wanted:
                quantities["energy"] = functions.energy(values, coordinates)
            if "relaxed" in wanted:
                relaxed, converged = functions.relax(values, coordinates)
                quantities["relaxed"] = relaxed
                flags.append(jnp.asarray(converged, dtype=bool))
            if "values" in wanted:
                quantities["values"] = values
            mm.append(quantities)
        return values, mm, jnp.stack(flags) if flags else jnp.ones((0,), dtype=bool)

    def _residual_vector(self, x):
        values, mm, flags = self._traced_quantities(x, self._objective.needs)
        return self._objective.weighted(values, mm, jnp), flags

    # compiled ----------------------------------------------------------------

    def _run(self, key: Any, make: Callable[[], Callable], x: np.ndarray):
        """Call the jitted function ``key`` (made on first use); the first call's time
        is the compile time (one evaluation of these functions is milliseconds)."""
        fn = self._jitted.get(key)
        if fn is None:
            fn = self._jitted[key] = jax.jit(make())
        started = time.perf_counter()
        out = fn(jnp.asarray(x))
        if key not in self._timed:
            jax.block_until_ready(out)
            self._objective.compile_seconds += time.perf_counter() - started
            self._timed.add(key)
        return out

    def _check(self, flags, needs: Sequence[frozenset[str]]) -> None:
        flags = np.asarray(flags)
        if flags.all():
            return
        relaxed = [s for s, wanted in enumerate(needs) if "relaxed" in wanted]
        failed = [self._objective._name(relaxed[i]) for i in np.flatnonzero(~flags)]
        raise FitFailure(f"MM relaxation of {', '.join(failed)} did not converge")

    def residuals(self, x: np.ndarray) -> np.ndarray:
        r, flags = self._run("residuals", lambda: self._residual_vector, x)
        self._check(flags, self._objective.needs)
        return np.asarray(r, dtype=float)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """+inf (a failed relaxation or a non-finite score) is for the caller to explain."""
        score, grad = self._run("value_and_grad", lambda: jax.value_and_grad(self.value_fn), x)
        return float(score), np.asarray(grad, dtype=float)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        jac = self._run("jacobian", lambda: jax.jacrev(lambda p: self._residual_vector(p)[0]), x)
        return np.asarray(jac, dtype=float)

    def quantities(self, x: np.ndarray, needs: Sequence[frozenset[str]]) -> tuple[np.ndarray, list[dict]]:
        needs = tuple(frozenset(n) for n in needs)
        values, mm, flags = self._run(
            ("quantities", needs), lambda: lambda p: self._traced_quantities(p, needs), x
        )
        self._check(flags, needs)
        return np.asarray(values), [{k: np.asarray(v) for k, v in q.items()} for q in mm]
