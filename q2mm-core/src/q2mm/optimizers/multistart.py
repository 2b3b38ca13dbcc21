"""Multi-start: any optimizer, run from several reproducibly seeded starts.

Starts fill the bounds with a low-discrepancy design (``sampler``: scrambled Sobol or
Latin hypercube from :mod:`scipy.stats.qmc`, seeded by ``seed``, so the same seed gives
the same starts). A parameter with an infinite bound is sampled within
``spread`` × its natural scale of its starting value (clipped to the finite side).
The first start is the given x0 unless ``include_start`` is false, so a multi-start
never does worse than the single run it generalizes.

The result is the best start that did not fail (ties go to the earlier start), with
its status; it lists every start (:class:`StartRecord`). All starts failed → failed.

Given an executor (:meth:`MultiStart.use_executor`, called by the run driver for any
executor but the serial one), the starts of a finite-difference objective go out
through it, one task per start (:class:`StartRunner`), and come back in start order,
so the result does not depend on which worker finished first; the per-iteration
callback then runs once per finished start, with that start's result. Analytical
(traceable) objectives keep the loop here: a start costs milliseconds, their compiled
programs do not travel between processes, and in-JIT multi-start exists for them
(q2mm-opt-jaxopt).
"""

from __future__ import annotations

import math
import pickle
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
from scipy.stats import qmc

from ..errors import ConfigError
from ..protocols import Executor, Objective, OptimizeResult
from .tracking import Callback

SAMPLERS = ("sobol", "lhs")


@attrs.frozen(eq=False)
class StartRecord:
    index: int
    start: np.ndarray
    result: OptimizeResult


@attrs.frozen(eq=False)
class MultiStartResult(OptimizeResult):
    starts: tuple[StartRecord, ...] = ()
    best: int = -1


def sample_starts(
    x0: np.ndarray,
    bounds: Sequence[tuple[float, float]],
    n: int,
    *,
    sampler: str = "sobol",
    seed: int = 0,
    spread: float = 0.5,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """``n`` points inside the bounds (see the module docstring), shape (n, len(x0))."""
    x0 = np.asarray(x0, dtype=float)
    scale = np.ones_like(x0) if scale is None else np.asarray(scale, dtype=float)
    lower = np.array([-math.inf if lo is None else lo for lo, _ in bounds], dtype=float)
    upper = np.array([math.inf if hi is None else hi for _, hi in bounds], dtype=float)
    lower = np.where(np.isfinite(lower), lower, np.minimum(x0 - spread * scale, upper - spread * scale))
    upper = np.where(np.isfinite(upper), upper, np.maximum(x0 + spread * scale, lower + spread * scale))
    if n <= 0:
        return np.zeros((0, x0.size))
    if sampler == "sobol":
        unit = qmc.Sobol(x0.size, scramble=True, rng=seed).random_base2(max(0, math.ceil(math.log2(n))))[:n]
    elif sampler == "lhs":
        unit = qmc.LatinHypercube(x0.size, rng=seed).random(n)
    else:
        raise ConfigError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    return qmc.scale(unit, lower, upper) if x0.size else unit


@attrs.frozen
class StartDesign:
    """How a multi-start draws its starts (see the module docstring); validated once,
    shared by every multi-start optimizer (``owner`` names it in messages)."""

    owner: str
    starts: int = 8
    sampler: str = "sobol"
    seed: int = 0
    include_start: bool = True
    spread: float = 0.5

    def __attrs_post_init__(self) -> None:
        if self.starts < 1:
            raise ConfigError(f"{self.owner}: starts must be at least 1, got {self.starts}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(
                f"{self.owner}: unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}"
            )

    def points(
        self, objective: Objective, x0: np.ndarray, bounds: Sequence[tuple[float, float]]
    ) -> np.ndarray:
        """The starts, shape (starts, len(x0)): x0 first unless ``include_start`` is false."""
        x0 = np.asarray(x0, dtype=float)
        sampled = sample_starts(
            x0,
            bounds,
            self.starts - int(self.include_start),
            sampler=self.sampler,
            seed=self.seed,
            spread=self.spread,
            scale=objective.scales(x0),
        )
        return np.vstack([x0[None, :], sampled]) if self.include_start else sampled


def _total(records: Sequence[StartRecord], field: str) -> Any:
    return sum(getattr(r.result, field) for r in records)


def totals(records: Sequence[StartRecord]) -> dict[str, Any]:
    """What every start cost, for the multi-start's own result."""
    fields = ("iterations", "evaluations", "compile_seconds", "program_evaluations")
    return {field: _total(records, field) for field in fields}


def status_tally(records: Sequence[StartRecord]) -> str:
    counts = {s: sum(r.result.status == s for r in records) for s in ("converged", "stopped", "failed")}
    return ", ".join(f"{v} {k}" for k, v in counts.items() if v)


class StartRunner:
    """One start of a multi-start as a task an executor can ship: the inner optimizer
    on a private copy of the objective, made once per thread (starts on a thread pool
    must not share the objective's last-point cache), without the per-iteration
    callback (it runs in the driver). The evaluations the copy counted come back as
    the result's ``program_evaluations``: the run's counters cannot see them."""

    def __init__(self, objective: Objective, inner: Any, bounds: Sequence[tuple[float, float]]):
        self.objective = objective
        self.inner = inner
        self.bounds = tuple(bounds)
        self._local = threading.local()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_local"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def _objective(self) -> Objective:
        copy = getattr(self._local, "objective", None)
        if copy is None:
            copy = self._local.objective = pickle.loads(pickle.dumps(self.objective))
        return copy

    def __call__(self, point: np.ndarray) -> OptimizeResult:
        objective = self._objective()
        before = objective.counters.evaluations
        result = self.inner.minimize(objective, point, self.bounds)
        counted = objective.counters.evaluations - before
        return attrs.evolve(result, program_evaluations=result.program_evaluations + counted)


class MultiStart:
    name = "multistart"

    def __init__(
        self,
        inner: str = "scipy:lbfgsb",
        inner_options: Mapping[str, Any] | None = None,
        starts: int = 8,
        sampler: str = "sobol",
        seed: int = 0,
        include_start: bool = True,
        spread: float = 0.5,
    ):
        if inner == self.name:
            raise ConfigError("multistart cannot run itself as its inner optimizer")
        self.design = StartDesign(
            self.name, int(starts), sampler, int(seed), bool(include_start), float(spread)
        )
        from ..plugins import registry

        self.inner_name = inner
        self.inner = registry().create("optimizer", inner, **dict(inner_options or {}))
        self.executor: Executor | None = None

    def use_executor(self, executor: Executor) -> None:
        """Fan the starts of finite-difference objectives out through ``executor``."""
        self.executor = executor

    @property
    def requires(self) -> frozenset[str]:
        return frozenset(self.inner.requires)

    def minimize(
        self,
        objective: Objective,
        x0: np.ndarray,
        bounds: Sequence[tuple[float, float]],
        callback: Callback = None,
    ) -> MultiStartResult:
        points = self.design.points(objective, x0, bounds)
        if self.executor is None or objective.traceable:
            results = [self.inner.minimize(objective, point, bounds, callback) for point in points]
        else:
            results = self._fanned_out(self.executor, objective, points, bounds, callback)
        records = [
            StartRecord(index=i, start=p, result=r)
            for i, (p, r) in enumerate(zip(points, results, strict=True))
        ]
        usable = [r for r in records if r.result.status != "failed" and math.isfinite(r.result.score)]
        if not usable:
            first = records[0].result
            return MultiStartResult(
                x=first.x,
                score=first.score,
                status="failed",
                message=f"all {len(records)} starts failed; first: {first.message}",
                starts=tuple(records),
                **totals(records),
            )
        best = min(usable, key=lambda r: r.result.score)
        return MultiStartResult(
            x=best.result.x,
            score=best.result.score,
            status=best.result.status,
            message=f"best of {len(records)} starts is #{best.index} "
            f"({status_tally(records)}): {best.result.message}",
            starts=tuple(records),
            best=best.index,
            **totals(records),
        )

    def _fanned_out(
        self,
        executor: Executor,
        objective: Objective,
        points: np.ndarray,
        bounds: Sequence[tuple[float, float]],
        callback: Callback,
    ) -> list[OptimizeResult]:
        """Every start through ``executor``, in start order; ``callback`` per start."""
        results = []
        for result in executor.map(StartRunner(objective, self.inner, bounds), list(points)):
            if callback is not None:
                callback(result.x, result.score)
            results.append(result)
        return results
