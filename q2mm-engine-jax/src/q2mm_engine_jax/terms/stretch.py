"""Bond stretching and Urey–Bradley 1-3 springs.

Every term function here and in the sibling modules has the same signature,
``(x, p, c, conventions) -> energy``: ``x`` the term's own atoms (arity, 3) in Å,
``p`` its parameters gathered from the force-field vector (canonical units), ``c``
its per-term constants. Functions of a term's own few atoms are what lets the engine
differentiate each term locally and assemble the Hessian from small blocks.
"""

from __future__ import annotations

from ..geometry import distance


def bond(x, p, c, conventions):
    """k Δr² [1 + cs Δr + qs Δr²]; cs = qs = 0 for harmonic force fields."""
    k, r0 = p[0], p[1]
    dr = distance(x[0], x[1]) - r0
    return k * dr * dr * (1.0 + dr * (conventions.bond_cubic + conventions.bond_quartic * dr))


def urey_bradley(x, p, c, conventions):
    """k (r_ik − r0)² between the outer atoms of an angle i–j–k."""
    k, r0 = p[0], p[1]
    dr = distance(x[0], x[2]) - r0
    return k * dr * dr
