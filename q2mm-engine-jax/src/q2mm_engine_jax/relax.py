"""MM relaxation inside ``jit``, differentiable with respect to the parameters.

The minimizer is a trust-region Newton method on the locally assembled Hessian:
each step uses the eigen-decomposition of the Hessian with the rigid-body modes
projected out, divides by |λ| (so a negative-curvature mode is descended, never
climbed toward a saddle), and is shortened until no atom moves more than the trust
radius. A step that raises the energy is refused and the radius shrinks. The loop is
a ``lax.while_loop`` bounded by ``max_iterations`` that stops once the gradient norm
is below ``gtol``; Newton's quadratic convergence makes a gradient of 1e-8
kcal/(mol·Å) a matter of a few extra steps.

Its derivative is not obtained by differentiating the loop. At the minimum x*(θ) the
gradient vanishes, g(x*, θ) = 0, so dx*/dθ = −H⁺ ∂g/∂θ (implicit function theorem).
H is singular along the six (five for a linear molecule) rigid-body modes, and the
minimizer's output is only defined up to a rigid motion; the derivative returned is
the one orthogonal to the rigid-body modes (H⁺ acts on the internal subspace:
(P H P + F)⁻¹ P with F = R Rᵀ the projector on the orthonormal rigid modes — plus,
in padded batches, on the padding atoms — and P = 1 − F). The starting coordinates
get no derivative: the minimum a converged relaxation reaches does not move when
the start moves a little.

Under ``vmap`` the while-loop runs until the slowest structure has converged.
"""

from __future__ import annotations

import functools

import attrs
import jax
import jax.numpy as jnp

from . import energy as _energy
from .plan import Plan


@attrs.frozen
class RelaxSettings:
    #: Converged when the norm of the whole gradient is below this (kcal/(mol·Å)).
    gtol: float = 1e-8
    max_iterations: int = 200
    #: Largest distance one atom may move in one step at first (Å); grows to
    #: ``max_trust_radius`` while full steps keep succeeding.
    trust_radius: float = 0.2
    max_trust_radius: float = 1.0
    #: |λ| floor (kcal/(mol·Å²)) so flat modes give bounded steps.
    min_curvature: float = 1e-3


def rigid_projector(coordinates, atom_mask):
    """R Rᵀ for orthonormal rigid-body modes (translations and rotations about the
    centroid) of the atoms where ``atom_mask`` is 1; a linear molecule's missing
    rotation is dropped by its zero singular value, so the rank is 5 there."""
    w = atom_mask[:, None]
    centre = jnp.sum(w * coordinates, axis=0) / jnp.sum(atom_mask)
    r = (coordinates - centre) * w
    eye = jnp.eye(3)
    translations = [w * eye[k] for k in range(3)]
    rotations = [jnp.cross(eye[k], r) for k in range(3)]
    basis = jnp.stack([m.ravel() for m in translations + rotations])  # (6, 3N)
    s, u = jnp.linalg.eigh(basis @ basis.T)
    keep = s > 1e-10 * jnp.max(s)
    modes = (u.T @ basis) / jnp.sqrt(jnp.where(keep, s, 1.0))[:, None]
    modes = modes * keep[:, None]
    return modes.T @ modes


def fixed_projector(coordinates, atom_mask):
    """Projector onto the directions a relaxation never moves: rigid-body modes of
    the real atoms and every coordinate of padding atoms (padded batches)."""
    padding = jnp.diag(jnp.repeat(1.0 - atom_mask, 3))
    return rigid_projector(coordinates, atom_mask) + padding


def _evaluate(plan: Plan, values, x):
    """Energy, gradient and the eigen-decomposition of the internal Hessian."""
    e, g, h = _energy.energy_gradient_hessian(plan, values, x)
    fixed = fixed_projector(x, plan.atom_mask)
    internal = jnp.eye(fixed.shape[0]) - fixed
    lam, vec = jnp.linalg.eigh(internal @ h @ internal)
    return e, g, lam, vec, internal


def newton_minimize(plan: Plan, values, coordinates, settings: RelaxSettings):
    """Relaxed coordinates, energy, gradient norm and number of Newton steps.

    The loop evaluates the energy, gradient and Hessian once per pass, at the point
    the previous pass proposed (the start, on the first pass), so the compiled loop
    holds one copy of the Hessian code."""
    x0 = jnp.asarray(coordinates, dtype=float)
    shape, size = x0.shape, x0.size

    def cond(state):
        it, _x, _e, g, *_rest, radius = state
        return (it <= settings.max_iterations) & (jnp.linalg.norm(g) >= settings.gtol) & (radius > 1e-12)

    def body(state):
        it, x, e, g, lam, vec, internal, trial, longest, limited, radius = state
        e_t, g_t, lam_t, vec_t, internal_t = _evaluate(plan, values, trial)
        # Round-off in E is ~1e-16 |E|: near the minimum Newton steps change E by
        # less than that, so "no higher within round-off" counts as a decrease.
        accept = e_t <= e + 1e-12 * (1.0 + jnp.abs(e))
        grown = jnp.where(limited, jnp.minimum(2.0 * radius, settings.max_trust_radius), radius)
        radius = jnp.where(accept, grown, 0.25 * jnp.minimum(radius, longest))
        x, e, g, lam, vec, internal = (
            jnp.where(accept, new, old)
            for new, old in zip(
                (trial, e_t, g_t, lam_t, vec_t, internal_t), (x, e, g, lam, vec, internal), strict=True
            )
        )
        gp = internal @ g.ravel()
        step = -internal @ (vec @ ((vec.T @ gp) / jnp.maximum(jnp.abs(lam), settings.min_curvature)))
        longest = jnp.max(jnp.linalg.norm(step.reshape(shape), axis=-1))
        limited = longest > radius
        step = step * jnp.where(limited, radius / jnp.where(longest > 0, longest, 1.0), 1.0)
        return it + 1, x, e, g, lam, vec, internal, x + step.reshape(shape), longest, limited, radius

    # The start is the first "trial"; an infinite energy makes it accepted.
    start = (
        0,
        x0,
        jnp.inf,
        jnp.full(shape, jnp.inf),
        jnp.zeros(size),
        jnp.zeros((size, size)),
        jnp.zeros((size, size)),
        x0,
        jnp.zeros(()),
        False,
        jnp.asarray(settings.trust_radius),
    )
    it, x, e, g, *_ = jax.lax.while_loop(cond, body, start)
    return x, e, jnp.linalg.norm(g), it - 1


@functools.cache
def implicit_relax(settings: RelaxSettings):
    """``relax(plan, values, coordinates) -> (relaxed, gradient_norm)`` with the
    implicit derivative with respect to ``values`` (see the module docstring)."""

    @jax.custom_jvp
    def relax(plan, values, coordinates):
        x, _e, gnorm, _it = newton_minimize(plan, values, coordinates, settings)
        return x, gnorm

    @relax.defjvp
    def relax_jvp(primals, tangents):
        plan, values, coordinates = primals
        dvalues = tangents[1]
        x, gnorm = relax(plan, values, coordinates)
        _, dg = jax.jvp(lambda v: _energy.gradient(plan, v, x).ravel(), (values,), (dvalues,))
        fixed = fixed_projector(x, plan.atom_mask)
        internal = jnp.eye(fixed.shape[0]) - fixed
        h = internal @ _energy.hessian(plan, values, x) @ internal + fixed
        dx = -jnp.linalg.solve(h, internal @ dg)
        return (x, gnorm), (dx.reshape(x.shape), jnp.zeros_like(gnorm))

    return relax
