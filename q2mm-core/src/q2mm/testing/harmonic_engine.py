"""A small NumPy engine: harmonic bonds and angles with closed-form derivatives.

It exists so that the core (residuals, objective, optimizers) is tested on real
molecules without any engine package installed. Energies follow the canonical
convention E = Σ k (r − r0)² + Σ k (θ − θ0)² (kcal/mol, Å, radians, no ½). The
gradient and the Hessian are written out in closed form — the derivatives of a bond
length and of a bond angle with respect to the atoms — never taken by finite
differences, so finite-difference tests of the engine check something independent.

Angle derivatives use c = cos θ of the two bond vectors a = rᵢ − rⱼ, b = rₖ − rⱼ:
∂θ = −∂c / sin θ and ∂²θ = −∂²c / sin θ − (cos θ / sin³ θ) ∂c ∂cᵀ. Linear angles
(sin θ = 0) have no defined derivative: the energy stays finite there, but the
gradient and Hessian come out non-finite, which the objective reports as a failure.

Minimization is scipy's ``trust-krylov`` with the analytical Hessian (a trust-region
Newton method: the six rigid zero modes and any negative curvature of a poor start
are harmless to it, and it needs no dense factorization: several times faster than
``trust-exact``, ``benchmarks/bench_harmonic_engine.py``), finished by a few pure
Newton steps (see ``_polish``); a result counts as converged only when the largest
gradient component is below ``gradient_tolerance``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize

from ..engine_base import SessionBase, check_supported
from ..errors import UnsupportedTermError
from ..model import FunctionalForm, MMSystem
from ..model.units import HESSIAN_AU_TO_KCALMOL_A2
from ..protocols import Capability, Minimized

_CAPABILITIES = frozenset({Capability.ENERGY, Capability.GRADIENT, Capability.HESSIAN, Capability.MINIMIZE})


def _bond_terms(x: np.ndarray, atoms: np.ndarray):
    """Bond lengths r, unit vectors u (i → j reversed: u = (xᵢ − xⱼ)/r)."""
    d = x[atoms[:, 0]] - x[atoms[:, 1]]
    r = np.linalg.norm(d, axis=1)
    return r, d / r[:, None]


def _angle_terms(x: np.ndarray, atoms: np.ndarray):
    """θ, and per term the derivatives of cos θ with respect to a and b (first and
    second), a = xᵢ − xⱼ, b = xₖ − xⱼ."""
    a = x[atoms[:, 0]] - x[atoms[:, 1]]
    b = x[atoms[:, 2]] - x[atoms[:, 1]]
    la = np.linalg.norm(a, axis=1)
    lb = np.linalg.norm(b, axis=1)
    c = np.einsum("ij,ij->i", a, b) / (la * lb)
    cross = a[:, [1, 2, 0]] * b[:, [2, 0, 1]] - a[:, [2, 0, 1]] * b[:, [1, 2, 0]]
    theta = np.arctan2(np.sqrt(np.einsum("ij,ij->i", cross, cross)), np.einsum("ij,ij->i", a, b))
    return a, b, la, lb, c, theta


#: d(a, b)/d(xᵢ, xⱼ, xₖ) for a = xᵢ − xⱼ, b = xₖ − xⱼ.
_ANGLE_CHAIN = np.block(
    [
        [np.eye(3), -np.eye(3), np.zeros((3, 3))],
        [np.zeros((3, 3)), -np.eye(3), np.eye(3)],
    ]
)


class HarmonicSession(SessionBase):
    engine_name = "harmonic-numpy"
    capabilities = _CAPABILITIES

    def __init__(self, system: MMSystem, gradient_tolerance: float) -> None:
        super().__init__(system)
        self.gradient_tolerance = gradient_tolerance
        empty = (np.zeros((0, 2), dtype=int), np.zeros((0, 2), dtype=int))
        bonds = system.terms.get("bond")
        angles = system.terms.get("angle")
        self._bond_atoms, self._bond_slots = (bonds.atoms, bonds.slots) if bonds is not None else empty
        self._angle_atoms, self._angle_slots = (
            (angles.atoms, angles.slots) if angles is not None else (np.zeros((0, 3), dtype=int), empty[1])
        )
        if bonds is not None and bonds.fields != ("k", "r0"):
            raise UnsupportedTermError(
                f"{self.engine_name}: bond fields {bonds.fields}, expected ('k', 'r0')"
            )
        if angles is not None and angles.fields != ("k", "theta0"):
            raise UnsupportedTermError(
                f"{self.engine_name}: angle fields {angles.fields}, expected ('k', 'theta0')"
            )

    def _parameters(self, values: np.ndarray):
        v = np.asarray(values, dtype=float)
        return (
            v[self._bond_slots[:, 0]],
            v[self._bond_slots[:, 1]],
            v[self._angle_slots[:, 0]],
            v[self._angle_slots[:, 1]],
        )

    def energy(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> float:
        x = self.coordinates_or_default(coordinates)
        kb, r0, ka, t0 = self._parameters(values)
        r, _ = _bond_terms(x, self._bond_atoms)
        theta = _angle_terms(x, self._angle_atoms)[-1]
        return float(np.sum(kb * (r - r0) ** 2) + np.sum(ka * (theta - t0) ** 2))

    def gradient(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        """kcal/(mol·Å), shape (n_atoms, 3)."""
        x = self.coordinates_or_default(coordinates)
        kb, r0, ka, t0 = self._parameters(values)
        g = np.zeros_like(x)
        r, u = _bond_terms(x, self._bond_atoms)
        f = (2.0 * kb * (r - r0))[:, None] * u
        np.add.at(g, self._bond_atoms[:, 0], f)
        np.add.at(g, self._bond_atoms[:, 1], -f)
        a, b, la, lb, c, theta = _angle_terms(x, self._angle_atoms)
        s = np.sin(theta)
        dc_da = b / (la * lb)[:, None] - (c / la**2)[:, None] * a
        dc_db = a / (la * lb)[:, None] - (c / lb**2)[:, None] * b
        scale = (-2.0 * ka * (theta - t0) / s)[:, None]
        ga, gb = scale * dc_da, scale * dc_db
        np.add.at(g, self._angle_atoms[:, 0], ga)
        np.add.at(g, self._angle_atoms[:, 2], gb)
        np.add.at(g, self._angle_atoms[:, 1], -ga - gb)
        return g

    def hessian(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        """Hartree/Bohr², (3N, 3N)."""
        x = self.coordinates_or_default(coordinates)
        kb, r0, ka, t0 = self._parameters(values)
        n = x.shape[0]
        h = np.zeros((3 * n, 3 * n))
        eye = np.eye(3)
        # Bonds: d²E/dxᵢ² = 2k uuᵀ + 2k (r − r0)(1 − uuᵀ)/r; the (i, j) block is its negative.
        r, u = _bond_terms(x, self._bond_atoms)
        uu = np.einsum("ti,tj->tij", u, u)
        block = (2.0 * kb)[:, None, None] * uu + (2.0 * kb * (r - r0) / r)[:, None, None] * (eye - uu)
        self._scatter(h, self._bond_atoms, np.block([[block, -block], [-block, block]]))
        # Angles: chain rule through c = cos θ of a = xᵢ − xⱼ, b = xₖ − xⱼ.
        a, b, la, lb, c, theta = _angle_terms(x, self._angle_atoms)
        s = np.sin(theta)
        c3 = c[:, None, None]
        na, nb = la[:, None, None], lb[:, None, None]
        aa, bb = np.einsum("ti,tj->tij", a, a), np.einsum("ti,tj->tij", b, b)
        ab, ba = np.einsum("ti,tj->tij", a, b), np.einsum("ti,tj->tij", b, a)
        dc = np.concatenate(
            [
                b / (la * lb)[:, None] - (c / la**2)[:, None] * a,
                a / (la * lb)[:, None] - (c / lb**2)[:, None] * b,
            ],
            axis=1,
        )
        haa = -(ba + ab) / (na**3 * nb) + 3 * c3 * aa / na**4 - c3 * eye / na**2
        hbb = -(ab + ba) / (nb**3 * na) + 3 * c3 * bb / nb**4 - c3 * eye / nb**2
        hab = eye / (na * nb) - bb / (na * nb**3) - aa / (na**3 * nb) + c3 * ab / (na**2 * nb**2)
        d2c = np.block([[haa, hab], [np.swapaxes(hab, 1, 2), hbb]])
        dtheta = -dc / s[:, None]
        d2theta = -d2c / s[:, None, None] - (c / s**3)[:, None, None] * np.einsum("ti,tj->tij", dc, dc)
        local = (2.0 * ka)[:, None, None] * (
            np.einsum("ti,tj->tij", dtheta, dtheta) + (theta - t0)[:, None, None] * d2theta
        )
        self._scatter(h, self._angle_atoms, _ANGLE_CHAIN.T @ local @ _ANGLE_CHAIN)
        return h / HESSIAN_AU_TO_KCALMOL_A2

    @staticmethod
    def _scatter(h: np.ndarray, atoms: np.ndarray, blocks: np.ndarray) -> None:
        """Add per-term (3m, 3m) Hessian blocks over their m atoms into h (3N, 3N)."""
        if len(atoms) == 0:
            return
        index = (3 * atoms[:, :, None] + np.arange(3)).reshape(len(atoms), -1)
        np.add.at(h, (index[:, :, None], index[:, None, :]), blocks)

    def minimize(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> Minimized:
        x0 = self.coordinates_or_default(coordinates)
        shape = x0.shape

        def fun(flat):
            return self.energy(values, flat.reshape(shape))

        def jac(flat):
            return self.gradient(values, flat.reshape(shape)).reshape(-1)

        def hess(flat):
            return self.hessian(values, flat.reshape(shape)) * HESSIAN_AU_TO_KCALMOL_A2

        with np.errstate(all="ignore"):
            result = minimize(
                fun,
                x0.reshape(-1),
                jac=jac,
                hess=hess,
                method="trust-krylov",
                options={"gtol": self.gradient_tolerance, "maxiter": 500},
            )
            flat, iterations = self._polish(result.x, jac, hess)
            coords = flat.reshape(shape)
            grad = jac(flat)
            energy = fun(flat)
        gnorm = float(np.abs(grad).max()) if grad.size else 0.0
        converged = bool(np.isfinite(gnorm) and gnorm < self.gradient_tolerance and np.isfinite(energy))
        return Minimized(
            coordinates=coords,
            energy=float(energy),
            converged=converged,
            iterations=int(result.nit) + iterations,
            gradient_norm=gnorm,
        )

    def _polish(self, flat: np.ndarray, jac, hess, steps: int = 5) -> tuple[np.ndarray, int]:
        """Newton steps on the vibrational subspace, accepted while the gradient shrinks.

        Near a minimum an energy-based line search cannot tell points apart any more
        (a gradient of 1e-7 kcal/(mol·Å) changes the energy by ~1e-17 of its value), so
        scipy's trust-region methods stop around there. Pure Newton steps need no energy
        comparison and converge quadratically: relaxed geometries come out to ~1e-12 Å,
        clean enough for finite differences over parameters."""
        g = jac(flat)
        for step in range(steps):
            if not np.isfinite(g).all() or np.abs(g).max() < 1e-3 * self.gradient_tolerance:
                return flat, step
            w, v = np.linalg.eigh(hess(flat))
            rigid = np.abs(w) <= 1e-8 * max(np.abs(w).max(), 1.0)
            if (w[~rigid] <= 0).any():
                return flat, step
            trial = flat - v[:, ~rigid] @ ((v[:, ~rigid].T @ g) / w[~rigid])
            g_trial = jac(trial)
            if not np.abs(g_trial).max() < np.abs(g).max():
                return flat, step
            flat, g = trial, g_trial
        return flat, steps


class HarmonicEngine:
    """NumPy engine for harmonic bonds and angles (``Conventions`` are ignored: the
    harmonic functional form has no anharmonic terms). Any other term kind or the MM3
    form is refused by name at :meth:`prepare`."""

    name = "harmonic-numpy"
    capabilities = _CAPABILITIES
    forms = frozenset({FunctionalForm.HARMONIC})
    term_kinds = frozenset({"bond", "angle"})

    def __init__(self, gradient_tolerance: float = 1e-7) -> None:
        #: Largest gradient component (kcal/(mol·Å)) a minimization may end with.
        self.gradient_tolerance = gradient_tolerance

    def prepare(self, system: MMSystem) -> HarmonicSession:
        check_supported(self.name, self.term_kinds, self.forms, system)
        return HarmonicSession(system, self.gradient_tolerance)

    def describe(self) -> dict[str, Any]:
        return {"platform": "numpy", "precision": "float64", "numpy": np.__version__}
