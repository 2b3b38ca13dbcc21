"""The ``jax`` engine: q2mm's analytical path.

Every quantity is a pure JAX function of ``(values, coordinates)``, so the objective
can jit residuals together with their exact parameter gradients
(:meth:`JaxSession.traceable`). The NumPy-facing session methods call the same
functions, jitted once per topology shape and kept in JAX's persistent compilation
cache across processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
from q2mm.engine_base import SessionBase, check_supported
from q2mm.errors import ConfigError
from q2mm.model import FunctionalForm, MMSystem
from q2mm.model.units import HESSIAN_AU_TO_KCALMOL_A2
from q2mm.protocols import Capability, Minimized, TraceableFunctions

from . import energy as _energy
from . import runtime
from .plan import Plan, build_plan
from .relax import RelaxSettings, implicit_relax, newton_minimize
from .terms import TERM_KINDS

CAPABILITIES = frozenset(Capability)

_energy_jit = jax.jit(_energy.energy)
_gradient_jit = jax.jit(_energy.gradient)
_hessian_jit = jax.jit(_energy.hessian)
_minimize_jit = jax.jit(newton_minimize, static_argnums=(3, 4))


def check_values(plan: Plan, values) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.shape != (plan.n_parameters,):
        raise ConfigError(
            f"parameter vector of shape {array.shape} for a structure whose terms use "
            f"{plan.n_parameters} parameters"
        )
    return array


def traceable_functions(plan: Plan, settings: RelaxSettings) -> TraceableFunctions:
    """Pure functions of ``(values, coordinates)`` closed over one plan."""
    relax_impl = implicit_relax(settings, None)

    def energy(values, coordinates):
        return _energy.energy(plan, values, coordinates)

    def gradient(values, coordinates):
        return _energy.gradient(plan, values, coordinates)

    def hessian(values, coordinates):
        return _energy.hessian(plan, values, coordinates) / HESSIAN_AU_TO_KCALMOL_A2

    def relax(values, coordinates):
        x, gradient_norm = relax_impl(plan, values, jnp.asarray(coordinates)[None])
        return x[0], gradient_norm[0] < settings.gtol

    return TraceableFunctions(energy=energy, gradient=gradient, hessian=hessian, relax=relax)


class JaxSession(SessionBase):
    """One prepared structure. ``plan`` is the traced form of its terms."""

    engine_name = "jax"
    capabilities = CAPABILITIES

    def __init__(self, system: MMSystem, plan: Plan, settings: RelaxSettings) -> None:
        super().__init__(system)
        self.plan = plan
        self.settings = settings

    def _inputs(self, values, coordinates):
        x = self.coordinates_or_default(coordinates)
        if x.shape != (self.plan.n_atoms, 3):
            raise ConfigError(f"coordinates of shape {x.shape} for {self.plan.n_atoms} atoms")
        return jnp.asarray(check_values(self.plan, values)), jnp.asarray(x)

    def energy(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> float:
        return float(_energy_jit(self.plan, *self._inputs(values, coordinates)))

    def gradient(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        return np.asarray(_gradient_jit(self.plan, *self._inputs(values, coordinates)))

    def hessian(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        """Hartree/Bohr², the unit of the QM Hessians it is compared with."""
        return (
            np.asarray(_hessian_jit(self.plan, *self._inputs(values, coordinates))) / HESSIAN_AU_TO_KCALMOL_A2
        )

    def minimize(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> Minimized:
        values, x = self._inputs(values, coordinates)
        x, e, gnorm, iterations, *_ = _minimize_jit(self.plan, values, x[None], self.settings, None)
        return Minimized(
            coordinates=np.asarray(x[0]),
            energy=float(e[0]),
            converged=bool(gnorm[0] < self.settings.gtol),
            iterations=int(iterations[0]),
            gradient_norm=float(gnorm[0]),
        )

    def traceable(self) -> TraceableFunctions:
        return traceable_functions(self.plan, self.settings)


class JaxEngine:
    """Options: ``gtol`` (gradient norm that counts as converged, kcal/(mol·Å)),
    ``max_iterations`` (relaxation bound), ``trust_radius`` (first step, Å)."""

    name = "jax"
    capabilities = CAPABILITIES
    forms = frozenset({FunctionalForm.HARMONIC, FunctionalForm.MM3})
    term_kinds = TERM_KINDS

    def __init__(self, **options: Any) -> None:
        known = {"gtol", "max_iterations", "trust_radius"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"unknown option(s) for engine 'jax': {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        self.cache_dir = runtime.configure()
        self.settings = RelaxSettings(**options)

    def prepare(self, system: MMSystem) -> JaxSession:
        check_supported(self.name, self.term_kinds, self.forms, system)
        return JaxSession(system, build_plan(system), self.settings)

    def prepare_batch(self, systems: Sequence[MMSystem]):
        """Several structures evaluated together under ``vmap`` (see
        :class:`q2mm_engine_jax.batch.BatchSession`)."""
        from .batch import BatchSession

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
