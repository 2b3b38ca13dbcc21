"""An :class:`~q2mm.model.system.MMSystem` turned into arrays JAX can trace.

A :class:`Plan` holds one block per term family: the atoms of every term, the
parameter-vector slots each term reads, per-term constants and a per-term scale.
vdW and Coulomb pairs, charge–dipole and dipole–dipole interactions become 2-, 3-
and 4-atom blocks here, so the Hessian assembles from local blocks for them too.
Bonded and dipole families are :class:`Block` s, which store every term's slots;
vdW and Coulomb pairs, the many terms of a structure, are :class:`PairBlock` s,
which store two atoms and a rule per pair and look the parameters up by index when
evaluated.

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
import jax.numpy as jnp
import numpy as np
from q2mm.errors import ConfigError, UnsupportedTermError
from q2mm.model import Conventions, MMSystem, Nonbonded, TermSet

from .terms import BONDED, DERIVED, FAMILIES, Family


@attrs.frozen(eq=False)
class Table:
    """Parameter fields read from ``values`` when evaluated: field [..., f] is
    ``values[slots[..., f]]`` (``values`` extended by one trailing entry) where
    ``present``, else ``fallback`` — an absent optional field's default, or a value
    :func:`~q2mm_engine_jax.frozen.freeze` baked in. ``reads_values`` is False when
    nothing is present: the energy then never touches ``values``, so no parameter
    derivative is traced."""

    slots: np.ndarray  # int
    present: np.ndarray  # bool, the shape of slots
    fallback: np.ndarray  # float, the shape of slots
    reads_values: bool = True

    @classmethod
    def of(cls, slots, defaults, n_parameters: int) -> Table:
        """From slots with −1 for an absent field; ``defaults`` (one per field, the
        last axis) stand in for those."""
        slots = np.asarray(slots, dtype=np.int64)
        present = slots >= 0
        fallback = np.broadcast_to(np.asarray(defaults, dtype=float), slots.shape)
        return cls(np.where(present, slots, n_parameters), present, np.asarray(fallback))

    def read(self, values_ext):
        if not self.reads_values:
            return self.fallback
        return jnp.where(self.present, values_ext[self.slots], self.fallback)

    def frozen(self, ext: np.ndarray, varying: np.ndarray) -> Table:
        """Every slot outside ``varying`` read from ``ext`` now (both extended by one)."""
        slots, present = np.asarray(self.slots), np.asarray(self.present)
        keep = present & varying[slots]
        fallback = np.where(present & ~keep, ext[slots], np.asarray(self.fallback))
        return Table(slots, keep, fallback, reads_values=bool(keep.any()))

    def rows_reading(self) -> np.ndarray:
        """Per row (the first axis): whether any of its fields reads ``values``."""
        present = np.asarray(self.present)
        return present.reshape(len(present), -1).any(axis=1)

    @staticmethod
    def stacked(tables: Sequence[Table]) -> Table:
        """The rows of ``tables`` one after another."""
        columns = zip(*(t.children() for t in tables), strict=True)
        return Table(
            *(np.concatenate([np.asarray(a) for a in arrays]) for arrays in columns),
            reads_values=any(t.reads_values for t in tables),
        )

    @staticmethod
    def per_batch_atom(
        tables: dict[int, Table], width: int, n_structures: int, n_parameters: int, fallback: float
    ) -> Table:
        """Per-atom tables of some structures of a batch as one over its flattened
        atoms, structure b's rows from b · width on; every other row (padding atoms,
        structures without a table) reads nothing and is ``fallback``."""
        fields = np.asarray(next(iter(tables.values())).slots).shape[1:]
        slots = np.full((n_structures * width, *fields), n_parameters, dtype=np.int64)
        present, values = np.zeros(slots.shape, dtype=bool), np.full(slots.shape, fallback)
        for b, table in tables.items():
            rows = slice(b * width, b * width + len(np.asarray(table.slots)))
            slots[rows], present[rows], values[rows] = (np.asarray(a) for a in table.children())
        return Table(slots, present, values, reads_values=any(t.reads_values for t in tables.values()))

    def children(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.slots, self.present, self.fallback


@attrs.frozen(eq=False)
class Block:
    """All terms of one family, one entry per atom tuple with the terms on those
    atoms as its rows (the entry's energy is the scaled sum over rows); ``params``
    (entries, rows, fields) holds every term's parameter slots."""

    kind: str
    atoms: np.ndarray  # (n, arity) int
    params: Table  # (n, rows, fields)
    constants: np.ndarray  # (n, rows, constants) float
    scale: np.ndarray  # (n, rows) float

    @property
    def family(self) -> Family:
        return FAMILIES[self.kind]

    @property
    def reads_values(self) -> bool:
        return self.params.reads_values

    def __len__(self) -> int:
        return int(self.atoms.shape[-2])

    def arguments(self, values_ext):
        """(parameters, constants, scale) of every entry: (n, rows, ·) and (n, rows),
        as JAX arrays also where the parameters are frozen constants (the local
        Hessian's custom derivative rule takes no NumPy array)."""
        return jnp.asarray(self.params.read(values_ext)), jnp.asarray(self.constants), jnp.asarray(self.scale)

    def reading(self) -> np.ndarray:
        """Per entry: whether it reads ``values``."""
        return self.params.rows_reading()

    def frozen(self, ext: np.ndarray, varying: np.ndarray) -> Block:
        return attrs.evolve(self, params=self.params.frozen(ext, varying))

    def entry_arrays(self) -> list:
        """The arrays with one row per entry (slicing them all slices the block)."""
        return [self.atoms, *self.params.children(), self.constants, self.scale]

    def with_entry_arrays(self, arrays) -> Block:
        """This block with :meth:`entry_arrays` replaced."""
        atoms, slots, present, fallback, constants, scale = arrays
        params = Table(slots, present, fallback, reads_values=self.reads_values)
        return Block(self.kind, atoms, params, constants, scale)

    def silenced(self, mask: np.ndarray) -> Block:
        """The same entries, those where ``mask`` at scale 0 (same shapes, so the same
        compiled programs)."""
        return attrs.evolve(self, scale=np.where(mask[:, None], 0.0, np.asarray(self.scale)))

    def _rows(self, rows: int) -> Block:
        """This block with ``rows`` rows per entry: extra rows copy the first at scale 0."""
        scale = np.asarray(self.scale)
        extra = rows - scale.shape[1]
        if extra == 0:
            return self

        def fill(a):
            a = np.asarray(a)
            return np.concatenate([a, np.repeat(a[:, :1], extra, axis=1)], axis=1)

        return attrs.evolve(
            self,
            params=Table(*(fill(a) for a in self.params.children()), reads_values=self.reads_values),
            constants=fill(self.constants),
            scale=np.concatenate([scale, np.zeros((len(scale), extra))], axis=1),
        )

    @staticmethod
    def joined(
        members: Sequence[tuple[int, Block]], width: int, n_structures: int, n_parameters: int
    ) -> Block:
        """The blocks of one family from several structures (structure index, block),
        their atoms offset into the batch's flattened atoms (the signature
        :meth:`PairBlock.joined` needs)."""
        rows = max(block.scale.shape[1] for _, block in members)
        parts = [(b, block._rows(rows)) for b, block in members]
        return Block(
            parts[0][1].kind,
            np.concatenate([np.asarray(block.atoms) + b * width for b, block in parts]),
            Table.stacked([block.params for _, block in parts]),
            np.concatenate([np.asarray(block.constants) for _, block in parts]),
            np.concatenate([np.asarray(block.scale) for _, block in parts]),
        )


def _take(table, index):
    """``table[index]``: in NumPy when both are NumPy arrays — a plan closed over by a
    traced function, whose frozen parameters then become constants of the program as
    a :class:`Block`'s do — else traced."""
    if isinstance(table, np.ndarray) and isinstance(index, np.ndarray):
        return table[index]
    return jnp.asarray(table)[index]


#: The rule of padding entries and of entries a frozen plan's constant part leaves
#: out (:meth:`PairBlock.silenced`): row 0 of every rule table, scale 0.
SILENT = 0


@attrs.frozen(eq=False)
class PairBlock:
    """vdW or Coulomb pairs: per pair only its two atoms and its rule (int32, 12
    bytes; a :class:`Block` stores ~130 bytes per vdW pair — slots, flags, fallbacks,
    constants and scale), the parameters looked up by index when evaluated. The
    family's fields come in pairs read per atom (vdW radius and epsilon, charge:
    ``per_atom``, one row per atom of the batch's flattened atoms) followed by the
    fields of the pair's rule (an explicit vdw_pair row's r* and ε: ``per_rule``). A
    rule is one combination of scale (MM3's 1-2/1-3/1-4 rules) and explicit vdW-pair
    slots, of which a structure has a handful; row :data:`SILENT` has scale 0.

    The jax-md engine's neighbour lists hold ~200 pairs per atom: as :class:`Block` s
    at ~190 bytes a pair, copied to the device at every call, they made its time per
    pair grow with N (its README's scaling section)."""

    kind: str
    atoms: np.ndarray  # (m, 2) int32
    rule: np.ndarray  # (m,) int32 row of per_rule, constants and scale
    per_atom: Table  # (atoms, fields read per atom)
    per_rule: Table  # (rules, fields of the pair's rule)
    constants: np.ndarray  # (rules, constants) float
    scale: np.ndarray  # (rules,) float

    @property
    def family(self) -> Family:
        return FAMILIES[self.kind]

    @property
    def reads_values(self) -> bool:
        return self.per_atom.reads_values or self.per_rule.reads_values

    def __len__(self) -> int:
        return int(self.atoms.shape[-2])

    def arguments(self, values_ext):
        """(parameters, constants, scale) of every pair as one-row entries: (m, 1, ·)
        and (m, 1), the fields in the family's order (i's and j's value of each field
        read per atom, then the rule's)."""
        i, j, rule = self.atoms[:, 0], self.atoms[:, 1], self.rule
        own = self.per_atom.read(values_ext)
        fields = [_take(own, i), _take(own, j), _take(self.per_rule.read(values_ext), rule)]
        xp = np if all(isinstance(f, np.ndarray) for f in fields) else jnp
        both = xp.stack(fields[:2], axis=-1).reshape(len(self), -1)
        params = xp.concatenate([both, fields[2]], axis=-1)
        constants, scale = _take(self.constants, rule), _take(self.scale, rule)
        return tuple(jnp.asarray(a)[:, None] for a in (params, constants, scale))

    def reading(self) -> np.ndarray:
        atoms, rule = np.asarray(self.atoms), np.asarray(self.rule)
        own = self.per_atom.rows_reading()
        return own[atoms[:, 0]] | own[atoms[:, 1]] | self.per_rule.rows_reading()[rule]

    def frozen(self, ext: np.ndarray, varying: np.ndarray) -> PairBlock:
        return attrs.evolve(
            self, per_atom=self.per_atom.frozen(ext, varying), per_rule=self.per_rule.frozen(ext, varying)
        )

    def entry_arrays(self) -> list:
        return [self.atoms, self.rule]

    def with_entry_arrays(self, arrays) -> PairBlock:
        atoms, rule = arrays
        return attrs.evolve(self, atoms=atoms, rule=rule)

    def silenced(self, mask: np.ndarray) -> PairBlock:
        return attrs.evolve(self, rule=np.where(mask, SILENT, np.asarray(self.rule)).astype(np.int32))

    def padded(self, entries: int) -> PairBlock:
        """``entries`` pairs: copies of the first under the silent rule, so the programs
        compiled for a neighbour list's capacity serve every pair set it holds."""
        extra = entries - len(self)
        if extra <= 0:
            return self
        atoms, rule = np.asarray(self.atoms), np.asarray(self.rule)
        return attrs.evolve(
            self,
            atoms=np.concatenate([atoms, np.repeat(atoms[:1], extra, axis=0)]),
            rule=np.concatenate([rule, np.full(extra, SILENT, dtype=np.int32)]),
        )

    @staticmethod
    def joined(
        members: Sequence[tuple[int, PairBlock]], width: int, n_structures: int, n_parameters: int
    ) -> PairBlock:
        """The pair blocks of one family from several structures (structure index,
        block): atoms offset into the batch's flattened atoms, each structure's
        per-atom rows at its own offset (padding atoms read nothing), rule tables
        stacked."""
        blocks = [block for _, block in members]
        offsets = np.cumsum([0] + [len(np.asarray(block.scale)) for block in blocks])
        return PairBlock(
            blocks[0].kind,
            np.concatenate([np.asarray(block.atoms) + b * width for b, block in members]).astype(np.int32),
            np.concatenate(
                [np.asarray(block.rule) + o for block, o in zip(blocks, offsets[:-1], strict=True)]
            ).astype(np.int32),
            Table.per_batch_atom(
                {b: block.per_atom for b, block in members}, width, n_structures, n_parameters, 0.0
            ),
            Table.stacked([block.per_rule for block in blocks]),
            np.concatenate([np.asarray(block.constants) for block in blocks]),
            np.concatenate([np.asarray(block.scale) for block in blocks]),
        )


@attrs.frozen(eq=False)
class Reduction:
    """Where each atom's vdW centre sits: partner + f (atom − partner), f from
    ``factor`` — a parameter slot for a reduced atom (MM3 hydrogens), else 1 (an atom
    that is its own centre)."""

    partner: np.ndarray  # (n,) int; the atom itself when not reduced
    factor: Table  # (n,)


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

    blocks: tuple[Block | PairBlock, ...]
    atom_mask: np.ndarray
    reduction: Reduction | None
    conventions: Conventions
    width: int
    n_structures: int
    n_parameters: int
    box: np.ndarray | None = None
    switch: tuple[float, float] | None = None


jax.tree_util.register_pytree_node(
    Table,
    lambda t: ((t.slots, t.present, t.fallback), t.reads_values),
    lambda reads, children: Table(*children, reads_values=reads),
)
jax.tree_util.register_pytree_node(
    Block,
    lambda b: ((b.atoms, b.params, b.constants, b.scale), b.kind),
    lambda kind, children: Block(kind, *children),
)
jax.tree_util.register_pytree_node(
    PairBlock,
    lambda b: ((b.atoms, b.rule, b.per_atom, b.per_rule, b.constants, b.scale), b.kind),
    lambda kind, children: PairBlock(kind, *children),
)
jax.tree_util.register_pytree_node(
    Reduction,
    lambda r: ((r.partner, r.factor), None),
    lambda _, children: Reduction(*children),
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


def unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(rows, axis=0, return_inverse=True)`` — the distinct rows in
    lexicographic order and each row's index among them — and the stable order that
    sorts ``rows`` into them (rows grouped, each group in its original order). By one
    ``lexsort`` of the columns: ``np.unique`` with an axis sorts a structured view of
    the rows, 3–4× slower (1.1 s against 0.28 s for a million pairs)."""
    order = np.lexsort(rows.T[::-1])
    ordered = rows[order]
    new = np.ones(len(rows), dtype=bool)
    np.any(ordered[1:] != ordered[:-1], axis=1, out=new[1:])
    inverse = np.empty(len(rows), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return ordered[new], inverse, order


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
    unique, group, order = unique_rows(atoms)
    counts = np.bincount(group, minlength=len(unique))
    rows = int(counts.max()) if len(counts) else 1
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # take[g, r]: the term in row r of group g (its first term where r ≥ its count).
    r = np.arange(rows)
    take = order[first[:, None] + np.where(r < counts[:, None], r, 0)]
    filled = r < counts[:, None]
    return Block(
        family.kind,
        unique,
        Table.of(slots[take], _defaults(family.fields, family), n_parameters),
        np.asarray(constants[take]),
        np.asarray(np.where(filled, scale[take], 0.0)),
    )


def _defaults(fields: Sequence[str], family: Family) -> list[float]:
    """What stands in for each of ``fields`` where a term has no slot for it."""
    return [family.defaults.get(f, 0.0) for f in fields]


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


@attrs.frozen(eq=False)
class RuleTables:
    """The rule tables of pair blocks (:class:`PairBlock`): vdW rules (scale, explicit
    vdw_pair radius and epsilon slots, −1 for none) and Coulomb rules (scale), each
    table's row :data:`SILENT` with scale 0 and no explicit slots."""

    vdw_scale: np.ndarray  # (rules,)
    vdw_override: np.ndarray  # (rules, 2) int
    elec_scale: np.ndarray  # (rules,)

    @classmethod
    def of(
        cls, vdw_scale: np.ndarray, elec_scale: np.ndarray, override: np.ndarray
    ) -> tuple[RuleTables, np.ndarray, np.ndarray]:
        """The tables of pairs with these scales and explicit vdW-pair slots (m, 2),
        and each pair's vdW and Coulomb rule (m,) int32."""
        vdw = np.column_stack([np.asarray(vdw_scale, dtype=float), override])
        vdw_rules, vdw_rule, _ = unique_rows(np.concatenate([[[0.0, -1.0, -1.0]], vdw]))
        elec_rules, elec_rule, _ = unique_rows(np.concatenate([[0.0], elec_scale])[:, None])
        # The silent row sorts first: scales are never negative, slots never below −1.
        assert vdw_rule[0] == SILENT and elec_rule[0] == SILENT
        rules = cls(vdw_rules[:, 0], vdw_rules[:, 1:].astype(np.int64), elec_rules[:, 0])
        return rules, vdw_rule[1:].astype(np.int32), elec_rule[1:].astype(np.int32)


def pair_blocks(
    nb: Nonbonded,
    pairs: np.ndarray,
    vdw_rule: np.ndarray,
    elec_rule: np.ndarray,
    rules: RuleTables,
    n_parameters: int,
) -> list[PairBlock]:
    """vdW pairs (between vdW centres) and Coulomb pairs (between atoms) of a pair
    list — ``pairs`` (m, 2) with their rules in ``rules`` — each only where it can be
    non-zero: a non-zero scale and parameters on both atoms. The JAX engine passes
    every pair of the structure (``Nonbonded.pairs``), the jax-md engine the pairs of
    a neighbour list."""
    i, j = pairs[:, 0], pairs[:, 1]
    radius, epsilon = nb.vdw_slots[:, 0], nb.vdw_slots[:, 1]
    blocks = []
    explicit = rules.vdw_override[:, 0] >= 0
    by_rule = (radius[i] >= 0) & (radius[j] >= 0) & (epsilon[i] >= 0) & (epsilon[j] >= 0)
    vdw = (rules.vdw_scale[vdw_rule] != 0) & (explicit[vdw_rule] | by_rule)
    if vdw.any():
        family = DERIVED["vdw"]
        blocks.append(
            PairBlock(
                "vdw",
                pairs[vdw].astype(np.int32),
                vdw_rule[vdw],
                Table.of(nb.vdw_slots[:, :2], _defaults(family.fields[:4:2], family), n_parameters),
                Table.of(rules.vdw_override, _defaults(family.fields[4:], family), n_parameters),
                explicit[:, None].astype(float),
                rules.vdw_scale,
            )
        )
    charge = nb.charge_slots
    coulomb = (rules.elec_scale[elec_rule] != 0) & (charge[i] >= 0) & (charge[j] >= 0)
    if coulomb.any():
        family = DERIVED["coulomb"]
        none = np.zeros((len(rules.elec_scale), 0), dtype=np.int64)
        blocks.append(
            PairBlock(
                "coulomb",
                pairs[coulomb].astype(np.int32),
                elec_rule[coulomb],
                Table.of(charge[:, None], _defaults(family.fields[:1], family), n_parameters),
                Table.of(none, [], n_parameters),
                np.zeros((len(rules.elec_scale), 0)),
                rules.elec_scale,
            )
        )
    return blocks


def _pairs(system: MMSystem, n_parameters: int) -> list[PairBlock]:
    """The pair blocks of every pair of the structure."""
    nb = system.nonbonded
    if nb is None or not len(nb.pairs):
        return []
    rules, vdw, elec = RuleTables.of(nb.vdw_scale, nb.elec_scale, nb.pair_override.reshape(-1, 2))
    return pair_blocks(nb, nb.pairs, vdw, elec, rules, n_parameters)


def _reduction(system: MMSystem, n_parameters: int) -> Reduction | None:
    nb = system.nonbonded
    if nb is None or not len(nb.pairs):
        return None
    reduced = (nb.reduction_partner >= 0) & (nb.vdw_slots[:, 2] >= 0)
    if not reduced.any():
        return None
    return Reduction(
        np.asarray(np.where(reduced, nb.reduction_partner, np.arange(len(reduced)))),
        Table.of(np.where(reduced, nb.vdw_slots[:, 2], -1), 1.0, n_parameters),
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


def _joined_reduction(plans: Sequence[Plan], width: int) -> Reduction | None:
    """The plans' vdW-centre maps over the batch's flattened atoms; atoms without a
    reduced centre (and padding atoms) are their own centres."""
    own = {b: p.reduction for b, p in enumerate(plans) if p.reduction is not None}
    if not own:
        return None
    partner = np.arange(width * len(plans))
    for b, red in own.items():
        partner[b * width : b * width + len(np.asarray(red.partner))] = np.asarray(red.partner) + b * width
    factors = {b: red.factor for b, red in own.items()}
    return Reduction(partner, Table.per_batch_atom(factors, width, len(plans), plans[0].n_parameters, 1.0))


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
    by_kind: dict[str, list[tuple[int, Block | PairBlock]]] = {}
    for b, plan in enumerate(plans):
        for block in plan.blocks:
            by_kind.setdefault(block.kind, []).append((b, block))
    n_parameters = plans[0].n_parameters
    blocks = tuple(
        type(members[0][1]).joined(members, width, len(plans), n_parameters) for members in by_kind.values()
    )
    mask = np.zeros((len(plans), width))
    for b, plan in enumerate(plans):
        mask[b, : plan.width] = 1.0
    return Plan(
        blocks,
        np.asarray(mask),
        _joined_reduction(plans, width),
        plans[0].conventions,
        width,
        len(plans),
        n_parameters,
    )
