"""Multi-start: any optimizer, run from several reproducibly seeded starts.

Starts fill the bounds with a low-discrepancy design (``sampler``: scrambled Sobol or
Latin hypercube from :mod:`scipy.stats.qmc`, seeded by ``seed``, so the same seed gives
the same starts). A parameter with an infinite bound is sampled within
``spread`` × its natural scale of its starting value (clipped to the finite side).
The first start is the given x0 unless ``include_start`` is false, so a multi-start
never does worse than the single run it generalizes.

The result is the best start that did not fail (ties go to the earlier start), with
its status; it lists every start (:class:`StartRecord`). All starts failed → failed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
from scipy.stats import qmc

from ..errors import ConfigError
from ..protocols import OptimizeResult
from .tracking import Callback, scales_for

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
        if starts < 1:
            raise ConfigError(f"multistart: starts must be at least 1, got {starts}")
        if sampler not in SAMPLERS:
            raise ConfigError(f"multistart: unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
        from ..plugins import registry

        self.inner_name = inner
        self.inner = registry().create("optimizer", inner, **dict(inner_options or {}))
        self.starts = int(starts)
        self.sampler = sampler
        self.seed = int(seed)
        self.include_start = bool(include_start)
        self.spread = float(spread)

    @property
    def requires(self) -> frozenset[str]:
        return frozenset(self.inner.requires)

    def minimize(
        self, objective: Any, x0: np.ndarray, bounds: Sequence[tuple[float, float]], callback: Callback = None
    ) -> MultiStartResult:
        x0 = np.asarray(x0, dtype=float)
        sampled = sample_starts(
            x0,
            bounds,
            self.starts - int(self.include_start),
            sampler=self.sampler,
            seed=self.seed,
            spread=self.spread,
            scale=scales_for(objective, x0),
        )
        points = [x0, *sampled] if self.include_start else list(sampled)
        records = []
        for i, point in enumerate(points):
            result = self.inner.minimize(objective, point, bounds, callback)
            records.append(StartRecord(index=i, start=point, result=result))
        usable = [r for r in records if r.result.status != "failed" and math.isfinite(r.result.score)]
        iterations = sum(r.result.iterations for r in records)
        evaluations = sum(r.result.evaluations for r in records)
        if not usable:
            first = records[0].result
            return MultiStartResult(
                x=first.x,
                score=first.score,
                iterations=iterations,
                evaluations=evaluations,
                status="failed",
                message=f"all {len(records)} starts failed; first: {first.message}",
                starts=tuple(records),
            )
        best = min(usable, key=lambda r: r.result.score)
        counts = {s: sum(r.result.status == s for r in records) for s in ("converged", "stopped", "failed")}
        summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        return MultiStartResult(
            x=best.result.x,
            score=best.result.score,
            iterations=iterations,
            evaluations=evaluations,
            status=best.result.status,
            message=f"best of {len(records)} starts is #{best.index} ({summary}): {best.result.message}",
            starts=tuple(records),
            best=best.index,
        )
