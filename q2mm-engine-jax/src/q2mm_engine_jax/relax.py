"""MM relaxation inside ``jit``, differentiable with respect to the parameters.

The minimizer is a trust-region Newton method on the locally assembled Hessian,
written for a batch of structures (one structure is a batch of one). Each step
solves with A = P H P + F, where F projects on the directions a relaxation never
moves (rigid-body modes, padding atoms) and P = 1 − F: by Cholesky when A is
positive definite — the usual case, and much cheaper than an eigen-decomposition
(the package README's Performance section) — otherwise (a structure on a saddle or a ridge)
through the eigen-decomposition, dividing by |λ| so that negative-curvature modes
are descended, never climbed toward a saddle. The eigen path runs only when some
structure of the batch needs it. Steps are shortened until no atom moves more than
the trust radius; a step that raises the energy is refused and the radius shrinks.
The loop is a ``lax.while_loop`` bounded by ``max_iterations`` that stops once every
structure's gradient norm is below ``gtol`` (converged structures take zero steps
while the others finish); Newton's quadratic convergence makes a gradient of 1e-8
kcal/(mol·Å) a matter of a few extra steps.

Its derivative is not obtained by differentiating the loop. At the minimum x*(θ) the
gradient vanishes, g(x*, θ) = 0, so dx*/dθ = −A⁻¹ P ∂g/∂θ (implicit function
theorem), the derivative orthogonal to the rigid-body modes (the minimizer's output
is only defined up to a rigid motion), with A from a Hessian pass at the relaxed
points (:func:`newton_minimize`'s ``finish_fresh``): one linear solve with its
Cholesky factor and one parameter-derivative of the gradient. The starting coordinates get
no derivative: the minimum a converged relaxation reaches does not move when the
start moves a little — which is also why a fit may start each relaxation from the
previous minimum (see :mod:`q2mm.objective.analytical`).

A relaxation hands back a :class:`RelaxStart` for the next one: its minima together
with the Newton matrix there and its Cholesky factor. A fit's next trial point is
close, so the next relaxation begins with chord steps on that factor — gradients
only, no Hessian, no factorization — and evaluates a Hessian again only when chord
steps stop contracting (or, once, at the end, for the implicit derivative).
"""

from __future__ import annotations

import functools

import attrs
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_solve

from . import energy as _energy
from .plan import Plan


@attrs.frozen(eq=False)
class RelaxStart:
    """Where a batch's relaxations begin: coordinates (B, n, 3) and, where ``warm``,
    the Newton matrix A of an earlier relaxation with its Cholesky ``factor`` (NaN
    where A is not positive definite), which the first steps reuse."""

    x: jax.Array
    a: jax.Array
    factor: jax.Array
    warm: jax.Array  # (B,) bool

    @classmethod
    def cold(cls, starts) -> RelaxStart:
        """From coordinates; NumPy in, NumPy out (no device work before a trace)."""
        xp = np if isinstance(starts, np.ndarray) else jnp
        x = xp.asarray(starts, dtype=float)
        batch, size = x.shape[0], x[0].size
        zeros = xp.zeros((batch, size, size))
        return cls(x, zeros, zeros, xp.zeros(batch, dtype=bool))


jax.tree_util.register_pytree_node(
    RelaxStart, lambda r: ((r.x, r.a, r.factor, r.warm), None), lambda _, c: RelaxStart(*c)
)


@attrs.frozen
class RelaxSettings:
    #: Converged when the norm of the whole gradient is below this (kcal/(mol·Å)).
    gtol: float = 1e-8
    max_iterations: int = 200
    #: Largest distance one atom may move in one step at first (Å); grows to
    #: ``max_trust_radius`` while full steps keep succeeding.
    trust_radius: float = 0.2
    max_trust_radius: float = 1.0
    #: How Hessians are assembled (:data:`q2mm_engine_jax.energy.ASSEMBLIES`): from
    #: per-term local Hessians, or ``"whole"``: ``jax.hessian`` of the total energy,
    #: the slower reference. Used by the Newton steps and by every Hessian the engine
    #: hands out.
    hessian: str = attrs.field(default="local", validator=attrs.validators.in_(("local", "whole")))
    #: |λ| floor (kcal/(mol·Å²)) so flat modes give bounded steps on the eigen path.
    min_curvature: float = 1e-3


def rigid_modes(coordinates, atom_mask, rotations: bool = True):
    """Orthonormal rigid-body modes (translations and rotations about the centroid) of
    the atoms where ``atom_mask`` is 1, as the columns of a (3N, 6) matrix; a linear
    molecule's missing rotation is dropped by its zero singular value (a zero column).
    ``rotations`` False (a periodic cell, whose energy changes when its contents
    rotate) leaves only the translations, the rotation columns zero."""
    w = atom_mask[:, None]
    centre = jnp.sum(w * coordinates, axis=0) / jnp.sum(atom_mask)
    r = (coordinates - centre) * w
    eye = np.eye(3)
    translations = [w * eye[k] for k in range(3)]
    turns = [jnp.cross(eye[k], r) * (1.0 if rotations else 0.0) for k in range(3)]
    basis = jnp.stack([m.ravel() for m in translations + turns])  # (6, 3N)
    s, u = jnp.linalg.eigh(basis @ basis.T)
    keep = s > 1e-10 * jnp.max(s)
    modes = (u.T @ basis) / jnp.sqrt(jnp.where(keep, s, 1.0))[:, None]
    return (modes * keep[:, None]).T


def _modes(plan: Plan, x):
    """Rigid-body modes U (structures, 3 width, 6) of every structure at ``x``;
    translations only in a periodic cell."""
    return jax.vmap(functools.partial(rigid_modes, rotations=plan.box is None))(x, plan.atom_mask)


def _project(modes, v):
    """P v = v − U Uᵀ v: ``v`` without its rigid-body part. Padding atoms need no
    projection: no term touches them, so gradients and steps are zero there."""
    return v - jnp.einsum("bik,bk->bi", modes, jnp.einsum("bik,bi->bk", modes, v))


def _newton_system(plan: Plan, values, x, assembly: str):
    """Energies, flat gradients, A = P H P + U Uᵀ + D and U at ``x`` (structures,
    width, 3); D is the identity on padding atoms. P H P is formed from the rank-6
    U (H has no padding rows), not from dense projectors: two fewer (3N)³ products."""
    e, g, h = _energy.ASSEMBLIES[assembly][1](plan, values, x)
    u = _modes(plan, x)
    hu = h @ u
    ut = jnp.swapaxes(u, -1, -2)
    php = h - u @ jnp.swapaxes(hu, -1, -2) - hu @ ut + u @ (ut @ hu) @ ut
    padding = jax.vmap(jnp.diag)(jnp.repeat(1.0 - plan.atom_mask, 3, axis=-1))
    return e, g.reshape(x.shape[0], -1), php + u @ ut + padding, u


def _matvec(m, v):
    return jnp.einsum("bij,bj->bi", m, v)


def _factor(a):
    """Cholesky factors of a batch of Newton matrices; NaN where not positive definite."""
    return jnp.linalg.cholesky(a)


def _newton_steps(g, a, factor, modes, min_curvature):
    """−A⁻¹ P g per structure: by the Cholesky ``factor`` where A is positive
    definite, the |λ|-floored eigen-decomposition where it is not (computed only if
    needed)."""
    gp = _project(modes, g)
    definite = jnp.all(jnp.isfinite(factor), axis=(-2, -1))
    newton = -cho_solve((factor, True), gp[..., None])[..., 0]

    def with_eigen_fallback():
        lam, vec = jnp.linalg.eigh(a)
        coefficients = jnp.einsum("bji,bj->bi", vec, gp) / jnp.maximum(jnp.abs(lam), min_curvature)
        descent = -_project(modes, _matvec(vec, coefficients))
        return jnp.where(definite[:, None], newton, descent)

    return jax.lax.cond(jnp.all(definite), lambda: newton, with_eigen_fallback)


def _chord_system(plan: Plan, values, x):
    """Energies, flat gradients and U at ``x``: a pass that reuses the last A."""
    e, g = _energy.energy_gradient(plan, values, x)
    return e, g.reshape(x.shape[0], -1), _modes(plan, x)


def newton_minimize(
    plan: Plan, values, start: RelaxStart, settings: RelaxSettings, finish_fresh: bool = False
):
    """Relax a batch from ``start`` → relaxed coordinates, energies, gradient norms,
    steps taken, and A, its factor and the rigid modes U where A was last evaluated.

    A pass evaluates at the points the previous pass proposed (the starts, on the
    first pass), either energy, gradient and Hessian, or — after a pass whose steps
    all succeeded and cut every gradient at least fourfold, or on the first pass of
    a warm start — energy and gradient only, stepping with the last A (a chord step:
    a Hessian and its factorization cost many gradients). Near a minimum,
    which is where a warm-started relaxation begins, chord steps converge almost as
    fast as Newton steps; where they stop doing so the next pass evaluates the
    Hessian again. The compiled loop holds one copy of the Hessian code.
    ``finish_fresh``: after the loop, evaluate A at the relaxed points (the implicit
    derivative needs it there). That pass sits outside the loop on purpose: XLA's
    CPU runtime runs a loop body on one thread, straight-line code on all cores
    (measured in the package README's Performance section)."""
    x0 = start.x
    batch, size = x0.shape[0], x0[0].size

    def active(g, radius):
        return (jnp.linalg.norm(g, axis=-1) >= settings.gtol) & (radius > 1e-12)

    def cond(state):
        it, _x, _e, g, *_rest, radius, _steps, _hessian = state
        return (it <= settings.max_iterations) & jnp.any(active(g, radius))

    def body(state):
        it, x, e, g, a, factor, modes, trial, longest, limited, radius, steps, hessian = state

        def accepted(e_t):
            # Round-off in E is ~1e-16 |E|: near the minimum Newton steps change E
            # by less than that, so "no higher within round-off" counts as a decrease.
            return e_t <= e + 1e-12 * (1.0 + jnp.abs(e))

        def pick(accept, new, old):
            return jnp.where(accept.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)

        def full_pass():
            e_t, g_t, a_t, modes_t = _newton_system(plan, values, trial, settings.hessian)
            accept = accepted(e_t)
            return e_t, g_t, pick(accept, a_t, a), pick(accept, _factor(a_t), factor), modes_t

        def chord_pass():
            # A and its factor pass through untouched: no copy of two (3N)² arrays
            # per structure on the steps that are meant to be cheap.
            e_t, g_t, modes_t = _chord_system(plan, values, trial)
            return e_t, g_t, a, factor, modes_t

        e_t, g_t, a, factor, modes_t = jax.lax.cond(hessian, full_pass, chord_pass)
        accept = accepted(e_t)
        grown = jnp.where(limited, jnp.minimum(2.0 * radius, settings.max_trust_radius), radius)
        radius = jnp.where(accept, grown, 0.25 * jnp.minimum(radius, longest))
        was_moving = active(g, radius)
        before = jnp.linalg.norm(g, axis=-1)
        new, old = (trial, e_t, g_t, modes_t), (x, e, g, modes)
        x, e, g, modes = (pick(accept, n, o) for n, o in zip(new, old, strict=True))
        contracted = accept & (jnp.linalg.norm(g, axis=-1) <= 0.25 * before)
        moving = active(g, radius)
        step = _newton_steps(g, a, factor, modes, settings.min_curvature).reshape(x.shape)
        step = jnp.where(moving[:, None, None], step, 0.0)
        longest = jnp.max(jnp.linalg.norm(step, axis=-1), axis=-1)
        limited = longest > radius
        scale = jnp.where(limited, radius / jnp.where(longest > 0, longest, 1.0), 1.0)
        hessian = jnp.any(was_moving & ~contracted)
        return (
            it + 1, x, e, g, a, factor, modes, x + scale[:, None, None] * step, longest, limited, radius,
            steps + moving, hessian,
        )  # fmt: skip

    # The starts are the first trials; infinite energies make them accepted (and,
    # with infinite gradients before them, count as contracting: a warm start keeps
    # its chord steps).
    start_state = (
        0,
        x0,
        jnp.full(batch, jnp.inf),
        jnp.full((batch, size), jnp.inf),
        start.a,
        start.factor,
        jnp.zeros((batch, size, 6)),
        x0,
        jnp.zeros(batch),
        jnp.zeros(batch, dtype=bool),
        jnp.full(batch, settings.trust_radius),
        jnp.zeros(batch, dtype=jnp.int32),
        ~jnp.all(start.warm),
    )
    _it, x, e, g, a, factor, modes, *_rest, radius, steps, _hessian = jax.lax.while_loop(
        cond, body, start_state
    )
    # A structure still active when the loop stops has proposed one step never tried.
    steps = steps - active(g, radius)
    if finish_fresh:
        e, g, a, modes = _newton_system(plan, values, x, settings.hessian)
        factor = _factor(a)
    return x, e, jnp.linalg.norm(g, axis=-1), steps, a, factor, modes


def _zero_tangent(a):
    if jnp.issubdtype(a.dtype, jnp.floating):
        return jnp.zeros_like(a)
    return np.zeros(a.shape, dtype=jax.dtypes.float0)


@functools.cache
def implicit_relax(settings: RelaxSettings):
    """``relax(plan, values, start) -> (relaxed, gradient_norms, next_start)`` for a
    batch, with the implicit derivative of ``relaxed`` with respect to ``values``
    (see the module docstring), in forward and reverse mode. ``next_start`` (no
    derivative) starts the next relaxation from these minima and their Newton
    matrices."""

    def next_start(x, a, factor):
        return RelaxStart(x, a, factor, jnp.ones(x.shape[0], dtype=bool))

    @jax.custom_jvp
    def relax(plan, values, start):
        x, _e, gnorm, _steps, a, factor, *_ = newton_minimize(plan, values, start, settings)
        return x, gnorm, next_start(x, a, factor)

    @relax.defjvp
    def relax_jvp(primals, tangents):
        plan, values, start = primals
        x, _e, gnorm, _steps, a, factor, modes = newton_minimize(
            plan, values, start, settings, finish_fresh=True
        )
        _, dg = jax.jvp(
            lambda v: _energy.gradient(plan, v, x).reshape(x.shape[0], -1), (values,), (tangents[1],)
        )
        rhs = _project(modes, dg)[..., None]
        definite = jnp.all(jnp.isfinite(factor))
        solved = jax.lax.cond(
            definite, lambda: cho_solve((factor, True), rhs), lambda: jnp.linalg.solve(a, rhs)
        )[..., 0]
        dx = -_project(modes, solved)
        out = (x, gnorm, next_start(x, a, factor))
        return out, (dx.reshape(x.shape), jnp.zeros_like(gnorm), jax.tree.map(_zero_tangent, out[2]))

    return relax
