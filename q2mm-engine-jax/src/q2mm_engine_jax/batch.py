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
from .engine import JaxSession, check_values
from .plan import DUMMY_TETRAHEDRON, Block, Plan, Reduction
from .relax import RelaxSettings, implicit_relax, newton_minimize, over_batch


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


def _pad_rows(block: Block, rows: int) -> Block:
    """``block`` with ``rows`` rows per entry: extra rows copy the first at scale 0."""
    scale = np.asarray(block.scale)
    extra = rows - scale.shape[1]
    if extra == 0:
        return block

    def fill(a):
        a = np.asarray(a)
        return np.concatenate([a, np.repeat(a[:, :1], extra, axis=1)], axis=1)

    return Block(
        block.kind,
        np.asarray(block.atoms),
        *(fill(a) for a in (block.slots, block.present, block.fallback, block.constants)),
        np.concatenate([scale, np.zeros((len(scale), extra))], axis=1),
    )


def _pad_block(block: Block | None, like: Block, count: int, dummies: np.ndarray) -> Block:
    """``block`` (or nothing) extended to ``count`` entries of scale 0 on the dummy
    atoms. Padding entries copy the parameters of ``like``'s first entry: a real term
    on the dummy tetrahedron is finite with all its derivatives, so scale 0 gives
    exact zeros (placeholder parameters such as a zero vdW radius would give 0 × NaN)."""
    rows = like.scale.shape[1]
    have = 0 if block is None else len(block)
    extra = count - have
    first = jax.tree_util.tree_map(lambda a: np.asarray(a)[:1], like)
    pad = Block(
        like.kind,
        np.tile(dummies[: like.family.arity], (extra, 1)),
        *(np.repeat(a, extra, axis=0) for a in (first.slots, first.present, first.fallback, first.constants)),
        np.zeros((extra, rows)),
    )
    if block is None:
        return pad
    return jax.tree_util.tree_map(
        lambda a, b: np.concatenate([np.asarray(a), b]), _pad_rows(block, rows), pad
    )


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
    rows: dict[str, int] = {}
    for plan in plans:
        for block in plan.blocks:
            rows[block.kind] = max(rows.get(block.kind, 1), block.scale.shape[1])
            if block.kind not in kinds or len(block) > len(kinds[block.kind]):
                kinds[block.kind] = block
    kinds = {k: _pad_rows(like, rows[k]) for k, like in kinds.items()}
    width = n_real + len(dummies)
    reduced = any(p.reduction is not None for p in plans)
    padded = []
    for plan in plans:
        own = {b.kind: b for b in plan.blocks}
        blocks = tuple(_pad_block(own.get(k), like, len(like), dummies) for k, like in kinds.items())
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
def _batched(function, plan_axis: int | None):
    """``function(plan, values, coordinates)`` vmapped over the structures and jitted;
    cached so that batches of the same shapes share one executable."""
    return jax.jit(over_batch(function, plan_axis))


_minimize_jit = jax.jit(newton_minimize, static_argnums=(3, 4))


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
        #: Axis of the structures in ``plan``: None when they share one plan.
        self.plan_axis = None if self.shared else 0

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

    def _call(self, function, values, coordinates):
        return _batched(function, self.plan_axis)(self.plan, *self._inputs(values, coordinates))

    def energy(self, values, coordinates=None) -> np.ndarray:
        return np.asarray(self._call(_energy.energy, values, coordinates))

    def gradient(self, values, coordinates=None) -> list[np.ndarray]:
        g = np.asarray(self._call(_energy.gradient, values, coordinates))
        return [g[b, :n] for b, n in enumerate(self.n_atoms)]

    def hessian(self, values, coordinates=None) -> list[np.ndarray]:
        """Hartree/Bohr², one (3n, 3n) matrix per structure."""
        h = np.asarray(self._call(_energy.hessian, values, coordinates)) / HESSIAN_AU_TO_KCALMOL_A2
        return [h[b, : 3 * n, : 3 * n] for b, n in enumerate(self.n_atoms)]

    def minimize(self, values, coordinates=None) -> list[Minimized]:
        x, e, gnorm, iterations, *_ = _minimize_jit(
            self.plan, *self._inputs(values, coordinates), self.settings, self.plan_axis
        )
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
        """Pure functions of ``values`` and stacked (B, width, 3) coordinates, one
        result per structure; outputs keep the padding. ``relax`` minimizes the whole
        batch in one loop (:func:`q2mm_engine_jax.relax.newton_minimize`)."""
        plan, axis, settings = self.plan, self.plan_axis, self.settings
        relax_batch = implicit_relax(settings, axis)

        def mapped(fn):
            return lambda values, coordinates: over_batch(fn, axis)(plan, values, coordinates)

        def hessian(values, coordinates):
            return mapped(_energy.hessian)(values, coordinates) / HESSIAN_AU_TO_KCALMOL_A2

        def relax(values, coordinates):
            x, gradient_norm = relax_batch(plan, values, coordinates)
            return x, gradient_norm < settings.gtol

        return TraceableFunctions(mapped(_energy.energy), mapped(_energy.gradient), hessian, relax)
