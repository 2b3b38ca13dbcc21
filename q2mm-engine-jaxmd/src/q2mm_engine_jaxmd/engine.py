"""The ``jax-md`` engine: the JAX engine's physics with non-bonded pairs from jax-md
neighbour lists, in free or periodic (orthorhombic) space.

Every term is the JAX engine's (:mod:`q2mm_engine_jax.terms`), evaluated, assembled
and relaxed by its code (:mod:`q2mm_engine_jax.energy`, :mod:`~q2mm_engine_jax.relax`,
:mod:`~q2mm_engine_jax.batch`). What this engine adds is where the vdW and charge
pairs come from: a :class:`~q2mm_engine_jaxmd.neighbours.NeighbourList` at the
coordinates asked for, turned into the plan's pair blocks by the JAX engine's own
:func:`~q2mm_engine_jax.plan.pair_blocks` with each pair's MM3 rule (scale, explicit
vdW-pair slots) looked up (:mod:`~q2mm_engine_jaxmd.pairs`), padded to the list's
capacity so the compiled programs stay the same while the pairs change. The plan
carries the cutoff switch and the periodic box (minimum images), which the JAX
engine's energy code applies.

Without a cutoff (the default) there is no neighbour list: the plan is the JAX
engine's own, every pair of the structure, and the numbers are the JAX engine's.
"""

from __future__ import annotations

from typing import Any

import attrs
import jax
import jax.numpy as jnp
import numpy as np
from q2mm.engine_base import SessionBase, check_supported
from q2mm.errors import ConfigError
from q2mm.model import MMSystem
from q2mm.protocols import Minimized, TraceableFunctions
from q2mm_engine_jax.engine import CAPABILITIES, JaxEngine, JaxSession
from q2mm_engine_jax.geometry import minimum_image
from q2mm_engine_jax.plan import Plan, build_plan, pair_blocks

from .neighbours import CENTRE_MARGIN, NeighbourList
from .pairs import PairRules

#: Options of this engine; the JAX engine's (relaxation, Hessian assembly) pass through.
OPTIONS = ("cutoff", "switch", "box", "skin", "capacity_multiplier")
#: Relaxations restarted on a fresh list before ``minimize`` gives up.
MAX_LIST_ROUNDS = 20


@attrs.frozen
class SpaceSettings:
    """``cutoff`` Å (None: every pair, no list); ``switch`` Å: width of the shell
    below the cutoff where pairs are switched off smoothly (0 truncates); ``box``
    (3,) Å of an orthorhombic periodic cell or None (free space, unless the structure
    file gives a cell); ``skin`` Å: list radius beyond cutoff, which keeps a list valid
    while atoms move less than skin/2; ``capacity_multiplier``: jax-md's spare room."""

    cutoff: float | None = None
    switch: float = 1.0
    box: tuple[float, float, float] | None = None
    skin: float = 1.0
    capacity_multiplier: float = 1.25

    def __attrs_post_init__(self) -> None:
        if self.cutoff is not None and not self.cutoff > 0:
            raise ConfigError(f"engine 'jax-md': cutoff must be positive, got {self.cutoff!r}")
        if self.cutoff is not None and not 0 <= self.switch < self.cutoff:
            raise ConfigError(f"engine 'jax-md': switch must be in [0, cutoff), got {self.switch!r}")
        if self.box is not None and (len(self.box) != 3 or min(self.box) <= 0):
            raise ConfigError(
                f"engine 'jax-md': box must be three positive lengths [a, b, c], got {self.box!r}"
            )
        if self.skin <= 0 or self.capacity_multiplier <= 0:
            raise ConfigError("engine 'jax-md': skin and capacity_multiplier must be positive")


def structure_box(system: MMSystem, settings: SpaceSettings) -> np.ndarray | None:
    """The orthorhombic cell: the engine's ``box`` option, else the structure file's cell
    (``Molecule.cell``), else None. Refuses a non-orthorhombic cell and a cutoff that
    is not below half the shortest edge (minimum images would then miss pairs)."""
    cell = system.molecule.cell
    if settings.box is not None:
        box = np.asarray(settings.box, dtype=float)
    elif cell is not None:
        if not np.allclose(cell[3:], 90.0):
            raise ConfigError(
                f"{system.molecule.name or 'the structure'}: cell angles {cell[3:]}: only orthorhombic cells"
            )
        box = np.asarray(cell[:3], dtype=float)
    else:
        return None
    if settings.cutoff is None or not settings.cutoff < box.min() / 2:
        raise ConfigError(
            f"a periodic cell {box.tolist()} Å needs a cutoff below half its shortest edge "
            f"({box.min() / 2:g} Å); got cutoff = {settings.cutoff}"
        )
    return box


class JaxMdSession(SessionBase):
    """One prepared structure. Each evaluation at new coordinates brings the
    neighbour list up to date there and runs the JAX engine's code on the resulting
    plan (:class:`q2mm_engine_jax.engine.JaxSession`)."""

    engine_name = "jax-md"
    capabilities = CAPABILITIES

    def __init__(self, system: MMSystem, engine: JaxMdEngine) -> None:
        super().__init__(system)
        self.settings = engine.settings
        space = engine.space
        self.box = structure_box(system, space)
        self.neighbours: NeighbourList | None = None
        if space.cutoff is None:
            self._plan = build_plan(system)
            return
        # The pairs come from the neighbour list: no blocks of the structure's N² pairs.
        switch = (space.cutoff - space.switch, space.cutoff)
        self._base = attrs.evolve(build_plan(system, pairs=False), box=self.box, switch=switch)
        nb = system.nonbonded
        if nb is None or not len(nb.pairs):
            self._plan = self._base
            return
        self.rules = PairRules.from_system(system)
        margin = 2 * CENTRE_MARGIN if self._base.reduction is not None else 0.0
        self.neighbours = NeighbourList(
            self.box, space.cutoff + margin + space.skin, space.skin, space.capacity_multiplier
        )
        #: The list's pairs at the last evaluation and their plan.
        self._last: tuple[np.ndarray, Plan] | None = None

    def plan_at(self, coordinates: np.ndarray) -> Plan:
        """The plan whose pairs are the neighbour list's at ``coordinates`` (the
        structure's whole plan when there is no list), on the device. While the list's
        pairs stay the same (jax-md rebuilds a list only after an atom moved more than
        skin/2) the last plan is reused, its arrays already on the device: passed as
        NumPy arrays, a plan is copied to the device at every call — with the former
        ~190 bytes per pair, over a quarter of an energy and gradient evaluation at
        5,184 atoms (1 million pairs)."""
        if self.neighbours is None:
            return self._plan
        listed = self.neighbours.pairs(coordinates)
        if self._last is not None and np.array_equal(self._last[0], listed):
            return self._last[1]
        n = self.system.molecule.n_atoms
        pairs = listed[listed[:, 0] < n]
        vdw, elec = self.rules.lookup(pairs)
        nb, n_parameters = self.system.nonbonded, self._base.n_parameters
        blocks = pair_blocks(nb, pairs, vdw, elec, self.rules.tables, n_parameters)
        padded = tuple(b.padded(len(listed)) for b in blocks)
        plan = jax.device_put(attrs.evolve(self._base, blocks=self._base.blocks + padded))
        self._last = (listed, plan)
        return plan

    def _session(self, coordinates: np.ndarray) -> JaxSession:
        return JaxSession(self.system, self.plan_at(coordinates), self.settings)

    def _x(self, coordinates) -> np.ndarray:
        x = np.asarray(self.coordinates_or_default(coordinates), dtype=float)
        if x.shape != (self.system.molecule.n_atoms, 3):
            raise ConfigError(f"coordinates of shape {x.shape} for {self.system.molecule.n_atoms} atoms")
        return x

    def energy(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> float:
        x = self._x(coordinates)
        return self._session(x).energy(values, x)

    def gradient(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        x = self._x(coordinates)
        return self._session(x).gradient(values, x)

    def hessian(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        """Hartree/Bohr², the unit of the QM Hessians it is compared with."""
        x = self._x(coordinates)
        return self._session(x).hessian(values, x)

    def _moved(self, a, b):
        """Largest distance an atom moved from ``a`` to ``b`` (minimum image)."""
        d = b - a
        if self.box is not None:
            d = minimum_image(d, self.box)
        return jnp.max(jnp.linalg.norm(d, axis=-1))

    def minimize(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> Minimized:
        """The JAX engine's Newton relaxation on the list at the start; when an atom
        moved more than skin/2 (the list may then miss pairs), again from there on a
        fresh list, until a relaxation stays within its list."""
        x, iterations = self._x(coordinates), 0
        for _ in range(MAX_LIST_ROUNDS):
            result = self._session(x).minimize(values, x)
            iterations += result.iterations
            if (
                self.neighbours is None
                or float(self._moved(x, result.coordinates)) < self.neighbours.skin / 2
            ):
                return attrs.evolve(result, iterations=iterations)
            x = np.asarray(result.coordinates)
        return attrs.evolve(result, converged=False, iterations=iterations)

    def traceable(self, frozen=None) -> TraceableFunctions:
        """The JAX engine's traceable functions on the plan at the structure's own
        coordinates, parameters at call time. Its pairs are valid at coordinates within
        skin/2 of those: elsewhere energy, gradient and Hessian are NaN and a
        relaxation reports not converged — never a result from a stale list."""
        own = self._x(None)
        fns = self._session(own).traceable(frozen)
        if self.neighbours is None:
            return fns
        half_skin = self.neighbours.skin / 2

        def checked(fn):
            def f(values, coordinates=None):
                out = fn(values, coordinates)
                if coordinates is None:
                    return out
                return jnp.where(self._moved(own, jnp.asarray(coordinates)) < half_skin, out, jnp.nan)

            return f

        def relax(values, start):
            x, converged, next_start = fns.relax(values, start)
            return x, converged & (self._moved(own, x) < half_skin), next_start

        return TraceableFunctions(
            checked(fns.energy), checked(fns.gradient), checked(fns.hessian), relax, fns.relax_start
        )


class JaxMdEngine:
    """Options: ``cutoff``, ``switch``, ``box``, ``skin``, ``capacity_multiplier``
    (:class:`SpaceSettings`) and the JAX engine's ``gtol``, ``max_iterations``,
    ``trust_radius``, ``hessian``."""

    name = "jax-md"
    capabilities = CAPABILITIES
    forms = JaxEngine.forms
    term_kinds = JaxEngine.term_kinds

    def __init__(self, **options: Any) -> None:
        space = {k: options.pop(k) for k in OPTIONS if k in options}
        if "box" in space and space["box"] is not None:
            space["box"] = tuple(float(v) for v in space["box"])
        self.space = SpaceSettings(**space)
        try:
            self._jax = JaxEngine(**options)
        except ConfigError as error:
            raise ConfigError(f"engine 'jax-md': {error}; and its own: {', '.join(OPTIONS)}") from None
        self.settings = self._jax.settings

    def prepare(self, system: MMSystem) -> JaxMdSession:
        check_supported(self.name, self.term_kinds, self.forms, system)
        return JaxMdSession(system, self)

    def describe(self) -> dict[str, Any]:
        import jax_md

        return {
            **self._jax.describe(),
            "engine": self.name,
            "jax_md_version": getattr(jax_md, "__version__", "unknown"),
            "space": attrs.asdict(self.space),
        }
