"""What an engine is handed: one structure's terms, each pointing at parameter slots.

Engines never look up force-field rows themselves. Topology perception and parameter
assignment (``q2mm.topology``) turn a :class:`~q2mm.model.molecule.Molecule` plus a
:class:`~q2mm.model.forcefield.ForceField` into an :class:`MMSystem`; an engine then
evaluates energies for a flat parameter vector ``values`` laid out as
``ForceField.vector()`` — so fitted parameters are gathered by index, which is the
same code on NumPy and inside ``jax.jit``.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import numpy as np

from .forcefield import Conventions, FunctionalForm
from .frozen import frozen_mapping
from .molecule import Molecule


def _int_array(value) -> np.ndarray:
    a = np.asarray(value, dtype=np.int64)
    a.setflags(write=False)
    return a


def _constants(value) -> Mapping[str, np.ndarray]:
    out = {}
    for k, v in dict(value).items():
        a = np.asarray(v)
        a.setflags(write=False)
        out[k] = a
    return frozen_mapping(out)


@attrs.frozen(eq=False)
class TermSet:
    """All terms of one kind in a structure.

    ``atoms`` (n, arity) are 0-based atom indices; ``slots`` (n, len(fields)) index the
    force field's parameter vector; ``constants`` hold per-term values that are not
    parameters (torsion periodicity, the stretch-bend's bonded pair order, …). A slot of
    −1 marks an optional field the row does not carry (a dipole's ``position``); the
    engine then uses that field's documented default.

    Term kinds and their atom order:

    - ``bond`` (i, j): fields k, r0
    - ``angle`` (i, j, k) centre j: fields k, theta0
    - ``strbnd`` (i, j, k) centre j: fields k1, k2, r1_0, r2_0, theta0 — the ideal
      values are slots of the bond/angle rows the stretch-bend couples
    - ``urey_bradley`` (i, j, k): fields k, r0 (distance i–k)
    - ``torsion`` (i, j, k, l): fields k, phase; constants ``periodicity`` and optionally
      ``scale`` (energy multiplier: MacroModel divides a wildcard substructure torsion
      among the torsions about its bond) — one Fourier component per term, so a row
      with k1..k3 yields up to three terms
    - ``improper`` (i, j, k, l) centre i: fields k, phi0
    - ``opbend`` (i, j, k, l) centre j, out-of-plane atom l: field k; χ is the angle
      between the bond l→j and the plane i–k–l (Tinker's ALLINGER definition, which
      both engines implement)
    - ``dipole`` (i, j): fields moment, position (bond dipole from i to j)
    """

    kind: str
    atoms: np.ndarray = attrs.field(converter=_int_array)
    slots: np.ndarray = attrs.field(converter=_int_array)
    fields: tuple[str, ...] = attrs.field(converter=tuple)
    constants: Mapping[str, np.ndarray] = attrs.field(factory=dict, converter=_constants)

    def __len__(self) -> int:
        return int(self.atoms.shape[0])


@attrs.frozen(eq=False)
class Nonbonded:
    """Per-atom nonbonded parameters and the pair list with its exclusion scaling.

    ``vdw_slots`` (n_atoms, 3): radius, epsilon, reduction slots (reduction slot −1
    means none); ``reduction_partner`` (n_atoms,): the atom an MM3 hydrogen's vdW
    centre moves toward (−1 if none); ``charge_slots`` (n_atoms,) or −1.
    ``pairs`` (m, 2) with ``vdw_scale`` and ``elec_scale`` (m,) already folding in the
    1-2/1-3/1-4 rules; pairs with both scales zero are left out. ``pair_override``
    (m, 2): radius/epsilon slots of an explicit ``vdw_pair`` row, or −1.
    """

    vdw_slots: np.ndarray = attrs.field(converter=_int_array)
    reduction_partner: np.ndarray = attrs.field(converter=_int_array)
    charge_slots: np.ndarray = attrs.field(converter=_int_array)
    pairs: np.ndarray = attrs.field(converter=_int_array)
    vdw_scale: np.ndarray = attrs.field(converter=lambda v: np.asarray(v, dtype=float))
    elec_scale: np.ndarray = attrs.field(converter=lambda v: np.asarray(v, dtype=float))
    pair_override: np.ndarray = attrs.field(converter=_int_array)


@attrs.frozen(eq=False)
class MMSystem:
    """One structure ready for an engine. ``terms`` maps kind → :class:`TermSet`."""

    molecule: Molecule
    form: FunctionalForm
    conventions: Conventions
    terms: Mapping[str, TermSet] = attrs.field(converter=frozen_mapping)
    nonbonded: Nonbonded | None = None
    n_parameters: int = 0

    @property
    def term_kinds(self) -> set[str]:
        kinds = {k for k, t in self.terms.items() if len(t)}
        if self.nonbonded is not None and len(self.nonbonded.pairs):
            kinds.add("vdw")
            if (self.nonbonded.charge_slots >= 0).any():
                kinds.add("charge")
        return kinds
