"""Compiled solver programs: built once per (objective, method, shape), kept, timed.

A program is :func:`q2mm_opt_jaxopt.loop.solve` for one method with the objective's
pure score function (``Objective.jax_value_fn``) traced into it, compiled ahead of
time (``jax.jit(...).lower(...).compile()``) so that compiling and running are timed
apart: compiling costs seconds, running milliseconds. Programs are kept per
objective (weakly: they go when the objective goes), so further starts, later calls
and other optimizer instances with the same settings reuse them without tracing
again. Two shapes exist: *single* (one start) and *batch* (``vmap`` over b starts).

JAX's persistent compilation cache is switched on through the core's
:mod:`q2mm.jax_runtime`, so a second process loads the compiled programs from disk instead of compiling.
"""

from __future__ import annotations

import functools
import time
import weakref
from collections.abc import Callable
from typing import Any

import attrs
import jax
import numpy as np
from q2mm.jax_runtime import configure

from .loop import Controls, Outcome, solve

configure()  # float64 and the persistent compilation cache, before any array exists

import jax.numpy as jnp  # noqa: E402  (after float64 is on)

_programs: weakref.WeakKeyDictionary[Any, dict[tuple, Program]] = weakref.WeakKeyDictionary()


@attrs.frozen(eq=False)
class Program:
    """A compiled solver. ``batch`` is None for the single-start program."""

    executable: Callable[..., Outcome]
    compile_seconds: float
    batch: int | None


@attrs.frozen(eq=False)
class Problem:
    """Starts in scaled coordinates with their bounds and scales, one row per start
    (each start is scaled by its own natural sizes, as the core's optimizers do)."""

    y0: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    scale: np.ndarray

    def rows(self, index: np.ndarray) -> tuple[jax.Array, ...]:
        return tuple(jnp.asarray(a[index]) for a in (self.y0, self.lower, self.upper, self.scale))


def controls(max_iterations: int, gtol: float, ftol: float) -> Controls:
    return Controls(
        max_iterations=jnp.asarray(max_iterations, dtype=jnp.int32),
        gtol=jnp.asarray(gtol, dtype=jnp.float64),
        ftol=jnp.asarray(ftol, dtype=jnp.float64),
    )


def program(objective: Any, method: Any, size: int, batch: int | None = None) -> tuple[Program, bool]:
    """The compiled program and whether it was compiled by this call."""
    kept = _programs.setdefault(objective, {})
    key = (method, size, batch)
    if key in kept:
        return kept[key], False
    # Jitted on its own, the score function is traced once and lowered once per
    # program, however often the method's line search calls it.
    fn = functools.partial(solve, method, jax.jit(objective.jax_value_fn))
    if batch is not None:
        fn = jax.vmap(fn, in_axes=(0, 0, 0, 0, None))
    shape = (size,) if batch is None else (batch, size)
    vector = jax.ShapeDtypeStruct(shape, jnp.float64)
    started = time.perf_counter()
    executable = jax.jit(fn).lower(vector, vector, vector, vector, controls(1, 0.0, 0.0)).compile()
    made = Program(executable, time.perf_counter() - started, batch)
    kept[key] = made
    return made, True


def run(
    executable: Callable[..., Outcome], args: tuple, limits: Controls
) -> tuple[dict[str, np.ndarray], float]:
    """Run a compiled program; the outcome as NumPy arrays and the seconds it took."""
    started = time.perf_counter()
    outcome = jax.block_until_ready(executable(*args, limits))
    seconds = time.perf_counter() - started
    return {k: np.asarray(v) for k, v in outcome._asdict().items()}, seconds
