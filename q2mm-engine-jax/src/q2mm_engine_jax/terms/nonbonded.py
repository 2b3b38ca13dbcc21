"""van der Waals, point-charge and MM3 bond-dipole interactions, as 2- to 4-atom
terms so their Hessians assemble from local blocks like the bonded terms do.

van der Waals pairs act between vdW *centres*. MM3 hydrogens (an atom with a
reduction partner) interact through a centre moved toward the atom they are bonded
to: centre = partner + f (atom − partner), f ≈ 0.923; every other atom is its own
centre. The engine maps all atoms to centres once (:mod:`q2mm_engine_jax.energy`),
so a vdW pair is a 2-point term and its derivatives reach the atoms through that
linear map. Charges and dipoles stay on the atoms.

vdW parameters ``p``: radius_i, radius_j, epsilon_i, epsilon_j, pair r*, pair ε;
constant ``c[0]``: 1 where an explicit ``vdw_pair`` row gives r* and ε. r* = R_i +
R_j and ε = √(ε_i ε_j) otherwise. The 1-2/1-3/1-4 scale is the term's scale.

- ``lennard-jones``: ε [(r*/r)¹² − 2 (r*/r)⁶].
- ``buckingham`` (MM3): ε [a exp(−b r/r*) − c (r*/r)⁶]. Bare exp-6 turns over and
  dives to −∞ as r → 0, so an optimizer could fuse two atoms. Below r = r*/2 (where
  exp-6 is still steeply repulsive) the energy follows a wall ε E_w (r*/r)¹² instead,
  E_w = [a exp(−b/2) − c 2⁶] / 2¹² chosen so the energy is continuous at r = r*/2 —
  the same wall Tinker puts under its MM3 Buckingham potential.

√(ε_i ε_j) uses a square root whose derivative is taken as 0 at ε_i ε_j = 0, so a
zero well depth gives a finite (zero) parameter gradient rather than NaN.

With a cutoff (the jax-md engine; ``Plan.switch``) a vdW or charge pair's energy is
multiplied by :func:`switch` of its distance (vdW: between centres, as Tinker's
taper); bond-dipole terms have no cutoff.

Bond dipoles follow MM3's (and Tinker's) convention: the dipole of bond i→j points
along i→j with its moment μ (debye) at ``position`` (fraction from i). Dipole pairs
sharing an atom, and charge–dipole pairs where the dipole touches the charged atom
or one bonded to it, are left out (Tinker's edipole and echgdpl rules).
"""

from __future__ import annotations

import jax.numpy as jnp
from q2mm.model.units import DEBYE_TO_E_A

from ..geometry import distance, norm, safe_sqrt

#: r*/r beyond which the MM3 Buckingham potential is replaced by the r⁻¹² wall.
BUCKINGHAM_WALL = 2.0


def lennard_jones(r, rstar, eps):
    s6 = (rstar / r) ** 6
    return eps * (s6 * s6 - 2.0 * s6)


def buckingham(r, rstar, eps, a, b, c):
    ratio = rstar / r
    inside = ratio > BUCKINGHAM_WALL
    outer = jnp.where(inside, BUCKINGHAM_WALL, ratio)  # keeps the unused branch finite
    exp6 = a * jnp.exp(-b / outer) - c * outer**6
    wall_height = (a * jnp.exp(-b / BUCKINGHAM_WALL) - c * BUCKINGHAM_WALL**6) / BUCKINGHAM_WALL**12
    return eps * jnp.where(inside, wall_height * ratio**12, exp6)


def vdw(x, p, c, conventions):
    """van der Waals energy of two vdW centres."""
    radius_i, radius_j, eps_i, eps_j, pair_rstar, pair_eps = (p[i] for i in range(6))
    override = c[0] > 0
    rstar = jnp.where(override, pair_rstar, radius_i + radius_j)
    eps = jnp.where(override, pair_eps, safe_sqrt(eps_i * eps_j))
    r = distance(x[0], x[1])
    if conventions.vdw_form == "buckingham":
        return buckingham(r, rstar, eps, conventions.vdw_a, conventions.vdw_b, conventions.vdw_c)
    return lennard_jones(r, rstar, eps)


def coulomb(x, p, c, conventions):
    """electric q_i q_j / (D r) between two atoms."""
    return conventions.electric * p[0] * p[1] / (conventions.dielectric * distance(x[0], x[1]))


def charge_dipole(x, p, c, conventions):
    """Point charge (atom 0) and bond dipole (atoms 1→2), Tinker's echgdpl:
    E = electric q μ (d̂·r̂) / (D r²) with r̂ from the charge to the dipole's centre and
    d̂ along the dipole's bond, μ in debye converted to e·Å."""
    q, mu, s = p[0], p[1], p[2]
    d = x[2] - x[1]
    rvec = (x[1] + s * d) - x[0]
    r = norm(rvec)
    return (
        conventions.electric
        * q
        * (mu * DEBYE_TO_E_A)
        * jnp.dot(d, rvec)
        / (conventions.dielectric * norm(d) * r**3)
    )


def dipole_pair(x, p, c, conventions):
    """MM3 bond-dipole interaction between dipoles a (atoms 0→1) and b (atoms 2→3):
    E = electric μ_a μ_b (cos χ − 3 cos α_a cos α_b) / (D r³), μ in debye converted
    to e·Å, each dipole sitting at its ``position`` fraction along its bond (Tinker's
    edipole)."""
    mu_a, s_a, mu_b, s_b = p[0], p[1], p[2], p[3]
    a = x[1] - x[0]
    b = x[3] - x[2]
    rvec = (x[2] + s_b * b) - (x[0] + s_a * a)
    r = norm(rvec)
    la, lb = norm(a), norm(b)
    orientation = (jnp.dot(a, b) - 3.0 * jnp.dot(a, rvec) * jnp.dot(b, rvec) / (r * r)) / (la * lb)
    moments = (mu_a * DEBYE_TO_E_A) * (mu_b * DEBYE_TO_E_A)
    return conventions.electric * moments * orientation / (conventions.dielectric * r**3)


def switch(r, r_on, r_cut):
    """S(r) = 1 for r ≤ r_on, 1 − 10t³ + 15t⁴ − 6t⁵ with t = (r − r_on)/(r_cut − r_on)
    between, 0 for r ≥ r_cut: the quintic whose first and second derivatives vanish at
    both ends, so energies, gradients and Hessians stay continuous as pairs cross the
    switching shell. r_on = r_cut truncates (S jumps from 1 to 0 at r_cut)."""
    if r_on >= r_cut:
        return jnp.where(r < r_cut, 1.0, 0.0)
    t = jnp.clip((r - r_on) / (r_cut - r_on), 0.0, 1.0)
    return 1.0 - t**3 * (10.0 - 15.0 * t + 6.0 * t * t)
