"""A small traceable engine: harmonic bonds and angles as pure JAX functions.

The same energy as :class:`~q2mm.testing.harmonic_engine.HarmonicEngine`
(E = Σ k (r − r0)² + Σ k (θ − θ0)², kcal/mol, Å, radians, no ½; Hessians returned in
Hartree/Bohr²), declaring ``traceable``, so that packages which need a traceable
engine — the analytical objective path, the in-JIT optimizers — are tested without
any engine package installed. Gradients and Hessians are JAX's derivatives of the
energy (the NumPy engine's closed forms are the independent check).

A bend's Δθ² is evaluated so that it stays smooth through a linear angle (a
transition state such as S_N2's F–C–F, θ0 = π): θ = π − δ with
δ = atan2(|a×b|, −a·b), and near linearity δ² = |a×b|² h² with h = atan(√u/m)/√u
(u = |a×b|², m = −a·b) from its series, as in the JAX engine. Elsewhere it is the
plain (θ − θ0)².

Relaxation (:meth:`TraceableHarmonicSession.traceable`'s ``relax``) is a damped
Newton method inside one ``jax.lax.while_loop``: each step solves with
A = P H P + U Uᵀ (U: the six rigid-body modes, P = 1 − U Uᵀ) through its
eigen-decomposition, dividing by |λ| (floored), so negative curvature of a poor
start is descended, never climbed; steps are shortened until no atom moves more
than the trust radius, and a step that raises the energy is refused and the radius
shrinks. The loop stops when the gradient norm is below ``gtol`` or after
``max_iterations`` steps; it converged if the gradient is below ``gtol`` at a strict
minimum (:func:`newton_minimize`). Pure JAX: jittable and vmappable.

Its derivative with respect to the parameters is implicit, not the loop's: at the
minimum x*(θ) the gradient vanishes, so dx*/dθ = −A⁻¹ P ∂g/∂θ, orthogonal to the
rigid-body modes, with A's eigen-decomposition at x* carried out of the loop
(:func:`_implicit`, a ``jax.custom_jvp``, so forward and reverse mode both work; no
second Hessian, no solve to transpose). The start gets no derivative.

JAX is imported by this module; nothing in q2mm-core imports it unless this engine
is used (the testing plugin names it by string), and the engine's constructor
applies :func:`q2mm.jax_runtime.configure` (float64 among other settings).
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
import jax
import jax.numpy as jnp
import numpy as np

from .. import jax_runtime
from ..engine_base import SessionBase, check_supported
from ..errors import UnsupportedTermError
from ..model import FunctionalForm, MMSystem
from ..model.units import HESSIAN_AU_TO_KCALMOL_A2
from ..protocols import Capability, FrozenValues, Minimized, TraceableFunctions

CAPABILITIES = frozenset(
    {Capability.ENERGY, Capability.GRADIENT, Capability.HESSIAN, Capability.MINIMIZE, Capability.TRACEABLE}
)

#: Below this value of tan²(π − θ) the distance from linearity comes from a series.
LINEAR_SERIES_LIMIT = 1e-4


def _safe_sqrt(u):
    """√u with derivative 0 (instead of ∞) at u = 0 (double ``where``)."""
    positive = u > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, u, 1.0)), 0.0)


def _bend_deviation_squared(a, b, theta0):
    """(θ − θ0)² for the angle between bond vectors a, b (per row), smooth through
    θ = π (see the module docstring)."""
    cross = jnp.cross(a, b)
    u = jnp.sum(cross * cross, axis=-1)
    m = -jnp.sum(a * b, axis=-1)
    ratio = u / jnp.where(m > 0, m * m, 1.0)
    near = (m > 0) & (ratio < LINEAR_SERIES_LIMIT)
    s = _safe_sqrt(u)
    r = jnp.where(near, ratio, 0.0)
    # atan(√r)/√r = 1 − r/3 + r²/5 − r³/7 + r⁴/9 − …, exact to 1e-18 for r < 1e-4
    h = (1.0 - r * (1.0 / 3.0 - r * (1.0 / 5.0 - r * (1.0 / 7.0 - r / 9.0)))) / jnp.where(near, m, 1.0)
    origin = (s == 0) & (m == 0)
    far = jnp.where(origin, 0.0, jnp.arctan2(jnp.where(origin, 0.0, s), jnp.where(origin, 1.0, m)))
    offset = jnp.pi - theta0
    return jnp.where(
        near, offset * offset - 2.0 * offset * s * h + u * h * h, (offset - far) * (offset - far)
    )


def rigid_modes(x):
    """Orthonormal rigid-body modes (translations, rotations about the centroid) of
    coordinates ``x`` (n, 3), as the columns of a (3n, 6) matrix; a linear molecule's
    missing rotation comes out as a zero column."""
    r = x - jnp.mean(x, axis=0)
    eye = np.eye(3)
    translations = [jnp.broadcast_to(eye[k], x.shape) for k in range(3)]
    rotations = [jnp.cross(eye[k], r) for k in range(3)]
    basis = jnp.stack([m.ravel() for m in translations + rotations])  # (6, 3n)
    s, u = jnp.linalg.eigh(basis @ basis.T)
    keep = s > 1e-10 * jnp.max(s)
    modes = (u.T @ basis) / jnp.sqrt(jnp.where(keep, s, 1.0))[:, None]
    return (modes * keep[:, None]).T


class _Terms:
    """The structure's bonds and angles as index arrays, and the pure functions of
    ``(values, coordinates)`` built on them (kcal/mol, Å)."""

    def __init__(self, system: MMSystem, engine_name: str) -> None:
        bonds, angles = system.terms.get("bond"), system.terms.get("angle")
        if bonds is not None and bonds.fields != ("k", "r0"):
            raise UnsupportedTermError(f"{engine_name}: bond fields {bonds.fields}, expected ('k', 'r0')")
        if angles is not None and angles.fields != ("k", "theta0"):
            raise UnsupportedTermError(
                f"{engine_name}: angle fields {angles.fields}, expected ('k', 'theta0')"
            )

        def arrays(terms, arity):
            if terms is None:
                return np.zeros((0, arity), dtype=int), np.zeros((0, 2), dtype=int)
            return np.asarray(terms.atoms, dtype=int), np.asarray(terms.slots, dtype=int)

        self.bond_atoms, self.bond_slots = arrays(bonds, 2)
        self.angle_atoms, self.angle_slots = arrays(angles, 3)

    def energy(self, values, x):
        values, x = jnp.asarray(values), jnp.asarray(x)
        d = x[self.bond_atoms[:, 0]] - x[self.bond_atoms[:, 1]]
        r = _safe_sqrt(jnp.sum(d * d, axis=-1))
        bonds = values[self.bond_slots[:, 0]] * (r - values[self.bond_slots[:, 1]]) ** 2
        centre = x[self.angle_atoms[:, 1]]
        a, b = x[self.angle_atoms[:, 0]] - centre, x[self.angle_atoms[:, 2]] - centre
        squared = _bend_deviation_squared(a, b, values[self.angle_slots[:, 1]])
        return jnp.sum(bonds) + jnp.sum(values[self.angle_slots[:, 0]] * squared)

    def gradient(self, values, x):
        """kcal/(mol·Å), (n, 3)."""
        return jax.grad(self.energy, argnums=1)(values, jnp.asarray(x, dtype=float))

    def hessian_kcal(self, values, x):
        """kcal/(mol·Å²), (3n, 3n)."""
        x = jnp.asarray(x, dtype=float)
        size = x.size
        flat = jax.hessian(lambda f: self.energy(values, f.reshape(x.shape)))(x.reshape(-1))
        return flat.reshape(size, size)

    def newton_matrix(self, values, x):
        """A = P H P + U Uᵀ and U at ``x``: H on the vibrational subspace, the
        identity on the rigid-body modes."""
        h = self.hessian_kcal(values, x)
        u = rigid_modes(x)
        p = jnp.eye(h.shape[0]) - u @ u.T
        return p @ h @ p + u @ u.T, u


@attrs.frozen
class RelaxSettings:
    #: Converged when the norm of the whole gradient is below this (kcal/(mol·Å)).
    gtol: float = 1e-8
    #: The loop's cap on Newton steps (a relaxation still moving then is not converged).
    max_iterations: int = 100
    #: Largest distance one atom may move in one step at first (Å); doubles, up to
    #: ``max_trust_radius``, after each accepted step that it shortened.
    trust_radius: float = 0.2
    max_trust_radius: float = 1.0
    #: |λ| floor (kcal/(mol·Å²)) so flat modes give bounded steps.
    min_curvature: float = 1e-3


def _newton_point(terms: _Terms, settings: RelaxSettings, values, x):
    """Energy, flat gradient and the damped Newton step (n, 3) at ``x``, and the
    eigen-decomposition of A there with the rigid-body modes U (the implicit
    derivative at a minimum reuses them)."""
    e, g = jax.value_and_grad(terms.energy, argnums=1)(values, x)
    g = g.reshape(-1)
    a, u = terms.newton_matrix(values, x)
    lam, vec = jnp.linalg.eigh(a)
    gp = g - u @ (u.T @ g)
    step = -(vec @ ((vec.T @ gp) / jnp.maximum(jnp.abs(lam), settings.min_curvature)))
    return e, g, (step - u @ (u.T @ step)).reshape(x.shape), (lam, vec, u)


def newton_minimize(terms: _Terms, settings: RelaxSettings, values, start):
    """Relax from ``start`` (n, 3) → coordinates, energy, gradient norm, steps taken,
    whether it converged, and (eigenvalues, eigenvectors of A, U) at the relaxed
    coordinates. Pure JAX (no derivative through the loop: see :func:`_implicit`).
    The start is the first trial point (an infinite energy before it makes it
    accepted), so the compiled program holds one copy of the Hessian code, inside the
    loop.

    Converged means a gradient norm below ``gtol`` at a minimum: no vibrational
    curvature below −1e-6 of the stiffest (a saddle point the start sat on is not a
    minimum) and some curvature at all (with every force constant zero any geometry
    is a "minimum": nothing to relax, nothing to differentiate). Curvature within
    round-off of zero is allowed: a linear angle whose θ0 is a hair below π (an
    S_N2 transition state's F–C–F estimated from its QM geometry) has a ring of
    minima around the linear geometry, harmless to the derivative (see
    :func:`_implicit`)."""
    x0 = jnp.asarray(start, dtype=float)
    size = x0.size

    def cond(state):
        it, _x, _e, g, _step, _eigen, radius = state
        return (it <= settings.max_iterations) & (jnp.linalg.norm(g) >= settings.gtol) & (radius > 1e-12)

    def body(state):
        it, x, e, g, step, eigen, radius = state
        longest = jnp.max(jnp.linalg.norm(step, axis=-1))
        limited = longest > radius
        scale = jnp.where(limited, radius / jnp.where(longest > 0, longest, 1.0), 1.0)
        trial = x + scale * step
        e_t, g_t, step_t, eigen_t = _newton_point(terms, settings, values, trial)
        # Round-off in E is ~1e-16 |E|: near the minimum a Newton step changes E by
        # less than that, so "no higher within round-off" counts as a decrease.
        accept = e_t <= e + 1e-12 * (1.0 + jnp.abs(e))
        grown = jnp.where(limited, jnp.minimum(2.0 * radius, settings.max_trust_radius), radius)
        radius = jnp.where(accept, grown, 0.25 * jnp.minimum(radius, scale * longest))
        new, old = (trial, e_t, g_t, step_t, eigen_t), (x, e, g, step, eigen)
        x, e, g, step, eigen = jax.tree.map(lambda n, o: jnp.where(accept, n, o), new, old)
        return it + 1, x, e, g, step, eigen, radius

    eigen = (jnp.ones(size), jnp.eye(size), jnp.zeros((size, 6)))
    radius = jnp.asarray(settings.trust_radius, dtype=float)
    state = (0, x0, jnp.asarray(jnp.inf), jnp.full(size, jnp.inf), jnp.zeros_like(x0), eigen, radius)
    it, x, e, g, _step, eigen, _radius = jax.lax.while_loop(cond, body, state)
    gnorm, (lowest, stiffest) = jnp.linalg.norm(g), _vibrational_range(*eigen)
    converged = (gnorm < settings.gtol) & (stiffest > 1e-8) & (lowest >= -1e-6 * stiffest)
    # the first pass only evaluated the start; one still moving has an untried step
    return x, e, gnorm, it - 1, converged, eigen


def _vibrational_range(lam, vec, u):
    """Lowest and stiffest vibrational eigenvalue of A (eigenvectors outside the
    rigid-body span of U; the rigid-body modes have eigenvalue 1 by construction)."""
    rigid = jnp.sum((u.T @ vec) ** 2, axis=0) > 0.5
    return jnp.min(jnp.where(rigid, jnp.inf, lam)), jnp.max(jnp.where(rigid, -jnp.inf, lam))


def _implicit(terms: _Terms):
    """``attach(values, relaxed, eigen) -> relaxed`` whose derivative with respect to
    ``values`` is the implicit one of the minimum, −A⁻¹ P ∂g/∂θ · dθ, with A's
    eigen-decomposition and U at the minimum from the relaxation (``eigen``); the
    tangents of ``relaxed`` and ``eigen`` are ignored. A product with the
    eigenvectors, not a solve: its transpose (reverse mode) is another product.
    Modes of zero curvature (within 1e-10 of the stiffest) get no motion — the
    minimum-norm derivative, as for the rigid-body modes."""

    @jax.custom_jvp
    def attach(values, x, eigen):
        return x

    @attach.defjvp
    def attach_jvp(primals, tangents):
        values, x, (lam, vec, u) = primals
        _, dg = jax.jvp(lambda v: terms.gradient(v, x).reshape(-1), (values,), (tangents[0],))
        flat = jnp.abs(lam) <= 1e-10 * _vibrational_range(lam, vec, u)[1]
        inverse = jnp.where(flat, 0.0, 1.0 / jnp.where(flat, 1.0, lam))
        dx = -(vec @ ((vec.T @ (dg - u @ (u.T @ dg))) * inverse))
        return x, (dx - u @ (u.T @ dx)).reshape(x.shape)

    return attach


def _start(coordinates):
    """A relaxation start: the coordinates themselves (NumPy in, NumPy out)."""
    xp = np if isinstance(coordinates, np.ndarray) else jnp
    return xp.asarray(coordinates, dtype=float)


class TraceableHarmonicSession(SessionBase):
    """One prepared structure; the NumPy-facing methods run the traceable functions
    jitted (once per session)."""

    engine_name = "harmonic-jax"
    capabilities = CAPABILITIES

    def __init__(self, system: MMSystem, settings: RelaxSettings) -> None:
        super().__init__(system)
        self.settings = settings
        self.terms = _Terms(system, self.engine_name)
        self._attach = _implicit(self.terms)

    # traceable ------------------------------------------------------------------

    def traceable(self, frozen: FrozenValues | None = None) -> TraceableFunctions:
        """Pure functions of ``(values, coordinates)``; ``frozen`` is ignored (every
        term is evaluated at every call: the molecules are small)."""
        terms, settings, attach = self.terms, self.settings, self._attach
        own = np.asarray(self.system.molecule.coordinates, dtype=float)

        def at(coordinates):
            return own if coordinates is None else coordinates

        def energy(values, coordinates=None):
            return terms.energy(values, at(coordinates))

        def gradient(values, coordinates=None):
            return terms.gradient(values, at(coordinates))

        def hessian(values, coordinates=None):
            return terms.hessian_kcal(values, at(coordinates)) / HESSIAN_AU_TO_KCALMOL_A2

        def relax(values, start):
            values = jnp.asarray(values, dtype=float)
            fixed = jax.lax.stop_gradient(values)
            start = jax.lax.stop_gradient(start)
            x, _e, _gnorm, _it, converged, eigen = newton_minimize(terms, settings, fixed, start)
            return attach(values, x, eigen), converged, x

        return TraceableFunctions(energy, gradient, hessian, relax, _start)

    # NumPy-facing ---------------------------------------------------------------

    @functools.cached_property
    def _compiled(self) -> dict[str, Any]:
        fns = self.traceable()
        terms, settings = self.terms, self.settings
        return {
            "energy": jax.jit(fns.energy),
            "gradient": jax.jit(fns.gradient),
            "hessian": jax.jit(fns.hessian),
            "minimize": jax.jit(lambda v, x: newton_minimize(terms, settings, v, x)[:5]),
        }

    def _call(self, name: str, values, coordinates):
        x = self.coordinates_or_default(coordinates)
        return self._compiled[name](np.asarray(values, dtype=float), x)

    def energy(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> float:
        return float(self._call("energy", values, coordinates))

    def gradient(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        """kcal/(mol·Å), shape (n_atoms, 3)."""
        return np.asarray(self._call("gradient", values, coordinates))

    def hessian(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        """Hartree/Bohr², (3N, 3N)."""
        return np.asarray(self._call("hessian", values, coordinates))

    def minimize(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> Minimized:
        x, e, gnorm, it, converged = self._call("minimize", values, coordinates)
        e = float(e)
        return Minimized(
            coordinates=np.asarray(x),
            energy=e,
            converged=bool(converged) and np.isfinite(e),
            iterations=int(it),
            gradient_norm=float(gnorm),
        )


class TraceableHarmonicEngine:
    """JAX engine for harmonic bonds and angles (``traceable``); options ``gtol``
    (gradient norm a relaxation must reach, kcal/(mol·Å)) and ``max_iterations``
    (the relaxation's cap). Any other term kind or the MM3 form is refused by name
    at :meth:`prepare`."""

    name = "harmonic-jax"
    capabilities = CAPABILITIES
    forms = frozenset({FunctionalForm.HARMONIC})
    term_kinds = frozenset({"bond", "angle"})

    def __init__(self, gtol: float = 1e-8, max_iterations: int = 100) -> None:
        self.cache_dir = jax_runtime.configure()
        self.settings = RelaxSettings(gtol=gtol, max_iterations=max_iterations)

    def prepare(self, system: MMSystem) -> TraceableHarmonicSession:
        check_supported(self.name, self.term_kinds, self.forms, system)
        return TraceableHarmonicSession(system, self.settings)

    def describe(self) -> dict[str, Any]:
        return {
            "platform": jax.default_backend(),
            "precision": "float64" if jax.config.jax_enable_x64 else "float32",
            "jax": jax.__version__,
        }
