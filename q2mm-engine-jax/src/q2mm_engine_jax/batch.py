"""Several structures under one ``vmap``.

Structures that share a topology (the same molecule at several geometries) share one
plan and are vmapped over their coordinates. Structures with different topologies are
padded: every family's term arrays are extended to the largest count with terms of
scale 0 on four dummy atoms, atoms are padded to the largest molecule, and the
stacked plans are vmapped together with the coordinates. Whether padding pays has to
be measured per machine (``benchmarks/bench_jax_engine.py``): under ``vmap`` every
structure does the work of the largest.

Coordinates go in stacked, (B, n, 3) — use :meth:`BatchSession.stack` for structures
of different sizes — and per-structure results come back unpadded from the NumPy
methods; the traceable functions return the padded arrays (slice with ``n_atoms``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from q2mm.errors import ConfigError
from q2mm.model.units import HESSIAN_AU_TO_KCALMOL_A2
from q2mm.protocols import Minimized, TraceableFunctions

from . import energy as _energy
from .engine import JaxSession, check_values, traceable_functions
from .plan import DUMMY_TETRAHEDRON, Block, Plan, Reduction
from .relax import RelaxSettings, newton_minimize


def _same_topology(plans: Sequence[Plan]) -> bool:
    first, tree = jax.tree_util.tree_flatten(plans[0])
    first = [np.asarray(a) for a in first]
    for plan in plans[1:]:
        leaves, other = jax.tree_util.tree_flatten(plan)
        if other != tree or any(
            a.shape != b.shape or not np.array_equal(a, b)
            for a, b in zip(map(np.asarray, leaves), first, strict=True)
        ):
            return False
    return True


def _pad_block(block: Block | None, like: Block, count: int, dummies: np.ndarray, n_parameters: int) -> Block:
    """``block`` (or nothing) extended to ``count`` terms of scale 0 on the dummy atoms."""
    have = 0 if block is None else len(block)
    extra = count - have
    family = like.family
    pad = Block(
        like.kind,
        np.tile(dummies[: family.arity], (extra, 1)),
        np.full((extra, len(family.fields)), n_parameters),
        np.zeros((extra, len(family.fields)), dtype=bool),
        np.tile([family.defaults.get(f, 0.0) for f in family.fields], (extra, 1)),
        np.zeros((extra, len(family.constants))),
        np.zeros(extra),
    )
    if block is None:
        return pad
    return jax.tree_util.tree_map(lambda a, b: np.concatenate([np.asarray(a), b]), block, pad)


def _pad_reduction(plan: Plan, width: int) -> Reduction:
    """The plan's vdW-centre map over ``width`` atoms; padding atoms are their own centres."""
    partner, slot, reduced = np.arange(width), np.full(width, plan.n_parameters), np.zeros(width, dtype=bool)
    if plan.reduction is not None:
        n = plan.n_atoms
        red = plan.reduction
        partner[:n], slot[:n], reduced[:n] = (
            np.asarray(red.partner),
            np.asarray(red.slot),
            np.asarray(red.reduced),
        )
    return Reduction(partner, slot, reduced)


def pad_plans(plans: Sequence[Plan]) -> Plan:
    """One plan with a leading batch axis on every array, all structures padded to
    the same atoms and term counts."""
    if len({p.n_parameters for p in plans}) != 1 or len({p.conventions for p in plans}) != 1:
        raise ConfigError("a batch must share one force field (parameter vector and conventions)")
    n_real = max(p.n_atoms for p in plans)
    dummies = np.arange(n_real, n_real + len(DUMMY_TETRAHEDRON))
    n_parameters = plans[0].n_parameters
    kinds: dict[str, Block] = {}
    for plan in plans:
        for block in plan.blocks:
            if block.kind not in kinds or len(block) > len(kinds[block.kind]):
                kinds[block.kind] = block
    width = n_real + len(dummies)
    reduced = any(p.reduction is not None for p in plans)
    padded = []
    for plan in plans:
        own = {b.kind: b for b in plan.blocks}
        blocks = tuple(
            _pad_block(own.get(k), like, len(like), dummies, n_parameters) for k, like in kinds.items()
        )
        mask = np.concatenate([np.ones(plan.n_atoms), np.zeros(width - plan.n_atoms)])
        padded.append(
            Plan(
                blocks,
                mask,
                _pad_reduction(plan, width) if reduced else None,
                plan.conventions,
                width,
                n_parameters,
            )
        )
    return jax.tree_util.tree_map(lambda *a: jnp.asarray(np.stack(a)), *padded)


@functools.cache
def _batched(function, shared: bool, *static):
    """``function(plan, values, coordinates, *static)`` jitted and vmapped over the
    structures (over the plans too when they are padded); cached so that batches of
    the same shapes share one executable."""

    def one(plan, values, coordinates):
        return function(plan, values, coordinates, *static)

    return jax.jit(jax.vmap(one, in_axes=(None, None, 0) if shared else (0, None, 0)))


class BatchSession:
    """Structures evaluated together; see the module docstring."""

    def __init__(self, sessions: Sequence[JaxSession], settings: RelaxSettings) -> None:
        if not sessions:
            raise ConfigError("an empty batch")
        self.sessions = list(sessions)
        self.settings = settings
        plans = [s.plan for s in self.sessions]
        self.n_atoms = [p.n_atoms for p in plans]
        self.shared = _same_topology(plans)
        self.plan = plans[0] if self.shared else pad_plans(plans)
        self.width = self.plan.n_atoms
        self._energy = _batched(_energy.energy, self.shared)
        self._gradient = _batched(_energy.gradient, self.shared)
        self._hessian = _batched(_energy.hessian, self.shared)
        self._minimize = _batched(newton_minimize, self.shared, settings)

    def stack(self, coordinates: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """(B, width, 3): each structure's coordinates (default: its own), padding
        atoms parked far apart and the dummy tetrahedron last."""
        if coordinates is None:
            coordinates = [s.system.molecule.coordinates for s in self.sessions]
        if len(coordinates) != len(self.sessions):
            raise ConfigError(f"{len(coordinates)} coordinate sets for a batch of {len(self.sessions)}")
        out = np.zeros((len(self.sessions), self.width, 3))
        n_dummy = 0 if self.shared else len(DUMMY_TETRAHEDRON)
        for b, (x, n) in enumerate(zip(coordinates, self.n_atoms, strict=True)):
            x = np.asarray(x, dtype=float)
            if x.shape != (n, 3):
                raise ConfigError(f"coordinates of shape {x.shape} for structure {b} with {n} atoms")
            out[b, :n] = x
            parked = np.arange(self.width - n_dummy - n)
            out[b, n : self.width - n_dummy, 0] = 2000.0 + 10.0 * parked
            if n_dummy:
                out[b, -n_dummy:] = DUMMY_TETRAHEDRON
        return out

    def _inputs(self, values, coordinates):
        return jnp.asarray(check_values(self.sessions[0].plan, values)), jnp.asarray(self.stack(coordinates))

    def energy(self, values, coordinates=None) -> np.ndarray:
        return np.asarray(self._energy(self.plan, *self._inputs(values, coordinates)))

    def gradient(self, values, coordinates=None) -> list[np.ndarray]:
        g = np.asarray(self._gradient(self.plan, *self._inputs(values, coordinates)))
        return [g[b, :n] for b, n in enumerate(self.n_atoms)]

    def hessian(self, values, coordinates=None) -> list[np.ndarray]:
        """Hartree/Bohr², one (3n, 3n) matrix per structure."""
        h = (
            np.asarray(self._hessian(self.plan, *self._inputs(values, coordinates)))
            / HESSIAN_AU_TO_KCALMOL_A2
        )
        return [h[b, : 3 * n, : 3 * n] for b, n in enumerate(self.n_atoms)]

    def minimize(self, values, coordinates=None) -> list[Minimized]:
        x, e, gnorm, iterations = self._minimize(self.plan, *self._inputs(values, coordinates))
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

    def traceable(self) -> TraceableFunctions:
        """The per-structure traceable functions vmapped over stacked (B, width, 3)
        coordinates with one shared ``values``; outputs keep the padding."""
        if self.shared:
            one = traceable_functions(self.plan, self.settings)
            return TraceableFunctions(
                *(jax.vmap(f, in_axes=(None, 0)) for f in (one.energy, one.gradient, one.hessian, one.relax))
            )
        plan, settings = self.plan, self.settings

        def per_structure(name):
            def f(values, coordinates):
                return jax.vmap(lambda p, x: getattr(traceable_functions(p, settings), name)(values, x))(
                    plan, coordinates
                )

            return f

        return TraceableFunctions(*(per_structure(n) for n in ("energy", "gradient", "hessian", "relax")))
