"""The objective: one weighted residual vector over every structure, and its score.

Built from structures (each a :class:`~q2mm.model.Molecule` carrying the QM data and
the :class:`~q2mm.model.MMSystem` an engine evaluates), an engine, a
:class:`~q2mm.parameters.ParameterSpace` and a list of terms ``(kind, weight,
options)`` (bound to the structures by :mod:`.binding`). For a fitted vector ``x``
it expands the full parameter vector, asks the engine for what the residuals need
(Hessians and energies at the QM geometries, MM-relaxed geometries), evaluates every
residual and multiplies it by its weights. The score is the sum of squares of that
vector.

How residuals and their derivatives are computed is the job of one *path*, chosen
once from the engine's capabilities:

- :class:`~.analytical.AnalyticalPath` (the engine is ``traceable``): residuals,
  relaxations and their exact parameter derivatives inside one ``jax.jit`` (imported
  only then, so a NumPy-only run never imports JAX);
- :class:`~.finite_difference.FiniteDifferencePath` otherwise: central differences
  with per-parameter, bound-aware steps, every displaced point evaluated through the
  executor.

Failures: a non-finite residual raises :class:`~q2mm.errors.FitFailure`, an MM
relaxation that did not converge its subclass
:class:`~q2mm.errors.RelaxationFailure`, naming the structure and the cause — never a
penalty value that an optimizer could mistake for a real score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..estimate.curvature import DEFAULT_TS_METHOD
from ..model import MMSystem, Molecule
from ..parameters import ParameterSpace
from ..plugins import Registry, registry
from ..protocols import Capability, Counters, Engine, Executor, FrozenValues
from ..residuals.metrics import Errors, Metrics, pooled
from .binding import Term, WeightedResiduals, bind, structure_names
from .finite_difference import STEP_FRACTION, FiniteDifferencePath
from .sessions import Sessions

GRADIENT_CHOICES = ("auto", "finite-difference")
#: Most residuals whose Jacobian the analytical path computes in one program
#: (``jax.jacrev`` holds one backward pass per residual at once): the validation
#: set's largest, propane's rotation TS, has ~450; the nine Rh-enamide TSs together
#: ~48,000, whose Jacobian asked for 635 GB.
JACOBIAN_RESIDUALS_LIMIT = 2000

_NEED_CAPABILITY = {
    "hessian": Capability.HESSIAN,
    "energy": Capability.ENERGY,
    "relaxed": Capability.MINIMIZE,
}


def _check_capabilities(engine: Engine, weighting: WeightedResiduals) -> None:
    """The finite-difference path asks the engine for what the residuals need."""
    have = set(engine.capabilities)
    for b in weighting.bound:
        for need in b.residual.needs:
            capability = _NEED_CAPABILITY.get(need)
            if capability is not None and capability not in have:
                raise ConfigError(
                    f"residual {b.name!r} needs the engine's {capability.value!r} capability, "
                    f"which engine {engine.name!r} does not declare"
                )


class Objective:
    """Weighted residuals and score of a fit (implements
    :class:`q2mm.protocols.Objective`); see the module docstring. Build with
    :meth:`build`.

    State between evaluations: the last residual vector (a repeated ``x`` is not
    evaluated again) and whatever the path keeps (the analytical path's warm starts,
    :class:`~.analytical.WarmStarts`)."""

    def __init__(
        self,
        molecules: Sequence[Molecule],
        systems: Sequence[MMSystem],
        engine: Engine,
        space: ParameterSpace,
        weighting: WeightedResiduals,
        executor: Executor | None = None,
        gradient: str = "auto",
        fd_step: float = STEP_FRACTION,
        fd_chunks: int | None = None,
        counters: Counters | None = None,
    ) -> None:
        if gradient not in GRADIENT_CHOICES:
            raise ConfigError(f"gradient must be one of {', '.join(GRADIENT_CHOICES)}, got {gradient!r}")
        self.molecules = tuple(molecules)
        self.systems = tuple(systems)
        self.engine = engine
        self.engine_name = engine.name
        self.space = space
        self.weighting = weighting
        self.counters = Counters() if counters is None else counters
        self.traceable = Capability.TRACEABLE in engine.capabilities and gradient == "auto"
        names = structure_names(self.molecules)
        sessions = Sessions(engine, self.systems)
        if self.traceable:
            from .analytical import AnalyticalPath, Batches

            batches = Batches(
                engine, self.systems, sessions, FrozenValues(space.forcefield.vector(), space.varying)
            )
            self.path = AnalyticalPath(space, batches, weighting, names, self.counters)
        else:
            _check_capabilities(engine, weighting)
            self.path = FiniteDifferencePath(
                space, sessions, weighting, names, self.counters, executor, fd_step, fd_chunks
            )
        self._last: tuple[bytes, np.ndarray] | None = None
        self._metrics: Metrics | None = None

    @classmethod
    def build(
        cls,
        molecules: Sequence[Molecule],
        systems: Sequence[MMSystem],
        engine: Engine,
        space: ParameterSpace,
        terms: Sequence[Term | Sequence[Any]] | None = None,
        executor: Executor | None = None,
        ts_method: str = DEFAULT_TS_METHOD.value,
        groups: Sequence[str | None] | None = None,
        gradient: str = "auto",
        fd_step: float = STEP_FRACTION,
        fd_chunks: int | None = None,
        plugins: Registry | None = None,
        counters: Counters | None = None,
    ) -> Objective:
        """Bind the terms (:func:`.binding.bind`) and choose the path.
        ``gradient="finite-difference"`` forces finite differences on a traceable
        engine (to compare the two paths)."""
        if len(molecules) != len(systems) or not molecules:
            raise ConfigError(
                f"{len(molecules)} molecules and {len(systems)} systems: need one system per structure"
            )
        if groups is not None and len(groups) != len(molecules):
            raise ConfigError(f"{len(groups)} group labels for {len(molecules)} structures")
        weighting = bind(molecules, systems, space, terms, plugins or registry(), ts_method, groups)
        return cls(
            molecules, systems, engine, space, weighting, executor, gradient, fd_step, fd_chunks, counters
        )

    def expect_jacobians(self) -> None:
        """Told before the first evaluation when the optimizer asks for Jacobians (its
        ``requires`` names ``"jacobian"``): up to :data:`JACOBIAN_RESIDUALS_LIMIT`
        residuals the analytical path then evaluates every point through its Jacobian
        program, compiling one program instead of two (see
        :meth:`~.analytical.AnalyticalPath.jacobian`). Finite differences have nothing
        to prepare."""
        if self.path.name == "analytical" and self.weighting.size <= JACOBIAN_RESIDUALS_LIMIT:
            self.path.jacobian_program = True

    @property
    def gradient_path(self) -> str:
        """``"analytical"`` or ``"finite-difference"``."""
        return self.path.name

    # ------------------------------------------------------------------ evaluation

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """The weighted residual vector at ``x``."""
        x = np.asarray(x, dtype=float)
        key = x.tobytes()
        if self._last is not None and self._last[0] == key:
            return self._last[1].copy()
        r = self.path.residuals(x)
        self.counters.evaluations += 1
        self._last = (key, r)
        return r.copy()

    def value(self, x: np.ndarray) -> float:
        r = self.residuals(x)
        return float(r @ r)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """d(weighted residuals)/dx, shape (len(residuals), len(x))."""
        self.counters.gradients += 1
        return self.path.jacobian(np.asarray(x, dtype=float), self.residuals)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.counters.gradients += 1
        return self.path.value_and_grad(np.asarray(x, dtype=float), self.residuals)

    def scales(self, x: np.ndarray) -> np.ndarray:
        return self.space.scales(x)

    def traced_score(self) -> Callable[[Any], Any]:
        return self.path.traced_score()

    def quantities(self, x: np.ndarray, needs: Sequence[frozenset[str]]) -> tuple[np.ndarray, list[dict]]:
        """Full values and, per structure, the MM quantities named in ``needs`` (NumPy
        arrays, from the objective's path)."""
        return self.path.quantities(np.asarray(x, dtype=float), needs)

    # ------------------------------------------------------------------ reports

    def score_by_residual(self, x: np.ndarray) -> dict[str, float]:
        return self.weighting.score_by_residual(self.residuals(x))

    def score_by_residual_if_evaluated(self, x: np.ndarray) -> dict[str, float] | None:
        """:meth:`score_by_residual` when ``x`` is the point evaluated last, else None:
        a per-iteration record must not cost an evaluation."""
        key = np.asarray(x, dtype=float).tobytes()
        r = (
            self._last[1]
            if self._last is not None and self._last[0] == key
            else self.path.residuals_if_evaluated(x)
        )
        return None if r is None else self.weighting.score_by_residual(r)

    @property
    def metrics_plan(self) -> Metrics:
        """The residuals the fit metrics (and the report's per-structure data) are
        computed from, built on first use."""
        if self._metrics is None:
            self._metrics = Metrics.build(self.molecules, self.systems, self.engine.capabilities)
        return self._metrics

    def metric_errors(self, x: np.ndarray) -> list[Errors]:
        """Per structure, the QM-vs-MM differences the fit metrics are made of
        (:mod:`q2mm.residuals.metrics`)."""
        return self.metrics_plan.errors(self.quantities, np.asarray(x, dtype=float))

    def metrics(self, x: np.ndarray) -> dict[str, float | None]:
        """The pooled fit metrics (:data:`q2mm.residuals.metrics.KEYS`)."""
        return pooled(self.metric_errors(x))
