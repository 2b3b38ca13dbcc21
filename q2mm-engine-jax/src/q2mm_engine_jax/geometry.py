"""Internal coordinates that stay finite, with finite derivatives, at degenerate
geometries.

``sqrt`` has an infinite derivative at 0 and ``arctan2`` a 0/0 one at the origin, so
a linear angle (|a×b| = 0), a torsion whose three atoms are collinear, or a term
whose atoms coincide would give NaN gradients and poison every parameter
gradient of a fit. Each primitive here swaps the offending argument for a harmless
one *inside* ``where`` (the double-``where`` idiom), so the unused branch carries no
NaN into the derivative. At exactly those points the returned derivative is the zero
subgradient; one ulp away the derivatives are the exact ones.
"""

from __future__ import annotations

import jax.numpy as jnp


def safe_sqrt(u):
    """√u with derivative 0 (instead of ∞) at u = 0."""
    positive = u > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, u, 1.0)), 0.0)


def norm(v):
    """Euclidean norm over the last axis, with derivative 0 at the zero vector."""
    return safe_sqrt(jnp.sum(v * v, axis=-1))


def atan2(y, x):
    """``arctan2`` with derivative 0 (instead of 0/0) at the origin."""
    origin = (x == 0) & (y == 0)
    return jnp.where(origin, 0.0, jnp.arctan2(jnp.where(origin, 0.0, y), jnp.where(origin, 1.0, x)))


def distance(a, b):
    return norm(a - b)


def bend_angle(xi, xj, xk):
    """Angle i–j–k at centre j in [0, π], as atan2(|a×b|, a·b): accurate near 0 and
    π where arccos of a normalised dot product loses half its digits. Its gradient
    at exactly 180° is the zero subgradient (the angle has a cone point there); use
    :func:`bend_deviation` where the squared deviation must be smooth."""
    a, b = xi - xj, xk - xj
    return atan2(norm(jnp.cross(a, b)), jnp.dot(a, b))


#: Below this value of tan²(π − θ) the distance from linearity comes from a series.
LINEAR_SERIES_LIMIT = 1e-4


def _atan_sqrt_ratio(x):
    """atan(√x)/√x = 1 − x/3 + x²/5 − x³/7 + x⁴/9 − …, exact to 1e-18 for x < 1e-4."""
    return 1.0 - x * (1.0 / 3.0 - x * (1.0 / 5.0 - x * (1.0 / 7.0 - x / 9.0)))


def bend_deviation(xi, xj, xk, theta0):
    """Δθ = θ − θ0 for the angle i–j–k at centre j, and Δθ² — the latter smooth
    through the linear geometry.

    θ = π − δ with δ = atan2(|a×b|, −a·b) as in :func:`bend_angle`. δ itself has a cone point at
    θ = π (it is |distance from linearity|), but δ² = u h² with u = |a×b|² and
    h = atan(√u/m)/√u (m = −a·b) is smooth there. Near linearity (tan²δ below
    :data:`LINEAR_SERIES_LIMIT`) h comes from its series and Δθ² is expanded as
    (π − θ0)² − 2(π − θ0)δ + δ². So a linear ideal angle (θ0 = π, transition states
    like S_N2's F–C–F) has the exact energy, gradient and Hessian even at exactly
    180°; for θ0 < π the energy has a genuine cusp there and its gradient is the
    zero subgradient."""
    a, b = xi - xj, xk - xj
    cross = jnp.cross(a, b)
    u = jnp.dot(cross, cross)
    m = -jnp.dot(a, b)
    ratio = u / jnp.where(m > 0, m * m, 1.0)
    near = (m > 0) & (ratio < LINEAR_SERIES_LIMIT)
    s = safe_sqrt(u)
    h = _atan_sqrt_ratio(jnp.where(near, ratio, 0.0)) / jnp.where(near, m, 1.0)
    far = atan2(s, m)
    delta = jnp.where(near, s * h, far)
    offset = jnp.pi - theta0
    deviation = offset - delta
    squared = jnp.where(near, offset * offset - 2.0 * offset * delta + u * h * h, deviation * deviation)
    return deviation, squared


def dihedral(xi, xj, xk, xl):
    """IUPAC dihedral i–j–k–l in (−π, π]: atan2(|b2| b1·(b2×b3), (b1×b2)·(b2×b3))."""
    b1, b2, b3 = xj - xi, xk - xj, xl - xk
    n1, n2 = jnp.cross(b1, b2), jnp.cross(b2, b3)
    return atan2(norm(b2) * jnp.dot(b1, n2), jnp.dot(n1, n2))


def allinger_oop(xi, xj, xk, xl):
    """MM3's (Allinger's) out-of-plane angle at trigonal centre j with substituents i,
    k, l, seen from l: the angle between the vector l→j and the plane i–k–l (Tinker's
    opbendtype ALLINGER). Signed; the sign says on which side of the plane j lies."""
    normal = jnp.cross(xi - xl, xk - xl)
    length = norm(normal)
    unit = normal / jnp.where(length > 0, length, 1.0)
    lj = xj - xl
    height = jnp.dot(lj, unit)
    in_plane = norm(lj - height * unit)
    return atan2(height, in_plane)


def minimum_image(d, box):
    """``d`` (…, 3) shifted by whole orthorhombic ``box`` vectors to its shortest image.
    The shift is piecewise constant, so its derivative is zero: derivatives of a term
    on minimum images are those of the term itself."""
    return d - box * jnp.round(d / box)
