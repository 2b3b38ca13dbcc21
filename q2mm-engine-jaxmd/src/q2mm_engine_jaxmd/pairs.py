"""The rules (scale and explicit vdW-pair slots, :class:`q2mm_engine_jax.plan.RuleTables`)
of any atom pair, from a structure's :class:`~q2mm.model.Nonbonded`.

``Nonbonded.pairs`` lists every pair of a structure with its 1-2/1-3/1-4 scales
already folded in (MM3's own rules, not jax-md's 0.5 default) — N² entries. A
neighbour list names a few pairs per atom, so each needs its rules looked up. Most
pairs are plain (scales 1, vdW parameters by the combination rule); the exceptions
are the pairs within three bonds and any pair whose scales are not 1. Explicit
``vdw_pair`` rows apply by atom type, so they become a table over vdW classes (atoms
with the same radius and epsilon slots). The rule tables cover every pair of the
structure, so they stay the same for every list: the programs compiled for one list
serve the next.

:meth:`PairRules.from_system` checks that ``Nonbonded.pairs`` is exactly "every pair
outside the exceptions, plus the exceptions it scales" and that every vdW-pair row is
a function of the two classes; a pair list it cannot reproduce is refused rather than
evaluated differently.
"""

from __future__ import annotations

import attrs
import numpy as np
from q2mm.errors import ConfigError
from q2mm.model import MMSystem, Nonbonded
from q2mm_engine_jax.plan import RuleTables


def _keys(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    return np.minimum(i, j).astype(np.int64) * n + np.maximum(i, j)


def _within_three_bonds(system: MMSystem) -> np.ndarray:
    """Keys of the pairs 1–3 bonds apart (the bond graph: the molecule's bonds and the
    bond terms', as the JAX engine reads them)."""
    n = system.molecule.n_atoms
    neighbours: list[set[int]] = [set() for _ in range(n)]
    bonds = [tuple(b) for b in system.molecule.bonds or ()]
    if "bond" in system.terms:
        bonds += [tuple(b) for b in system.terms["bond"].atoms.tolist()]
    for i, j in bonds:
        neighbours[i].add(j)
        neighbours[j].add(i)
    near = set()
    for a in range(n):
        shell, seen = {a}, {a}
        for _ in range(3):
            shell = {c for b in shell for c in neighbours[b]} - seen
            seen |= shell
        near.update(_keys(n, np.full(len(seen) - 1, a), np.array(sorted(seen - {a}))).tolist())
    return np.array(sorted(near), dtype=np.int64)


def _find(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index, found) of each key in ``sorted_keys``; the index is len(sorted_keys)
    (one past the end: the sentinel row of :class:`PairRules`) where not found."""
    at = np.searchsorted(sorted_keys, keys)
    found = at < len(sorted_keys)
    found[found] = sorted_keys[at[found]] == keys[found]
    return np.where(found, at, len(sorted_keys)), found


def _vdw_classes(nb: Nonbonded) -> np.ndarray:
    """Per atom, the index of its (radius slot, epsilon slot) row among the unique ones."""
    _, classes = np.unique(nb.vdw_slots[:, :2], axis=0, return_inverse=True)
    return classes.ravel()


@attrs.frozen(eq=False)
class PairRules:
    """Exceptions (sorted keys i·n + j, i < j, with their vdW and Coulomb rules, and
    one trailing sentinel row for every other pair: its Coulomb rule scale 1), the
    vdW rule of every other pair by vdW class, and the rule tables."""

    n_atoms: int
    keys: np.ndarray
    vdw_rule: np.ndarray  # (exceptions + 1,) int32
    elec_rule: np.ndarray  # (exceptions + 1,) int32
    classes: np.ndarray  # (n_atoms,)
    class_rule: np.ndarray  # (classes, classes) int32
    tables: RuleTables

    @classmethod
    def from_system(cls, system: MMSystem) -> PairRules:
        nb, n = system.nonbonded, system.molecule.n_atoms
        if nb is None:
            raise ConfigError("pair rules of a structure without non-bonded terms")
        # Nonbonded.pairs has N² rows: each is looked up among the few exception keys
        # (O(N² log exceptions)), never sorted or reordered itself.
        pairs = nb.pairs.reshape(-1, 2)
        override = nb.pair_override.reshape(-1, 2)
        listed = _keys(n, pairs[:, 0], pairs[:, 1])
        scaled = (nb.vdw_scale != 1.0) | (nb.elec_scale != 1.0)
        keys = np.union1d(_within_three_bonds(system), listed[scaled])
        at, exception = _find(keys, listed)
        plain = ~exception
        expected = n * (n - 1) // 2 - len(keys)
        if int(plain.sum()) != expected:
            raise ConfigError(
                f"the non-bonded pair list of {system.molecule.name or 'the structure'} holds "
                f"{int(plain.sum())} unscaled pairs beyond three bonds, not all {expected}: the jax-md "
                "engine evaluates every such pair its neighbour list finds"
            )
        classes = _vdw_classes(nb)
        n_classes = int(classes.max()) + 1 if n else 0
        table = np.full((n_classes, n_classes, 2), -1, dtype=np.int64)
        ci, cj, own = classes[pairs[plain, 0]], classes[pairs[plain, 1]], override[plain]
        table[ci, cj] = own
        table[cj, ci] = own
        if not np.array_equal(table[ci, cj], own):
            raise ConfigError(
                "explicit vdW-pair parameters that differ between pairs of the same vdW classes: "
                "the jax-md engine applies vdw_pair rows by class"
            )
        # Exceptions absent from the list keep both scales 0; a sentinel row (scales 1)
        # answers the pairs that are no exception; then one row per pair of classes.
        rows = np.flatnonzero(exception)
        vdw, elec = np.zeros(len(keys) + 1), np.zeros(len(keys) + 1)
        pair_override = np.full((len(keys) + 1, 2), -1, dtype=np.int64)
        vdw[at[rows]] = nb.vdw_scale[rows]
        elec[at[rows]] = nb.elec_scale[rows]
        pair_override[at[rows]] = override[rows]
        vdw[-1] = elec[-1] = 1.0
        by_class = np.ones(n_classes * n_classes)
        tables, vdw_rule, elec_rule = RuleTables.of(
            np.concatenate([vdw, by_class]),
            np.concatenate([elec, by_class]),
            np.concatenate([pair_override, table.reshape(-1, 2)]),
        )
        exceptions = len(keys) + 1
        class_rule = vdw_rule[exceptions:].reshape(n_classes, n_classes)
        return cls(n, keys, vdw_rule[:exceptions], elec_rule[:exceptions], classes, class_rule, tables)

    def lookup(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(vdW rule, Coulomb rule) of each pair (m, 2), rows of :attr:`tables`."""
        i, j = pairs[:, 0], pairs[:, 1]
        at, found = _find(self.keys, _keys(self.n_atoms, i, j))
        vdw = np.where(found, self.vdw_rule[at], self.class_rule[self.classes[i], self.classes[j]])
        return vdw, self.elec_rule[at]
