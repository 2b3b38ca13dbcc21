"""The analytical path of the objective: everything inside one ``jax.jit``.

For a traceable engine the whole chain is one pure JAX function of the fitted
vector x: ``values = space.expand(x, jnp)`` → the engine's traceable Hessians,
energies and relaxations (implicitly differentiated by the engine) → every
residual's ``evaluate(quantities, jnp)`` → weights → the score. ``jax.value_and_grad`` of that
gives the exact gradient; ``jax.jacrev`` the Jacobian least-squares methods want.

Structures are evaluated in batches, one per MM quantity (the structures that need
a Hessian, those that need a relaxation, …): an engine that can batch
(:class:`~q2mm.protocols.BatchingEngine`) traces its per-structure code once for the
whole batch, which is what keeps compilation of many-structure fits short; other
traceable engines are batched here structure by structure.

State between evaluations, explicit in :class:`WarmStarts`: relaxations start from
the MM minima of the best point evaluated so far (the QM geometries at first), with
whatever else the engine keeps in a relaxation start (the JAX engine: the Newton
matrices there): near the optimum a fit's steps are small, so a warm-started
relaxation needs a few gradient-only steps instead of a dozen Newton steps. The
minimum reached is the same one — the relaxation follows its basin as the parameters
move, and its derivative does not depend on the start — but a trial whose
warm-started relaxation fails is evaluated again from the QM geometries before it
counts as failed. The last point's outputs are kept too, so that the score, gradient,
residuals and reports of one point come from one compiled evaluation. Pure functions
handed to in-JIT optimizers (:attr:`AnalyticalPath.value_fn`) always start from the
QM geometries.

The engine is also told which parameter slots the fit moves
(:class:`~q2mm.protocols.FrozenValues`), so that it can evaluate the terms that read
none of them once, at the QM geometries, instead of at every evaluation.

Imported only when a traceable engine is used, so q2mm-core never imports JAX on its
own; importing it applies :func:`q2mm.jax_runtime.configure` (float64 first of all).
Each function is jitted on first use; the time of that first call is added to the
counters' compile time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from ..jax_runtime import configure

configure()  # float64 before any array exists

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from ..errors import FitFailure, RelaxationFailure  # noqa: E402
from ..model import MMSystem  # noqa: E402
from ..parameters import ParameterSpace  # noqa: E402
from ..protocols import BatchingEngine, Counters, Engine, FrozenValues, TraceableFunctions  # noqa: E402
from .binding import WeightedResiduals  # noqa: E402
from .sessions import Sessions  # noqa: E402

#: Traced in this order: relaxations first, which gives an engine's precomputation
#: of the Hessians and energies at the QM geometries time to finish in the background.
NEEDS = ("relaxed", "hessian", "energy")


class SessionBatch:
    """Per-structure traceable functions as one batch (engines that cannot batch):
    coordinates, relaxation starts and outputs are tuples, one entry per structure."""

    def __init__(self, sessions: Sequence[Any]) -> None:
        self.sessions = list(sessions)
        self.n_atoms = [s.system.molecule.n_atoms for s in self.sessions]

    def stack(self, coordinates: Sequence[np.ndarray] | None = None) -> tuple:
        if coordinates is None:
            coordinates = [s.system.molecule.coordinates for s in self.sessions]
        return tuple(np.asarray(x, dtype=float) for x in coordinates)

    def traceable(self, frozen: FrozenValues | None = None) -> TraceableFunctions:
        functions = [s.traceable(frozen) for s in self.sessions]

        def per_session(name):
            def f(values, coordinates=None):
                where = [None] * len(functions) if coordinates is None else coordinates
                return tuple(getattr(fn, name)(values, x) for fn, x in zip(functions, where, strict=True))

            return f

        def relax(values, starts):
            outs = [fn.relax(values, s) for fn, s in zip(functions, starts, strict=True)]
            return tuple(zip(*outs, strict=True))

        def relax_start(coordinates):
            return tuple(fn.relax_start(x) for fn, x in zip(functions, coordinates, strict=True))

        return TraceableFunctions(
            per_session("energy"), per_session("gradient"), per_session("hessian"), relax, relax_start
        )


def _per_structure(out: Any, count: int) -> Sequence[Any]:
    """A batch's per-structure outputs: a tuple as it is, a stacked array split in
    one operation — whose reverse is one concatenation, where indexing structure by
    structure would pad every structure's cotangent to the whole batch (measurable
    on the nine Rh-enamide Hessians, ``benchmarks/bench_rh_objective.py``)."""
    if isinstance(out, tuple | list):
        return out
    return [piece[0] for piece in jnp.split(out, count, axis=0)]


def members_needing(needs: Sequence[frozenset[str]], need: str) -> tuple[int, ...]:
    return tuple(s for s, wanted in enumerate(needs) if need in wanted)


class Batches:
    """Traceable batches of an objective's structures, one per set of member
    structures, built outside any trace (engines build arrays). A batching engine
    traces its per-structure code once per batch; other engines are batched here
    session by session."""

    def __init__(self, engine: Engine, systems: Sequence[MMSystem], sessions: Sessions, frozen: FrozenValues):
        self.engine = engine
        self.systems = tuple(systems)
        self.sessions = sessions
        self.frozen = frozen
        self._built: dict[tuple[int, ...], tuple[Any, TraceableFunctions]] = {}

    def prepare(self, needs: Sequence[frozenset[str]]) -> None:
        """Build the batches ``needs`` asks for."""
        for need in NEEDS:
            members = members_needing(needs, need)
            if members and members not in self._built:
                self._built[members] = self._new(members)

    def _new(self, members: tuple[int, ...]) -> tuple[Any, TraceableFunctions]:
        if isinstance(self.engine, BatchingEngine):
            batch = self.engine.prepare_batch([self.systems[s] for s in members])
        else:
            sessions = self.sessions.get()
            batch = SessionBatch([sessions[s] for s in members])
        return batch, batch.traceable(self.frozen)

    def get(self, members: tuple[int, ...]) -> tuple[Any, TraceableFunctions] | None:
        """(batch, traceable functions) for prepared ``members``; None if empty."""
        return self._built[members] if members else None


@attrs.define
class WarmStarts:
    """Where the next relaxations start: ``current`` (the minima of the ``best``
    point so far) or ``cold`` (the QM geometries). Only the start changes, never the
    minimum reached (see the module docstring)."""

    cold: Any
    current: Any
    best: float = np.inf

    def keep_if_best(self, score: float, starts: Any) -> None:
        if starts is not None and np.isfinite(score) and score <= self.best:
            self.best = score
            self.current = starts

    @property
    def warm(self) -> bool:
        return self.current is not self.cold


class AnalyticalPath:
    """Residuals, score gradients and Jacobians of the weighted residuals, compiled."""

    name = "analytical"

    def __init__(
        self,
        space: ParameterSpace,
        batches: Batches,
        weighting: WeightedResiduals,
        names: Sequence[str],
        counters: Counters,
    ) -> None:
        self.space = space
        self.batches = batches
        self.weighting = weighting
        self.needs = weighting.needs
        self.names = tuple(names)
        self.counters = counters
        self._jitted: dict[Any, Callable] = {}
        self._timed: set[Any] = set()
        batches.prepare(self.needs)
        relax_batch = batches.get(members_needing(self.needs, "relaxed"))
        cold = None
        if relax_batch is not None:
            batch, functions = relax_batch
            cold = functions.relax_start(batch.stack())
        self.starts = WarmStarts(cold=cold, current=cold)
        self._last: tuple | None = None
        self._last_jacobian: tuple[bytes, np.ndarray] | None = None
        #: Evaluate every point through the Jacobian program (set by
        #: :meth:`q2mm.objective.Objective.expect_jacobians`).
        self.jacobian_program = False

        def value_fn(x):
            return self._score(x, self.starts.cold)[0]

        #: Pure ``x → score`` with +inf on failure; relaxations start from QM.
        self.value_fn = value_fn

    def traced_score(self) -> Callable[[Any], Any]:
        return self.value_fn

    # traced ------------------------------------------------------------------

    def _traced_quantities(self, x, needs: Sequence[frozenset[str]], starts):
        """Full values, per-structure MM quantities, per-relaxation convergence
        flags and the starts for the next relaxations. ``starts`` (None: from the
        QM geometries) are where the relaxations begin."""
        values = self.space.expand(x, jnp)
        quantities: list[dict[str, Any]] = [{} for _ in needs]
        flags, next_starts = jnp.ones((0,), dtype=bool), None
        for need in NEEDS:
            members = members_needing(needs, need)
            entry = self.batches.get(members)
            if entry is None:
                continue
            batch, functions = entry
            if need == "hessian":
                out = _per_structure(functions.hessian(values), len(members))
                for b, (s, n) in enumerate(zip(members, batch.n_atoms, strict=True)):
                    quantities[s]["hessian"] = out[b][: 3 * n, : 3 * n]
            elif need == "energy":
                out = _per_structure(functions.energy(values), len(members))
                for b, s in enumerate(members):
                    quantities[s]["energy"] = out[b]
            else:
                start = self.starts.cold if starts is None else starts
                relaxed, converged, next_starts = functions.relax(values, start)
                relaxed = _per_structure(relaxed, len(members))
                flags = jnp.stack([jnp.asarray(converged[b], dtype=bool) for b in range(len(members))])
                for b, (s, n) in enumerate(zip(members, batch.n_atoms, strict=True)):
                    quantities[s]["relaxed"] = relaxed[b][:n]
        for s, wanted in enumerate(needs):
            if "values" in wanted:
                quantities[s]["values"] = values
        return values, quantities, flags, next_starts

    def _residual_vector(self, x, starts):
        values, quantities, flags, next_starts = self._traced_quantities(x, self.needs, starts)
        return self.weighting(values, quantities, jnp), (flags, next_starts, values, quantities)

    def _score(self, x, starts):
        """(score, (residuals, flags, next starts, values, quantities)); +inf on failure."""
        r, (flags, next_starts, values, quantities) = self._residual_vector(x, starts)
        score = jnp.where(jnp.all(flags) & jnp.isfinite(r @ r), r @ r, jnp.inf)
        return score, (r, flags, next_starts, values, quantities)

    # compiled ----------------------------------------------------------------

    def _run(self, key: Any, make: Callable[[], Callable], x: np.ndarray, flags_of: Callable):
        """Call the jitted ``key`` (made on first use) from the warm starts, again
        from the QM geometries if a warm-started relaxation failed. The first call's
        time is the compile time (one evaluation takes milliseconds)."""
        fn = self._jitted.get(key)
        if fn is None:
            fn = self._jitted[key] = jax.jit(make())
        started = time.perf_counter()
        out = fn(jnp.asarray(x), self.starts.current)
        if key not in self._timed:
            jax.block_until_ready(out)
            self.counters.compile_seconds += time.perf_counter() - started
            self._timed.add(key)
        if self.starts.warm and not np.asarray(flags_of(out)).all():
            out = fn(jnp.asarray(x), self.starts.cold)
        return out

    def _check(self, flags, needs: Sequence[frozenset[str]]) -> None:
        flags = np.asarray(flags)
        if flags.all():
            return
        relaxed = members_needing(needs, "relaxed")
        failed = [self.names[relaxed[i]] for i in np.flatnonzero(~flags)]
        raise RelaxationFailure(f"MM relaxation of {', '.join(failed)} did not converge")

    def _evaluate(self, x: np.ndarray):
        """Score, gradient and everything computed on the way, from one compiled
        program (residuals and reports reuse it: a fit compiles it once): the Jacobian
        program where :attr:`jacobian_program` says so (see :meth:`jacobian`)."""
        key = np.asarray(x, dtype=float).tobytes()
        if self._last is None or self._last[0] != key:
            if self.jacobian_program:
                self._evaluate_with_jacobian(x)
                return self._last[1:]
            out = self._run(
                "evaluate", lambda: jax.value_and_grad(self._score, has_aux=True), x, lambda o: o[0][1][1]
            )
            (score, (r, flags, next_starts, values, quantities)), grad = out
            self._keep(key, float(score), grad, r, flags, next_starts, values, quantities)
        return self._last[1:]

    def _keep(self, key, score, grad, r, flags, next_starts, values, quantities) -> None:
        self.starts.keep_if_best(score, next_starts)
        grad, r = np.asarray(grad, dtype=float), np.asarray(r, dtype=float)
        self._last = (key, score, grad, r, flags, values, quantities)

    def _evaluate_with_jacobian(self, x: np.ndarray) -> None:
        def make():
            def residuals(p, starts):
                r, (flags, next_starts, values, quantities) = self._residual_vector(p, starts)
                return r, (r, flags, next_starts, values, quantities)

            return jax.jacrev(residuals, has_aux=True)

        key = np.asarray(x, dtype=float).tobytes()
        jac, (r, flags, next_starts, values, quantities) = self._run("jacobian", make, x, lambda o: o[1][1])
        jac, r = np.asarray(jac, dtype=float), np.asarray(r, dtype=float)
        score = float(r @ r) if np.asarray(flags).all() and np.isfinite(r @ r) else np.inf
        self._keep(key, score, 2.0 * jac.T @ r, r, flags, next_starts, values, quantities)
        self._last_jacobian = (key, jac)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        _score, _grad, r, flags, _values, _mm = self._evaluate(x)
        self._check(flags, self.needs)
        return self.weighting.checked(r)

    def residuals_if_evaluated(self, x: np.ndarray) -> np.ndarray | None:
        """The weighted residuals at ``x`` if it is the point evaluated last, else None."""
        if self._last is None or self._last[0] != np.asarray(x, dtype=float).tobytes():
            return None
        return self._last[3]

    def value_and_grad(
        self, x: np.ndarray, residuals: Callable[[np.ndarray], np.ndarray]
    ) -> tuple[float, np.ndarray]:
        """From the compiled program; at a point without a finite score,
        ``residuals`` (the objective's) raises the failure that explains it."""
        score, grad, *_ = self._evaluate(x)
        self.counters.evaluations += 1
        if not (np.isfinite(score) and np.isfinite(grad).all()):
            residuals(x)
            raise FitFailure("non-finite score gradient")
        return score, grad

    def jacobian(self, x: np.ndarray, residuals: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """From one program that gives the residuals, their Jacobian and everything
        :meth:`_evaluate` keeps — every evaluation's program where
        :attr:`jacobian_program` is set. An optimizer that asks for Jacobians asks at
        every accepted point, and one program compiles in about half the time of two:
        cold, on acetone, the score-gradient program took 26 s to trace and compile and
        the Jacobian program 25 s, while an evaluation of either takes milliseconds at
        the sizes Jacobians are asked for. ``residuals`` (the objective's) raises the
        failure that explains a point without residuals."""
        key = np.asarray(x, dtype=float).tobytes()
        if self._last_jacobian is None or self._last_jacobian[0] != key:
            self._evaluate_with_jacobian(x)
        self.counters.evaluations += 1
        residuals(x)
        jac = self._last_jacobian[1]
        if not np.isfinite(jac).all():
            raise FitFailure("non-finite residual derivatives")
        return jac

    def quantities(self, x: np.ndarray, needs: Sequence[frozenset[str]]) -> tuple[np.ndarray, list[dict]]:
        """The MM quantities ``needs`` names at ``x``: from the fit's own program where
        it computes them, else from one compiled for them; Hessians at the MM minima
        afterwards (:meth:`_add_minimum_hessians`)."""
        needs = tuple(frozenset(n) for n in needs)
        traced = tuple(n - {"relaxed_hessian"} for n in needs)
        values, quantities = self._compiled_quantities(x, traced)
        judged = members_needing(needs, "relaxed_hessian")
        if judged:
            self._add_minimum_hessians(values, quantities, judged, members_needing(traced, "relaxed"))
        return values, quantities

    def _add_minimum_hessians(self, values, quantities: list[dict], judged, relaxed) -> None:
        """The Hessian at each ``judged`` structure's MM minimum (which it needs as
        "relaxed" too), called outside any trace: no residual fits it, so it has no
        place in a fit's differentiated program (measured: inside it, a forward pass
        alone made CH₃F's cold fit 13.4 → 16.0 s and acetone's 20.2 → 25.1 s), while an
        engine can run it through a program it has compiled anyway (the JAX engine:
        its Hessian of the fixed terms at the QM geometries)."""
        self.batches.prepare(
            [frozenset({"relaxed"}) if s in relaxed else frozenset() for s in range(len(self.names))]
        )
        batch, functions = self.batches.get(relaxed)
        minima = batch.stack([quantities[s]["relaxed"] for s in relaxed])
        hessians = _per_structure(functions.hessian(values, minima), len(relaxed))
        for b, (s, n) in enumerate(zip(relaxed, batch.n_atoms, strict=True)):
            if s in judged:
                quantities[s]["relaxed_hessian"] = np.asarray(hessians[b])[: 3 * n, : 3 * n]

    def _compiled_quantities(self, x: np.ndarray, needs: tuple[frozenset[str], ...]):
        own = self.needs
        if all(n <= o | {"values"} for n, o in zip(needs, own, strict=True)):
            _score, _grad, _r, flags, values, quantities = self._evaluate(x)
            self._check(flags, own)
            values = np.asarray(values)
            pairs = zip(needs, quantities, strict=True)
            return values, [{k: values if k == "values" else np.asarray(q[k]) for k in n} for n, q in pairs]
        self.batches.prepare(needs)

        def make():
            return lambda p, _starts: self._traced_quantities(p, needs, None)[:3]

        values, quantities, flags = self._run(("quantities", needs), make, x, lambda o: o[2])
        self._check(flags, needs)
        return np.asarray(values), [{k: np.asarray(v) for k, v in q.items()} for q in quantities]
