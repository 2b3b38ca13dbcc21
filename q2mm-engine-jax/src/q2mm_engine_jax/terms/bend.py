"""Angle bending, stretch-bend coupling and MM3 out-of-plane bending.

MM3's angle series acts on Δθ in degrees inside the bracket while the prefactor uses
radians (E = k Δθ_rad² [1 + c3 Δθ° + c4 Δθ°² + c5 Δθ°³ + c6 Δθ°⁴]); that is how
Tinker's angleunit 71.94·(π/180)² and the MM3 .fld constants in mdyn·Å/rad² combine.
"""

from __future__ import annotations

import jax.numpy as jnp
from q2mm.model.units import RAD_TO_DEG

from ..geometry import allinger_oop, bend_angle, bend_deviation, distance


def angle_series(k, delta, delta_sq, cubic, quartic, pentic, sextic):
    """k Δ² [1 + c3 Δ° + c4 Δ°² + c5 Δ°³ + c6 Δ°⁴] for Δ in radians (Δ² passed
    separately: see :func:`~q2mm_engine_jax.geometry.bend_deviation`)."""
    deg = delta * RAD_TO_DEG
    return k * delta_sq * (1.0 + deg * (cubic + deg * (quartic + deg * (pentic + deg * sextic))))


def angle(x, p, c, conventions):
    delta, delta_sq = bend_deviation(x[0], x[1], x[2], p[1])
    cv = conventions
    return angle_series(
        p[0], delta, delta_sq, cv.angle_cubic, cv.angle_quartic, cv.angle_pentic, cv.angle_sextic
    )


def strbnd(x, p, c, conventions):
    """(k1 Δr_ij + k2 Δr_kj) Δθ_ijk, centre j; the ideal values are those of the bond
    and angle rows the stretch-bend couples. Linear in Δθ, so it has a cone point at
    a linear angle whatever θ0 is (plain :func:`bend_angle` suffices)."""
    k1, k2, r1_0, r2_0, theta0 = p[0], p[1], p[2], p[3], p[4]
    dr1 = distance(x[0], x[1]) - r1_0
    dr2 = distance(x[2], x[1]) - r2_0
    return (k1 * dr1 + k2 * dr2) * (bend_angle(x[0], x[1], x[2]) - theta0)


def opbend(x, p, c, conventions):
    """k χ² [1 + angle series in χ°] with χ ≥ 0 the Allinger out-of-plane angle of
    centre j seen from atom l (ideal 0: the trigonal centre is planar). As in Tinker,
    the odd powers of the series act on |χ|."""
    chi = jnp.abs(allinger_oop(x[0], x[1], x[2], x[3]))
    cv = conventions
    return angle_series(
        p[0], chi, chi * chi, cv.opbend_cubic, cv.opbend_quartic, cv.opbend_pentic, cv.opbend_sextic
    )
