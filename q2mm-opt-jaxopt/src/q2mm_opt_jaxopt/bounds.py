"""Box bounds for methods that have none of their own.

Two ways, chosen per method family (see the package README):

- *projection* (first-order methods: projected gradient descent, Adam, AdamW, SGD):
  after every step the parameters are clipped into the box. For a method that takes
  one gradient step at a time this is exactly the projected-gradient method; an
  active bound is reached exactly.
- *transform* (quasi-Newton methods without bounds: ``jaxopt.LBFGS``,
  ``optax.lbfgs``): the method works on an unconstrained z with y = T(z). Clipping
  after a quasi-Newton step would corrupt the secant pairs its curvature model is
  built from, and its line search would probe points outside the box; a smooth
  bijection keeps both valid. T per coordinate: ``lower + (upper - lower)·σ(z)``
  with both bounds finite, ``lower + softplus(z)`` / ``upper - softplus(-z)`` with
  one, the identity with none. An active bound is approached, never crossed: the
  optimum lies at |z| → ∞, where the gradient in z vanishes like the distance to the
  bound, so such a run ends within ~gtol/|∂f/∂y| of the bound.

Bounds arrive as traced arrays (±inf for a missing side), so one compiled program
serves any bounds.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

#: A start on (or outside) a bound is moved this fraction of the interval inside it
#: before the transform is inverted, so that z stays finite.
EDGE = 1e-6


def project(y, lower, upper):
    return jnp.clip(y, lower, upper)


def _sides(lower, upper):
    """Masks of the finite sides and the bounds with infinities replaced by 0, so that
    every branch below stays finite (an unselected NaN branch would still poison the
    gradient through ``where``)."""
    has_lower, has_upper = jnp.isfinite(lower), jnp.isfinite(upper)
    return has_lower, has_upper, jnp.where(has_lower, lower, 0.0), jnp.where(has_upper, upper, 0.0)


def _pick(has_lower, has_upper, both, lower_only, upper_only, neither):
    return jnp.where(
        has_lower & has_upper,
        both,
        jnp.where(has_lower, lower_only, jnp.where(has_upper, upper_only, neither)),
    )


def _softplus_inverse(d):
    """log(exp(d) − 1) for d > 0, without overflow for large d."""
    return d + jnp.log(-jnp.expm1(-d))


def to_box(z, lower, upper):
    """y = T(z), inside the bounds for every finite z."""
    has_lower, has_upper, lo, hi = _sides(lower, upper)
    return _pick(
        has_lower,
        has_upper,
        lo + (hi - lo) * jax.nn.sigmoid(z),
        lo + jax.nn.softplus(z),
        hi - jax.nn.softplus(-z),
        z,
    )


def from_box(y, lower, upper):
    """z = T⁻¹(y); a y on or beyond a bound maps to a point just inside it."""
    has_lower, has_upper, lo, hi = _sides(lower, upper)
    width = hi - lo
    fraction = jnp.clip((y - lo) / jnp.where(width > 0, width, 1.0), EDGE, 1.0 - EDGE)
    return _pick(
        has_lower,
        has_upper,
        jnp.log(fraction) - jnp.log1p(-fraction),
        _softplus_inverse(jnp.maximum(y - lo, EDGE)),
        -_softplus_inverse(jnp.maximum(hi - y, EDGE)),
        y,
    )
