"""An :class:`~q2mm.model.system.MMSystem` turned into arrays JAX can trace.

A :class:`Plan` holds one :class:`Block` per term family: the atoms of every term,
the parameter-vector slots each term reads, per-term constants and a per-term scale.
Plans are pytrees, so they can be closed over (one structure), stacked (structures
sharing a topology) or padded to common shapes and vmapped (different topologies).
vdW and Coulomb pairs, charge–dipole and dipole–dipole interactions become 2-, 3-
and 4-atom blocks here, so the Hessian assembles from local blocks for them too.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import attrs
import jax
import jax.numpy as jnp
import numpy as np
from q2mm.errors import UnsupportedTermError
from q2mm.model import Conventions, MMSystem, TermSet

from .terms import BONDED, DERIVED, FAMILIES, Family

#: Padded batches put every padding term on these extra atoms: a fixed tetrahedron
#: far from anything, so padding terms (scale 0) see a well-conditioned geometry and
#: contribute exact zeros, never 0 × NaN.
DUMMY_TETRAHEDRON = (
    np.array([[1.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]]) + 1000.0
)


@attrs.frozen(eq=False)
class Block:
    """All terms of one family, one entry per atom tuple with the terms on those
    atoms as its rows (the entry's energy is the scaled sum over rows). ``slots``
    index ``values`` extended by one trailing entry; where ``present`` is False the
    term uses ``fallback`` instead."""

    kind: str
    atoms: jax.Array  # (n, arity) int
    slots: jax.Array  # (n, rows, fields) int
    present: jax.Array  # (n, rows, fields) bool
    fallback: jax.Array  # (n, rows, fields) float
    constants: jax.Array  # (n, rows, constants) float
    scale: jax.Array  # (n, rows) float

    @property
    def family(self) -> Family:
        return FAMILIES[self.kind]

    def __len__(self) -> int:
        return int(self.atoms.shape[-2])


@attrs.frozen(eq=False)
class Reduction:
    """Where each atom's vdW centre sits: partner + f (atom − partner), f read from
    ``values`` at ``slot`` where ``reduced`` (MM3 hydrogens), else the atom itself."""

    partner: jax.Array  # (n,) int; the atom itself when not reduced
    slot: jax.Array  # (n,) int into values extended by one
    reduced: jax.Array  # (n,) bool


@attrs.frozen(eq=False)
class Plan:
    """Everything one structure's energy needs besides ``values`` and coordinates.
    ``atom_mask`` is 1 for real atoms, 0 for padding (rigid-body modes use it);
    ``reduction`` is None when no atom has a reduced vdW centre."""

    blocks: tuple[Block, ...]
    atom_mask: jax.Array
    reduction: Reduction | None
    conventions: Conventions
    n_atoms: int
    n_parameters: int


jax.tree_util.register_pytree_node(
    Block,
    lambda b: ((b.atoms, b.slots, b.present, b.fallback, b.constants, b.scale), b.kind),
    lambda kind, children: Block(kind, *children),
)
jax.tree_util.register_pytree_node(
    Reduction, lambda r: ((r.partner, r.slot, r.reduced), None), lambda _, children: Reduction(*children)
)
jax.tree_util.register_pytree_node(
    Plan,
    lambda p: ((p.blocks, p.atom_mask, p.reduction), (p.conventions, p.n_atoms, p.n_parameters)),
    lambda aux, children: Plan(*children, *aux),
)


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
        jnp.asarray(unique),
        jnp.asarray(np.where(present, slots[take], n_parameters)),
        jnp.asarray(present),
        jnp.asarray(fallback),
        jnp.asarray(constants[take]),
        jnp.asarray(np.where(filled, scale[take], 0.0)),
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


def _pairs(system: MMSystem, n_parameters: int) -> list[Block]:
    """vdW pairs (between vdW centres) and Coulomb pairs (between atoms), each only
    where it can be non-zero: a non-zero scale and parameters on both atoms."""
    nb = system.nonbonded
    if nb is None or not len(nb.pairs):
        return []
    pairs = nb.pairs
    i, j = pairs[:, 0], pairs[:, 1]
    radius, epsilon = nb.vdw_slots[:, 0], nb.vdw_slots[:, 1]
    override = nb.pair_override.reshape(-1, 2)
    blocks = []
    by_rule = (radius[i] >= 0) & (radius[j] >= 0) & (epsilon[i] >= 0) & (epsilon[j] >= 0)
    vdw = (nb.vdw_scale != 0) & ((override[:, 0] >= 0) | by_rule)
    if vdw.any():
        slots = np.stack(
            [radius[i], radius[j], epsilon[i], epsilon[j], override[:, 0], override[:, 1]], axis=1
        )
        constants = (override[:, :1] >= 0).astype(float)
        cols = _Columns(pairs[vdw], slots[vdw], constants[vdw], nb.vdw_scale[vdw])
        blocks.append(_block(DERIVED["vdw"], cols, n_parameters))
    charge = nb.charge_slots
    coulomb = (nb.elec_scale != 0) & (charge[i] >= 0) & (charge[j] >= 0)
    if coulomb.any():
        slots = np.stack([charge[i], charge[j]], axis=1)[coulomb]
        cols = _Columns(pairs[coulomb], slots, np.zeros((int(coulomb.sum()), 0)), nb.elec_scale[coulomb])
        blocks.append(_block(DERIVED["coulomb"], cols, n_parameters))
    return blocks


def _reduction(system: MMSystem, n_parameters: int) -> Reduction | None:
    nb = system.nonbonded
    if nb is None or not len(nb.pairs):
        return None
    reduced = (nb.reduction_partner >= 0) & (nb.vdw_slots[:, 2] >= 0)
    if not reduced.any():
        return None
    return Reduction(
        jnp.asarray(np.where(reduced, nb.reduction_partner, np.arange(len(reduced)))),
        jnp.asarray(np.where(reduced, nb.vdw_slots[:, 2], n_parameters)),
        jnp.asarray(reduced),
    )


def _highest_slot(system: MMSystem) -> int:
    arrays = [t.slots for t in system.terms.values()]
    nb = system.nonbonded
    if nb is not None:
        arrays += [nb.vdw_slots, nb.charge_slots, nb.pair_override]
    return max((int(a.max()) for a in arrays if a.size), default=-1)


def build_plan(system: MMSystem) -> Plan:
    """Arrays for every term of ``system``. Raises UnsupportedTermError naming any
    term kind or field the engine cannot evaluate."""
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
    blocks.extend(_pairs(system, n_parameters))
    n_atoms = system.molecule.n_atoms
    return Plan(
        tuple(blocks),
        jnp.ones(n_atoms),
        _reduction(system, n_parameters),
        system.conventions,
        n_atoms,
        n_parameters,
    )
