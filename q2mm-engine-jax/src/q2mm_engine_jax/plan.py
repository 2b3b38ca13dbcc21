"""An :class:`~q2mm.model.system.MMSystem` turned into arrays JAX can trace.

A :class:`Plan` holds one :class:`Block` per term family: the atoms of every term,
the parameter-vector slots each term reads, per-term constants and a per-term scale.
vdW and Coulomb pairs, charge–dipole and dipole–dipole interactions become 2-, 3-
and 4-atom blocks here, so the Hessian assembles from local blocks for them too.

A plan covers a batch of structures: coordinates come as (structures, width, 3),
and term atoms index them flattened, atom i of structure b being b · width + i.
:func:`build_plan` makes the plan of one structure; :func:`concatenate` joins plans
of any topologies into one by concatenating their terms — no structure does the
work of another, whatever their sizes (padding the terms of every structure to the
largest, which ``vmap`` needs, cost the nine Rh-enamide structures 30 % more terms).
Only the atoms are padded, up to the widest structure; padding atoms have no terms.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import attrs
import jax
import numpy as np
from q2mm.errors import ConfigError, UnsupportedTermError
from q2mm.model import Conventions, MMSystem, Nonbonded, TermSet

from .terms import BONDED, DERIVED, FAMILIES, Family


@attrs.frozen(eq=False)
class Block:
    """All terms of one family, one entry per atom tuple with the terms on those
    atoms as its rows (the entry's energy is the scaled sum over rows). ``slots``
    index ``values`` extended by one trailing entry; where ``present`` is False the
    term uses ``fallback`` instead."""

    kind: str
    atoms: np.ndarray  # (n, arity) int
    slots: np.ndarray  # (n, rows, fields) int
    present: np.ndarray  # (n, rows, fields) bool
    fallback: np.ndarray  # (n, rows, fields) float
    constants: np.ndarray  # (n, rows, constants) float
    scale: np.ndarray  # (n, rows) float
    #: False when no term reads ``values`` (all frozen, see :mod:`.frozen`): the
    #: energy then never touches ``values``, so no parameter derivative is traced.
    reads_values: bool = True

    @property
    def family(self) -> Family:
        return FAMILIES[self.kind]

    def __len__(self) -> int:
        return int(self.atoms.shape[-2])


@attrs.frozen(eq=False)
class Reduction:
    """Where each atom's vdW centre sits: partner + f (atom − partner), f read from
    ``values`` at ``slot`` where ``reduced`` (MM3 hydrogens), else ``factor`` (1 for an
    atom that is its own centre, the value itself for a frozen reduction factor)."""

    partner: np.ndarray  # (n,) int; the atom itself when not reduced
    slot: np.ndarray  # (n,) int into values extended by one
    reduced: np.ndarray  # (n,) bool
    factor: np.ndarray  # (n,) float
    reads_values: bool = True


@attrs.frozen(eq=False)
class Plan:
    """Everything the energies of a batch of structures need besides ``values`` and
    coordinates (see the module docstring for the layout). ``atom_mask``
    (structures, width) is 1 for real atoms, 0 for padding (rigid-body modes use
    it); ``reduction`` (over the flattened atoms) is None when no atom has a
    reduced vdW centre.

    ``box`` (3,) Å: an orthorhombic periodic cell, every term then evaluated on
    minimum images (:mod:`q2mm_engine_jax.energy`); None in free space. ``switch``
    (r_on, r_cut) Å: pair interactions (``Family.cutoff``) multiplied by a switch that
    is 1 below r_on and 0 beyond r_cut (:func:`q2mm_engine_jax.terms.nonbonded.switch`);
    None: no cutoff. The JAX engine's plans leave both None; the jax-md engine sets them."""

    blocks: tuple[Block, ...]
    atom_mask: np.ndarray
    reduction: Reduction | None
    conventions: Conventions
    width: int
    n_structures: int
    n_parameters: int
    box: np.ndarray | None = None
    switch: tuple[float, float] | None = None


jax.tree_util.register_pytree_node(
    Block,
    lambda b: ((b.atoms, b.slots, b.present, b.fallback, b.constants, b.scale), (b.kind, b.reads_values)),
    lambda aux, children: Block(aux[0], *children, reads_values=aux[1]),
)
jax.tree_util.register_pytree_node(
    Reduction,
    lambda r: ((r.partner, r.slot, r.reduced, r.factor), r.reads_values),
    lambda reads, children: Reduction(*children, reads_values=reads),
)
jax.tree_util.register_pytree_node(
    Plan,
    lambda p: (
        (p.blocks, p.atom_mask, p.reduction, p.box),
        (p.conventions, p.width, p.n_structures, p.n_parameters, p.switch),
    ),
    lambda aux, children: Plan(*children[:3], *aux[:4], box=children[3], switch=aux[4]),
)


def check_values(plan: Plan, values) -> np.ndarray:
    """``values`` as a float array, checked to be one entry per parameter slot of ``plan``."""
    array = np.asarray(values, dtype=float)
    if array.shape != (plan.n_parameters,):
        raise ConfigError(
            f"parameter vector of shape {array.shape} for a structure whose terms use "
            f"{plan.n_parameters} parameters"
        )
    return array


@attrs.define
class _Columns:
    """numpy arrays of one block under construction."""

    atoms: np.ndarray
    slots: np.ndarray
    constants: np.ndarray
    scale: np.ndarray


def _block(family: Family, cols: _Columns, n_parameters: int) -> Block:
    """One block with the terms that act on the same atoms gathered into rows of one
    entry (MM3 torsions: the V1, V2, V3 rows of a dihedral), so the geometry and its
    derivatives are computed once per atom tuple. Groups with fewer rows than the
    largest are filled with copies of their first row at scale 0."""
    atoms = np.asarray(cols.atoms, dtype=np.int64).reshape(-1, family.arity)
    n_fields, n_constants = len(family.fields), len(family.constants)
    slots = np.asarray(cols.slots, dtype=np.int64).reshape(len(atoms), n_fields)
    constants = np.asarray(cols.constants, dtype=float).reshape(len(atoms), n_constants)
    scale = np.asarray(cols.scale, dtype=float)
    unique, group = np.unique(atoms, axis=0, return_inverse=True)
    group = group.ravel()
    order = np.argsort(group, kind="stable")
    counts = np.bincount(group, minlength=len(unique))
    rows = int(counts.max()) if len(counts) else 1
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # take[g, r]: the term in row r of group g (its first term where r ≥ its count).
    r = np.arange(rows)
    take = order[first[:, None] + np.where(r < counts[:, None], r, 0)]
    filled = r < counts[:, None]
    present = slots[take] >= 0
    fallback = np.broadcast_to(
        np.array([family.defaults.get(f, 0.0) for f in family.fields], dtype=float), present.shape
    )
    return Block(
        family.kind,
        np.asarray(unique),
        np.asarray(np.where(present, slots[take], n_parameters)),
        np.asarray(present),
        np.asarray(fallback),
        np.asarray(constants[take]),
        np.asarray(np.where(filled, scale[take], 0.0)),
    )


def _field_columns(terms: TermSet, names: tuple[str, ...], optional: Iterable[str] = ()) -> np.ndarray:
    """Slot columns of ``terms`` in the order ``names`` asks for; −1 where an
    ``optional`` field is absent."""
    columns = []
    for name in names:
        if name in terms.fields:
            columns.append(terms.slots[:, terms.fields.index(name)])
        elif name in optional:
            columns.append(np.full(len(terms), -1))
        else:
            raise UnsupportedTermError(
                f"{terms.kind} terms must carry the field {name!r}; these carry {', '.join(terms.fields)}"
            )
    return np.stack(columns, axis=1) if columns else np.zeros((len(terms), 0), dtype=np.int64)


def _bonded(terms: TermSet, family: Family, n_parameters: int) -> Block:
    if terms.atoms.shape[1:] != (family.arity,):
        raise UnsupportedTermError(
            f"{terms.kind} terms need {family.arity} atoms each, got {terms.atoms.shape}"
        )
    missing = [c for c in family.constants if c not in terms.constants]
    if missing:
        raise UnsupportedTermError(f"{terms.kind} terms lack the constant(s) {', '.join(missing)}")
    constants = np.zeros((len(terms), 0))
    if family.constants:
        constants = np.stack([np.asarray(terms.constants[c], dtype=float) for c in family.constants], axis=1)
    slots = _field_columns(terms, family.fields, family.defaults)
    # A row shared among n terms (MacroModel's wildcard torsions) carries scale 1/n.
    scale = (
        np.asarray(terms.constants["scale"], dtype=float)
        if "scale" in terms.constants
        else np.ones(len(terms))
    )
    return _block(family, _Columns(terms.atoms, slots, constants, scale), n_parameters)


def _dipole_pairs(terms: TermSet, n_parameters: int) -> Block | None:
    """Every pair of bond dipoles that share no atom (Tinker's edipole rule)."""
    family = DERIVED["dipole_pair"]
    own = _field_columns(terms, ("moment", "position"), optional=("position",))
    pairs = [
        (a, b)
        for a, b in itertools.combinations(range(len(terms)), 2)
        if not set(terms.atoms[a].tolist()) & set(terms.atoms[b].tolist())
    ]
    if not pairs:
        return None
    ia, ib = np.array(pairs).T
    atoms = np.concatenate([terms.atoms[ia], terms.atoms[ib]], axis=1)
    slots = np.concatenate([own[ia], own[ib]], axis=1)
    return _block(family, _Columns(atoms, slots, np.zeros((len(ia), 0)), np.ones(len(ia))), n_parameters)


def _bonded_partners(system: MMSystem) -> set[tuple[int, int]]:
    """1-2 pairs (both orders), from the bond terms and the molecule's own bonds."""
    bonds = [tuple(b) for b in system.molecule.bonds or ()]
    if "bond" in system.terms:
        bonds += [tuple(b) for b in system.terms["bond"].atoms.tolist()]
    return {(i, j) for i, j in bonds} | {(j, i) for i, j in bonds}


def _charge_dipoles(system: MMSystem, n_parameters: int) -> Block | None:
    """Every charged atom with every bond dipole that neither contains it nor contains
    an atom bonded to it (Tinker's echgdpl rule)."""
    nb, terms = system.nonbonded, system.terms.get("dipole")
    if nb is None or terms is None or not len(terms) or not (nb.charge_slots >= 0).any():
        return None
    family = DERIVED["charge_dipole"]
    own = _field_columns(terms, ("moment", "position"), optional=("position",))
    bonded = _bonded_partners(system)
    rows = [
        (q, d)
        for q in np.flatnonzero(nb.charge_slots >= 0).tolist()
        for d, (i, j) in enumerate(terms.atoms.tolist())
        if q not in (i, j) and (q, i) not in bonded and (q, j) not in bonded
    ]
    if not rows:
        return None
    q, d = np.array(rows).T
    atoms = np.concatenate([q[:, None], terms.atoms[d]], axis=1)
    slots = np.concatenate([nb.charge_slots[q][:, None], own[d]], axis=1)
    return _block(family, _Columns(atoms, slots, np.zeros((len(q), 0)), np.ones(len(q))), n_parameters)


def pair_blocks(
    nb: Nonbonded,
    pairs: np.ndarray,
    vdw_scale: np.ndarray,
    elec_scale: np.ndarray,
    override: np.ndarray,
    n_parameters: int,
) -> list[Block]:
    """vdW pairs (between vdW centres) and Coulomb pairs (between atoms) of a pair
    list — ``pairs`` (m, 2) with their scales and explicit vdw_pair slots (m, 2) —
    each only where it can be non-zero: a non-zero scale and parameters on both
    atoms. The JAX engine passes every pair of the structure (``Nonbonded.pairs``),
    the jax-md engine the pairs of a neighbour list."""
    i, j = pairs[:, 0], pairs[:, 1]
    radius, epsilon = nb.vdw_slots[:, 0], nb.vdw_slots[:, 1]
    blocks = []
    by_rule = (radius[i] >= 0) & (radius[j] >= 0) & (epsilon[i] >= 0) & (epsilon[j] >= 0)
    vdw = (vdw_scale != 0) & ((override[:, 0] >= 0) | by_rule)
    if vdw.any():
        slots = np.stack(
            [radius[i], radius[j], epsilon[i], epsilon[j], override[:, 0], override[:, 1]], axis=1
        )
        constants = (override[:, :1] >= 0).astype(float)
        cols = _Columns(pairs[vdw], slots[vdw], constants[vdw], vdw_scale[vdw])
        blocks.append(_block(DERIVED["vdw"], cols, n_parameters))
    charge = nb.charge_slots
    coulomb = (elec_scale != 0) & (charge[i] >= 0) & (charge[j] >= 0)
    if coulomb.any():
        slots = np.stack([charge[i], charge[j]], axis=1)[coulomb]
        cols = _Columns(pairs[coulomb], slots, np.zeros((int(coulomb.sum()), 0)), elec_scale[coulomb])
        blocks.append(_block(DERIVED["coulomb"], cols, n_parameters))
    return blocks


def _pairs(system: MMSystem, n_parameters: int) -> list[Block]:
    """The pair blocks of every pair of the structure."""
    nb = system.nonbonded
    if nb is None or not len(nb.pairs):
        return []
    return pair_blocks(
        nb, nb.pairs, nb.vdw_scale, nb.elec_scale, nb.pair_override.reshape(-1, 2), n_parameters
    )


def _reduction(system: MMSystem, n_parameters: int) -> Reduction | None:
    nb = system.nonbonded
    if nb is None or not len(nb.pairs):
        return None
    reduced = (nb.reduction_partner >= 0) & (nb.vdw_slots[:, 2] >= 0)
    if not reduced.any():
        return None
    return Reduction(
        np.asarray(np.where(reduced, nb.reduction_partner, np.arange(len(reduced)))),
        np.asarray(np.where(reduced, nb.vdw_slots[:, 2], n_parameters)),
        np.asarray(reduced),
        np.ones(len(reduced)),
    )


def _highest_slot(system: MMSystem) -> int:
    arrays = [t.slots for t in system.terms.values()]
    nb = system.nonbonded
    if nb is not None:
        arrays += [nb.vdw_slots, nb.charge_slots, nb.pair_override]
    return max((int(a.max()) for a in arrays if a.size), default=-1)


def build_plan(system: MMSystem, pairs: bool = True) -> Plan:
    """Arrays for every term of ``system``; without its vdW and Coulomb pairs when
    ``pairs`` is False (the jax-md engine takes those from a neighbour list: building
    blocks of the structure's N² pairs would cost it N² set-up time and memory).
    Raises UnsupportedTermError naming any term kind or field the engine cannot
    evaluate."""
    n_parameters = system.n_parameters or _highest_slot(system) + 1
    blocks: list[Block] = []
    for kind, terms in system.terms.items():
        if not len(terms):
            continue
        if kind == "dipole":
            dipoles = _dipole_pairs(terms, n_parameters)
            if dipoles is not None:
                blocks.append(dipoles)
        elif kind in BONDED:
            blocks.append(_bonded(terms, BONDED[kind], n_parameters))
        else:
            raise UnsupportedTermError(f"the jax engine cannot evaluate {kind!r} terms")
    charge_dipoles = _charge_dipoles(system, n_parameters)
    if charge_dipoles is not None:
        blocks.append(charge_dipoles)
    if pairs:
        blocks.extend(_pairs(system, n_parameters))
    n_atoms = system.molecule.n_atoms
    return Plan(
        tuple(blocks),
        np.ones((1, n_atoms)),
        _reduction(system, n_parameters),
        system.conventions,
        n_atoms,
        1,
        n_parameters,
    )


def _pad_rows(block: Block, rows: int) -> Block:
    """``block`` with ``rows`` rows per entry: extra rows copy the first at scale 0."""
    scale = np.asarray(block.scale)
    extra = rows - scale.shape[1]
    if extra == 0:
        return block

    def fill(a):
        a = np.asarray(a)
        return np.concatenate([a, np.repeat(a[:, :1], extra, axis=1)], axis=1)

    return attrs.evolve(
        block,
        slots=fill(block.slots),
        present=fill(block.present),
        fallback=fill(block.fallback),
        constants=fill(block.constants),
        scale=np.concatenate([scale, np.zeros((len(scale), extra))], axis=1),
    )


def _joined_reduction(plans: Sequence[Plan], width: int) -> Reduction | None:
    """The plans' vdW-centre maps over the batch's flattened atoms; atoms without a
    reduced centre (and padding atoms) are their own centres."""
    if all(p.reduction is None for p in plans):
        return None
    total = width * len(plans)
    partner, factor = np.arange(total), np.ones(total)
    slot, reduced = np.full(total, plans[0].n_parameters), np.zeros(total, dtype=bool)
    for b, plan in enumerate(plans):
        if plan.reduction is None:
            continue
        red, start = plan.reduction, b * width
        own = slice(start, start + plan.width)
        partner[own] = np.asarray(red.partner) + start
        slot[own], reduced[own], factor[own] = (
            np.asarray(red.slot),
            np.asarray(red.reduced),
            np.asarray(red.factor),
        )
    reads = any(p.reduction is not None and p.reduction.reads_values for p in plans)
    return Reduction(
        np.asarray(partner), np.asarray(slot), np.asarray(reduced), np.asarray(factor), reads_values=reads
    )


def concatenate(plans: Sequence[Plan]) -> Plan:
    """One plan for several one-structure plans on one parameter vector: their terms
    concatenated family by family, their atoms padded to the widest structure."""
    if any(p.n_structures != 1 for p in plans):
        raise ValueError("concatenate joins one-structure plans")
    if len(plans) > 1 and any(p.box is not None or p.switch is not None for p in plans):
        raise ConfigError("periodic or cut-off structures are evaluated one at a time, not batched")
    if len({p.n_parameters for p in plans}) != 1 or len({p.conventions for p in plans}) != 1:
        raise ConfigError("a batch must share one force field (parameter vector and conventions)")
    if len(plans) == 1:
        return plans[0]
    width = max(p.width for p in plans)
    by_kind: dict[str, list[tuple[int, Block]]] = {}
    for b, plan in enumerate(plans):
        for block in plan.blocks:
            by_kind.setdefault(block.kind, []).append((b, block))
    blocks = []
    for members in by_kind.values():
        rows = max(block.scale.shape[1] for _, block in members)
        parts = [
            attrs.evolve(_pad_rows(block, rows), atoms=np.asarray(block.atoms) + b * width)
            for b, block in members
        ]
        joined = jax.tree_util.tree_map(
            lambda *a: np.asarray(np.concatenate([np.asarray(x) for x in a])),
            *[attrs.evolve(p, reads_values=True) for p in parts],
        )
        blocks.append(attrs.evolve(joined, reads_values=any(block.reads_values for _, block in members)))
    mask = np.zeros((len(plans), width))
    for b, plan in enumerate(plans):
        mask[b, : plan.width] = 1.0
    return Plan(
        tuple(blocks),
        np.asarray(mask),
        _joined_reduction(plans, width),
        plans[0].conventions,
        width,
        len(plans),
        plans[0].n_parameters,
    )
