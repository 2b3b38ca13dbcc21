"""The term families the engine evaluates: for each, its arity, the parameter fields
it reads (in the order its energy function expects them), optional fields with their
defaults, per-term constants, and the energy of one term as a function of its own
atoms."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import attrs

from . import bend, nonbonded, stretch, torsion


@attrs.frozen
class Family:
    kind: str
    arity: int
    energy: Callable
    fields: tuple[str, ...]
    #: Fields a TermSet may leave out, with the value used instead.
    defaults: Mapping[str, float] = attrs.field(factory=dict, converter=lambda m: MappingProxyType(dict(m)))
    constants: tuple[str, ...] = ()
    #: Acts on vdW centres (MM3 hydrogens moved toward their partners), not atoms.
    centres: bool = False
    #: A pair interaction that a cutoff and its switch apply to (``Plan.switch``).
    cutoff: bool = False
    #: Local Hessians by forward-over-forward mode instead of forward-over-reverse
    #: (``jax.hessian``): whichever ran faster for the family on the nine Rh-enamide
    #: structures (the package README's Performance section).
    forward_hessian: bool = False


#: Families built from ``MMSystem.terms`` (TermSet kind → family).
BONDED = {
    f.kind: f
    for f in (
        Family("bond", 2, stretch.bond, ("k", "r0")),
        Family("urey_bradley", 3, stretch.urey_bradley, ("k", "r0")),
        Family("angle", 3, bend.angle, ("k", "theta0"), forward_hessian=True),
        Family("strbnd", 3, bend.strbnd, ("k1", "k2", "r1_0", "r2_0", "theta0")),
        Family("opbend", 4, bend.opbend, ("k",)),
        Family("torsion", 4, torsion.torsion, ("k", "phase"), constants=("periodicity",)),
        Family("improper", 4, torsion.improper, ("k", "phi0")),
    )
}

#: Families the engine derives from ``MMSystem.nonbonded`` and the dipole TermSet.
#: ``vdw`` acts on vdW centres (see :mod:`q2mm_engine_jax.terms.nonbonded`).
DERIVED = {
    f.kind: f
    for f in (
        Family(
            "vdw",
            2,
            nonbonded.vdw,
            ("radius_i", "radius_j", "epsilon_i", "epsilon_j", "pair_radius", "pair_epsilon"),
            constants=("override",),
            centres=True,
            cutoff=True,
        ),
        Family("coulomb", 2, nonbonded.coulomb, ("q_i", "q_j"), cutoff=True),
        Family(
            "charge_dipole",
            3,
            nonbonded.charge_dipole,
            ("charge", "moment", "position"),
            defaults={"position": 0.5},
        ),
        Family(
            "dipole_pair",
            4,
            nonbonded.dipole_pair,
            ("moment_a", "position_a", "moment_b", "position_b"),
            defaults={"position_a": 0.5, "position_b": 0.5},
        ),
    )
}

FAMILIES = {**BONDED, **DERIVED}

#: Force-field term kinds (``q2mm.model.forcefield.TERM_KINDS`` names) this engine evaluates.
TERM_KINDS = frozenset({*BONDED, "vdw", "vdw_pair", "charge", "dipole"})
