"""Fourier torsions and harmonic impropers (dihedral via atan2: stable at every
conformation; at a collinear triple the dihedral is undefined and its derivative is
the zero subgradient)."""

from __future__ import annotations

import jax.numpy as jnp

from ..geometry import dihedral


def torsion(x, p, c, conventions):
    """k (1 + cos(nφ − phase)), one Fourier component; ``c[0]`` is n."""
    k, phase = p[0], p[1]
    return k * (1.0 + jnp.cos(c[0] * dihedral(x[0], x[1], x[2], x[3]) - phase))


def improper(x, p, c, conventions):
    """k (φ − φ0)² with φ the dihedral i–j–k–l (centre i first, CHARMM/Amber
    order) and φ − φ0 wrapped into (−π, π] so the spring never sees a 2π jump."""
    k, phi0 = p[0], p[1]
    d = dihedral(x[0], x[1], x[2], x[3]) - phi0
    d = jnp.arctan2(jnp.sin(d), jnp.cos(d))
    return k * d * d
