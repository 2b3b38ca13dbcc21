"""The ``jax`` engine: q2mm's analytical path.

Every quantity is a pure JAX function of ``(values, coordinates)``, so the objective
can jit residuals together with their exact parameter gradients
(:meth:`JaxSession.traceable`). The NumPy-facing session methods call the same
functions, jitted once per topology shape and kept in JAX's persistent compilation
cache across processes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
from q2mm import jax_runtime
from q2mm.engine_base import SessionBase, check_supported
from q2mm.errors import ConfigError
from q2mm.model import FunctionalForm, MMSystem
from q2mm.protocols import Capability, FrozenValues, Minimized, TraceableFunctions

from .batch import BatchSession
from .plan import Plan, build_plan
from .relax import RelaxSettings
from .terms import TERM_KINDS

CAPABILITIES = frozenset(Capability)


class JaxSession(SessionBase):
    """One prepared structure. ``plan`` is the traced form of its terms; every method
    runs it as a batch of one (:class:`q2mm_engine_jax.batch.BatchSession`)."""

    engine_name = "jax"
    capabilities = CAPABILITIES

    def __init__(self, system: MMSystem, plan: Plan, settings: RelaxSettings) -> None:
        super().__init__(system)
        self.plan = plan
        self.settings = settings

    @functools.cached_property
    def _as_batch(self) -> BatchSession:
        return BatchSession([self], self.settings)

    def _coordinates(self, coordinates) -> list[np.ndarray]:
        x = self.coordinates_or_default(coordinates)
        if x.shape != (self.plan.width, 3):
            raise ConfigError(f"coordinates of shape {x.shape} for {self.plan.width} atoms")
        return [x]

    def energy(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> float:
        return float(self._as_batch.energy(values, self._coordinates(coordinates))[0])

    def gradient(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        return self._as_batch.gradient(values, self._coordinates(coordinates))[0]

    def hessian(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        """Hartree/Bohr², the unit of the QM Hessians it is compared with."""
        return self._as_batch.hessian(values, self._coordinates(coordinates))[0]

    def minimize(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> Minimized:
        return self._as_batch.minimize(values, self._coordinates(coordinates))[0]

    def traceable(self, frozen: FrozenValues | None = None) -> TraceableFunctions:
        """Pure functions of ``(values, coordinates)`` for this structure: those of a
        batch of one, without the batch axis (a relaxation start keeps it)."""
        batch = self._as_batch.traceable(frozen)

        def single(fn):
            def f(values, coordinates=None):
                return fn(values, None if coordinates is None else jnp.asarray(coordinates)[None])[0]

            return f

        def relax(values, start):
            x, converged, next_start = batch.relax(values, start)
            return x[0], converged[0], next_start

        def relax_start(coordinates):
            xp = np if isinstance(coordinates, np.ndarray) else jnp
            return batch.relax_start(xp.asarray(coordinates, dtype=float)[None])

        return TraceableFunctions(
            single(batch.energy), single(batch.gradient), single(batch.hessian), relax, relax_start
        )


class JaxEngine:
    """Options: ``gtol`` (gradient norm that counts as converged, kcal/(mol·Å)),
    ``max_iterations`` (relaxation bound), ``trust_radius`` (first step, Å),
    ``hessian`` (``"local"``, the default, or ``"whole"``: ``jax.hessian`` of the
    whole energy, the slower reference the benchmarks compare with)."""

    name = "jax"
    capabilities = CAPABILITIES
    forms = frozenset({FunctionalForm.HARMONIC, FunctionalForm.MM3})
    term_kinds = TERM_KINDS

    def __init__(self, **options: Any) -> None:
        known = {"gtol", "max_iterations", "trust_radius", "hessian"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"unknown option(s) for engine 'jax': {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        if options.get("hessian", "local") not in ("local", "whole"):
            raise ConfigError(f"engine 'jax': hessian must be 'local' or 'whole', got {options['hessian']!r}")
        self.cache_dir = jax_runtime.configure()
        self.settings = RelaxSettings(**options)

    def prepare(self, system: MMSystem) -> JaxSession:
        check_supported(self.name, self.term_kinds, self.forms, system)
        return JaxSession(system, build_plan(system), self.settings)

    def prepare_batch(self, systems: Sequence[MMSystem]) -> BatchSession:
        """Several structures evaluated together under ``vmap`` (see
        :class:`q2mm_engine_jax.batch.BatchSession`)."""
        return BatchSession([self.prepare(s) for s in systems], self.settings)

    def describe(self) -> dict[str, Any]:
        device = jax.devices()[0]
        return {
            "engine": self.name,
            "platform": jax.default_backend(),
            "device": f"{device.platform}:{device.id} {device.device_kind}",
            "precision": "float64" if jax.config.jax_enable_x64 else "float32",
            "jax_version": jax.__version__,
            "jaxlib_version": jaxlib.__version__,
            "compilation_cache": str(self.cache_dir) if self.cache_dir else None,
        }
