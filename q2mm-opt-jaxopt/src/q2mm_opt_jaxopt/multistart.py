"""``jax:multistart``: one in-JIT optimizer from many starts, compiled once.

Starts are the core's (:func:`q2mm.optimizers.multistart.sample_starts`: a seeded
scrambled-Sobol or Latin-hypercube design inside the bounds, x0 first unless
``include_start`` is false), so a seed gives the same starts here as under the core's
``multistart``. Each start is scaled by its own natural sizes, as the core's
optimizers scale each run.

Two ways to run n starts with one compiled solver (``mode``):

- ``"loop"``: the single-start program called once per start, ``workers`` calls
  at a time (default: one per CPU core on the CPU backend, where a small
  structure's program runs on one core, so concurrent calls use the other cores;
  one on an accelerator);
- ``"vmap"``: the solver ``vmap``-ed over a batch of starts (``batch_size``, default
  all n), called once per batch. Under ``vmap`` every while-loop runs until its
  slowest member finishes and both branches of every ``cond`` execute, so a batch
  costs more evaluations per start than a loop; whether it still wins depends on the
  device (a GPU runs a batch in about the time of one start, a CPU does not);
- ``"auto"`` (default): on the CPU backend, the loop; on an accelerator (or with
  ``measure=True`` anywhere), measured.
  The CPU rule is itself a measurement (``benchmarks/crossover.py``; numbers in the
  package README's Multi-start section): on a CPU the loop wins by far, because one
  start whose MM relaxations stop converging makes every member of a batch run the
  relaxation's full Newton loop at every evaluation.
  On a GPU or TPU the first call for an objective and method times both ways with
  the iteration limit cut to ``CALIBRATION_ITERATIONS`` (compile time excluded):
  three starts through the single program, one batch (``batch_size``, default
  min(n, 8)) through the batched one; then every start runs in full the faster way.
  The choice is remembered for that objective, method and batch size, and
  ``calibration`` in the result holds the measured seconds per start.

The result lists every start (:class:`q2mm.optimizers.multistart.StartRecord`: its
start, final score, iterations, status and why), the best start that did not fail
(ties to the earlier start) with that start's status, and ``spread``: the standard
deviation of each fitted parameter over the starts that did not fail, which says
whether they agree on one optimum. When every start failed the result is failed
and carries the best finite point any start met.
"""

from __future__ import annotations

import math
import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import jax
import numpy as np
from q2mm.errors import ConfigError
from q2mm.optimizers.multistart import MultiStartResult, StartDesign, StartRecord, status_tally, totals
from q2mm.optimizers.tracking import Callback
from q2mm.protocols import Objective

from .optimizers import InJitOptimizer, InJitResult, make_problem, refuse_untraceable, to_result
from .programs import Problem, controls, program, run

MODES = ("auto", "vmap", "loop")
#: Batch size ``auto`` calibrates with when ``batch_size`` is not given.
CALIBRATION_BATCH = 8
#: Iteration limit of the calibration runs: enough to include line searches and
#: relaxations far from the optimum, short enough to cost little.
CALIBRATION_ITERATIONS = 10

_choices: weakref.WeakKeyDictionary[Any, dict[tuple, str]] = weakref.WeakKeyDictionary()


@attrs.frozen(eq=False)
class JaxMultiStartResult(MultiStartResult):
    """The core's :class:`MultiStartResult` with how the starts ran: ``mode`` (loop or
    vmap), compile and run seconds, the calibration measurements (seconds per start
    of each mode; empty when none was made) and the spread of the fitted parameters."""

    mode: str = ""
    run_seconds: float = 0.0
    calibration: Mapping[str, float] = attrs.field(factory=dict)
    spread: np.ndarray = attrs.field(factory=lambda: np.zeros(0))


class JaxMultiStart:
    name = "jax:multistart"
    requires = frozenset({"traceable"})

    def __init__(
        self,
        inner: str = "optax:lbfgs",
        inner_options: Mapping[str, Any] | None = None,
        starts: int = 8,
        sampler: str = "sobol",
        seed: int = 0,
        include_start: bool = True,
        spread: float = 0.5,
        mode: str = "auto",
        batch_size: int | None = None,
        measure: bool | None = None,
        workers: int | None = None,
    ):
        self.design = StartDesign(
            self.name, int(starts), sampler, int(seed), bool(include_start), float(spread)
        )
        if mode not in MODES:
            raise ConfigError(f"{self.name}: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if workers is not None and workers < 1:
            raise ConfigError(f"{self.name}: workers must be at least 1, got {workers}")
        if batch_size is not None and batch_size < 1:
            raise ConfigError(f"{self.name}: batch_size must be at least 1, got {batch_size}")
        from q2mm.plugins import registry

        created = registry().create("optimizer", inner, **dict(inner_options or {}))
        if not isinstance(created, InJitOptimizer):
            raise ConfigError(
                f"{self.name} runs in-JIT optimizers (jaxopt:*, optax:*), not {inner!r}; "
                f"use the core's multistart for other optimizers"
            )
        self.inner_name = inner
        self.inner = created
        self.mode = mode
        self.batch_size = None if batch_size is None else int(batch_size)
        self.measure = measure
        self.workers = workers

    def minimize(
        self,
        objective: Objective,
        x0: np.ndarray,
        bounds: Sequence[tuple[float, float]],
        callback: Callback = None,
    ) -> JaxMultiStartResult:
        refuse_untraceable(objective, self.name)
        x0 = np.asarray(x0, dtype=float)
        points = self.design.points(objective, x0, bounds)
        runner = _Runner(objective, self.inner, make_problem(objective, points, bounds))
        n = len(points)
        batch = min(n, self.batch_size or (n if self.mode == "vmap" else CALIBRATION_BATCH))
        mode, calibration = self.mode, {}
        if mode == "auto":
            mode = _choices.get(objective, {}).get((self.inner.method, x0.size, batch))
            if mode is None:
                measure = self.measure if self.measure is not None else jax.default_backend() != "cpu"
                mode, calibration = runner.calibrate(batch) if measure else ("loop", {})
                _choices.setdefault(objective, {})[(self.inner.method, x0.size, batch)] = mode
        if mode == "vmap":
            runner.run_batches(batch)
        else:
            cores = (os.cpu_count() or 1) if jax.default_backend() == "cpu" else 1
            runner_workers = self.workers or cores
            runner.run_loop(runner_workers)
        results = [runner.results[i] for i in range(n)]
        records = tuple(StartRecord(index=i, start=points[i], result=r) for i, r in enumerate(results))
        summary = self._summarize(records, mode, runner, calibration)
        if callback is not None and math.isfinite(summary.score):
            callback(summary.x, summary.score)
        return summary

    def _summarize(self, records, mode, runner, calibration) -> JaxMultiStartResult:
        usable = [r for r in records if r.result.status != "failed" and math.isfinite(r.result.score)]
        finite = [r for r in records if math.isfinite(r.result.score)]
        common = {
            **totals(records),
            "starts": records,
            "mode": mode,
            "compile_seconds": runner.compile_seconds,
            "run_seconds": runner.run_seconds,
            "calibration": calibration,
        }
        timing = f"{mode}, compile {runner.compile_seconds:.2f} s, run {runner.run_seconds:.3f} s"
        if not usable:
            best = min(finite, key=lambda r: r.result.score) if finite else records[0]
            return JaxMultiStartResult(
                x=best.result.x,
                score=best.result.score,
                status="failed",
                message=f"all {len(records)} starts failed ({timing}); best finite point from "
                f"#{best.index}: {best.result.message}",
                best=best.index if finite else -1,
                spread=np.zeros_like(best.result.x),
                **common,
            )
        best = min(usable, key=lambda r: r.result.score)
        tally = status_tally(records)
        return JaxMultiStartResult(
            x=best.result.x,
            score=best.result.score,
            status=best.result.status,
            message=f"best of {len(records)} starts is #{best.index} ({tally}; {timing}): "
            f"{best.result.message}",
            best=best.index,
            spread=np.std([r.result.x for r in usable], axis=0),
            **common,
        )


class _Runner:
    """Runs starts of one problem through the single or the batched program and
    collects per-start results, compile and run time."""

    def __init__(self, objective: Objective, inner: InJitOptimizer, problem: Problem) -> None:
        self.objective = objective
        self.inner = inner
        self.problem = problem
        self.size = problem.y0.shape[1]
        self.results: dict[int, InJitResult] = {}
        self.compile_seconds = 0.0
        self.run_seconds = 0.0
        self._lock = threading.Lock()

    def _program(self, batch: int | None):
        compiled, new = program(self.objective, self.inner.method, self.size, batch)
        compile_s = compiled.compile_seconds if new else 0.0
        self.compile_seconds += compile_s
        return compiled, compile_s

    def run_one(self, i: int) -> float:
        with self._lock:
            compiled, compile_s = self._program(None)
        outcome, seconds = run(compiled.executable, self.problem.rows(i), self.inner.limits)
        with self._lock:
            self.run_seconds += seconds
        self.results[i] = to_result(outcome, self.problem, i, None, compile_s, seconds)
        return seconds

    def run_batch(self, indices: np.ndarray, batch: int) -> float:
        """One call of the batched program on ``indices`` (padded to ``batch`` by
        repeating the last start; the padding's results are dropped)."""
        compiled, compile_s = self._program(batch)
        rows = np.concatenate([indices, np.repeat(indices[-1:], batch - len(indices))])
        outcome, seconds = run(compiled.executable, self.problem.rows(rows), self.inner.limits)
        self.run_seconds += seconds
        share = seconds / len(indices)
        for k, i in enumerate(indices):
            self.results[int(i)] = to_result(
                outcome, self.problem, int(i), k, compile_s if k == 0 else 0.0, share
            )
        return seconds

    def run_loop(self, workers: int = 1) -> None:
        """Every start not run yet, ``workers`` calls at a time (a call releases the
        GIL while the compiled program runs)."""
        pending = [i for i in range(len(self.problem.y0)) if i not in self.results]
        if not pending:
            return
        self._program(None)  # compile (or load) once, before any thread asks
        with ThreadPoolExecutor(max_workers=min(workers, len(pending))) as pool:
            list(pool.map(self.run_one, pending))

    def run_batches(self, batch: int) -> None:
        pending = np.array([i for i in range(len(self.problem.y0)) if i not in self.results], dtype=int)
        for begin in range(0, len(pending), batch):
            self.run_batch(pending[begin : begin + batch], batch)

    def calibrate(self, batch: int) -> tuple[str, dict[str, float]]:
        """Time both ways on the first starts with a short iteration limit (compile
        excluded); the short runs' results are discarded."""
        if len(self.problem.y0) == 1:
            return "loop", {}
        inner = self.inner
        short = controls(min(CALIBRATION_ITERATIONS, inner.max_iterations), inner.gtol, inner.ftol)
        single, _ = self._program(None)
        loop_seconds = min(
            run(single.executable, self.problem.rows(i), short)[1]
            for i in range(min(3, len(self.problem.y0)))
        )
        batched, _ = self._program(batch)
        rows = np.resize(np.arange(len(self.problem.y0)), batch)
        vmap_seconds = run(batched.executable, self.problem.rows(rows), short)[1] / batch
        mode = "vmap" if vmap_seconds < loop_seconds else "loop"
        return mode, {"loop_seconds_per_start": loop_seconds, "vmap_seconds_per_start": vmap_seconds}
