"""Several structures as one batch.

The structures' plans are concatenated (:func:`q2mm_engine_jax.plan.concatenate`):
every family is one vectorized block over the terms of all structures, whatever their
topologies, and the Hessian assembles into one dense matrix per structure. The same
code serves one structure (a batch of one) and many, so the analytical objective
traces each family once however many structures it fits.

Coordinates go in stacked, (B, width, 3) — use :meth:`BatchSession.stack` for
structures of different sizes — and per-structure results come back unpadded from
the NumPy methods; the traceable functions return the padded arrays (slice with
``n_atoms``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np
from q2mm.errors import ConfigError
from q2mm.model import MMSystem
from q2mm.model.units import HESSIAN_AU_TO_KCALMOL_A2
from q2mm.protocols import FrozenValues, Minimized, TraceableFunctions

from . import energy as _energy
from .frozen import freeze, split
from .plan import Plan, check_values, concatenate
from .relax import RelaxSettings, RelaxStart, implicit_relax, newton_minimize

_minimize_jit = jax.jit(newton_minimize, static_argnums=(3,))
#: The jitted form of each function the traceable functions offer.
_JITTED = {f: jax.jit(f) for f in (_energy.energy, _energy.gradient, _energy.hessian, _energy.whole_hessian)}


class PlannedStructure(Protocol):
    """What a batch reads of each of its structures' sessions
    (:class:`q2mm_engine_jax.engine.JaxSession`, which imports this module, not the
    other way round): the structure and its plan."""

    system: MMSystem
    plan: Plan


class BatchSession:
    """Structures evaluated together; see the module docstring."""

    def __init__(self, sessions: Sequence[PlannedStructure], settings: RelaxSettings) -> None:
        if not sessions:
            raise ConfigError("an empty batch")
        self.sessions = list(sessions)
        self.settings = settings
        self.n_atoms = [s.plan.width for s in self.sessions]
        self.plan = concatenate([s.plan for s in self.sessions])
        self.width = self.plan.width

    def stack(self, coordinates: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """(B, width, 3): each structure's coordinates (default: its own), padding
        atoms at the origin (no term touches them)."""
        if coordinates is None:
            coordinates = [s.system.molecule.coordinates for s in self.sessions]
        if len(coordinates) != len(self.sessions):
            raise ConfigError(f"{len(coordinates)} coordinate sets for a batch of {len(self.sessions)}")
        out = np.zeros((len(self.sessions), self.width, 3))
        for b, (x, n) in enumerate(zip(coordinates, self.n_atoms, strict=True)):
            x = np.asarray(x, dtype=float)
            if x.shape != (n, 3):
                raise ConfigError(f"coordinates of shape {x.shape} for structure {b} with {n} atoms")
            out[b, :n] = x
        return out

    def _inputs(self, values, coordinates):
        return jnp.asarray(check_values(self.plan, values)), jnp.asarray(self.stack(coordinates))

    @property
    def _functions(self) -> tuple:
        """(energy, gradient, Hessian) functions of (plan, values, coordinates)."""
        return _energy.energy, _energy.gradient, _energy.ASSEMBLIES[self.settings.hessian][0]

    def energy(self, values, coordinates=None) -> np.ndarray:
        return np.asarray(_JITTED[_energy.energy](self.plan, *self._inputs(values, coordinates)))

    def gradient(self, values, coordinates=None) -> list[np.ndarray]:
        g = np.asarray(_JITTED[_energy.gradient](self.plan, *self._inputs(values, coordinates)))
        return [g[b, :n] for b, n in enumerate(self.n_atoms)]

    def hessian(self, values, coordinates=None) -> list[np.ndarray]:
        """Hartree/Bohr², one (3n, 3n) matrix per structure."""
        h = np.asarray(_JITTED[self._functions[2]](self.plan, *self._inputs(values, coordinates)))
        h = h / HESSIAN_AU_TO_KCALMOL_A2
        return [h[b, : 3 * n, : 3 * n] for b, n in enumerate(self.n_atoms)]

    def minimize(self, values, coordinates=None) -> list[Minimized]:
        values, x = self._inputs(values, coordinates)
        x, e, gnorm, iterations, *_ = _minimize_jit(self.plan, values, RelaxStart.cold(x), self.settings)
        return [
            Minimized(
                np.asarray(x[b, :n]),
                float(e[b]),
                bool(gnorm[b] < self.settings.gtol),
                int(iterations[b]),
                float(gnorm[b]),
            )
            for b, n in enumerate(self.n_atoms)
        ]

    def traceable(self, frozen: FrozenValues | None = None) -> TraceableFunctions:
        """Pure functions of ``values`` and stacked (B, width, 3) coordinates (None:
        the structures' own), one result per structure; outputs keep the padding.
        ``relax`` minimizes the whole batch in one loop
        (:func:`q2mm_engine_jax.relax.newton_minimize`).

        With ``frozen``, the terms reading no varying slot have their parameters
        baked in (:mod:`q2mm_engine_jax.frozen`); at the structures' own coordinates
        their energy, gradient and Hessian are computed once, on first use, and only
        the entries that read a varying slot are traced."""
        plan, settings = self.plan, self.settings
        if frozen is not None:
            plan = freeze(plan, frozen.values, frozen.varying)
        own = self.stack()
        at_own = None if frozen is None else _OwnCoordinates(plan, frozen, own, self._functions[2])
        relax_batch = implicit_relax(settings)

        def traced(function):
            def fn(values, coordinates=None):
                if coordinates is None and at_own is not None:
                    return at_own(function, values)
                # Jitted, so that a call outside a trace (the Hessians at the MM
                # minima after a fit) runs a compiled program, the one the frozen
                # terms' constants were computed with: same function, same shapes.
                return _JITTED[function](plan, values, own if coordinates is None else coordinates)

            return fn

        energy, gradient, hessian_kcal = (traced(f) for f in self._functions)

        def hessian(values, coordinates=None):
            return hessian_kcal(values, coordinates) / HESSIAN_AU_TO_KCALMOL_A2

        def relax(values, start):
            x, gradient_norm, next_start = relax_batch(plan, values, start)
            return x, gradient_norm < settings.gtol, next_start

        return TraceableFunctions(energy, gradient, hessian, relax, RelaxStart.cold)


#: Computes the frozen terms' constants off the tracing thread (see _OwnCoordinates).
_PRECOMPUTE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="q2mm-frozen")


class _OwnCoordinates:
    """Energy, gradient and Hessian of a frozen plan at the structures' own
    coordinates: the entries that read ``values`` traced, the rest a constant.

    The constant Hessian starts computing at once, in a background thread: its
    compilation (seconds for a many-structure batch) then overlaps the tracing of
    the objective that will use it, which holds the GIL while XLA's compiler does
    not. Energy and gradient constants are computed on first use."""

    def __init__(self, plan: Plan, frozen: FrozenValues, own: np.ndarray, hessian) -> None:
        self.active, self.fixed = split(plan)
        self.values = np.asarray(frozen.values, dtype=float)
        self.own = own
        self.constants: dict[Callable, Future] = {}
        self._start(hessian)

    def _start(self, function) -> Future:
        if function not in self.constants:
            self.constants[function] = _PRECOMPUTE.submit(
                _JITTED[function], self.fixed, self.values, self.own
            )
        return self.constants[function]

    def __call__(self, function, values):
        return function(self.active, values, self.own) + self._start(function).result()
