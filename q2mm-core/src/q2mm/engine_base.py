"""Shared behaviour for engines: capability checks, term-support checks, and the
Newton step that finishes a relaxation.

Engines may subclass these; the protocols in :mod:`q2mm.protocols` are what matter.
A session method whose capability the engine did not declare raises
:class:`CapabilityError` instead of an ``AttributeError`` or a wrong answer.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .errors import CapabilityError, UnsupportedTermError
from .model import MMSystem
from .protocols import Capability, FrozenValues, Minimized, TraceableFunctions


def check_supported(
    engine_name: str, supported: Iterable[str], forms: Iterable[str], system: MMSystem
) -> None:
    """Refuse, by name, any term or functional form the engine cannot evaluate."""
    if system.form not in set(forms):
        raise UnsupportedTermError(
            f"engine {engine_name!r} cannot evaluate the {system.form} functional form"
        )
    missing = sorted(system.term_kinds - set(supported))
    if missing:
        where = system.molecule.name or "the structure"
        raise UnsupportedTermError(
            f"engine {engine_name!r} cannot evaluate these terms of {where}: " + ", ".join(missing)
        )


class SessionBase:
    """Default session: every capability-gated method refuses with a typed error."""

    engine_name: str = "engine"
    capabilities: frozenset[Capability] = frozenset()

    def __init__(self, system: MMSystem) -> None:
        self.system = system

    def _refuse(self, capability: Capability):
        raise CapabilityError(
            f"engine {self.engine_name!r} does not declare the {capability.value!r} capability"
        )

    def energy(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> float:
        self._refuse(Capability.ENERGY)

    def gradient(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        self._refuse(Capability.GRADIENT)

    def hessian(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> np.ndarray:
        self._refuse(Capability.HESSIAN)

    def minimize(self, values: np.ndarray, coordinates: np.ndarray | None = None) -> Minimized:
        self._refuse(Capability.MINIMIZE)

    def traceable(self, frozen: FrozenValues | None = None) -> TraceableFunctions:
        self._refuse(Capability.TRACEABLE)

    def coordinates_or_default(self, coordinates: np.ndarray | None) -> np.ndarray:
        return (
            self.system.molecule.coordinates if coordinates is None else np.asarray(coordinates, dtype=float)
        )


#: |λ| floor (kcal/(mol·Å²)) below which a mode is not stepped along.
MIN_CURVATURE = 1e-3


def rigid_modes(coordinates: np.ndarray) -> np.ndarray:
    """Orthonormal translations and rotations about the centroid, (k, 3N) with k = 6
    (5 for a linear molecule)."""
    x = np.asarray(coordinates, dtype=float)
    r = x - x.mean(axis=0)
    eye = np.eye(3)
    basis = np.stack(
        [np.broadcast_to(eye[a], x.shape).ravel() for a in range(3)]
        + [np.cross(eye[a], r).ravel() for a in range(3)]
    )
    _, s, vt = np.linalg.svd(basis, full_matrices=False)
    return vt[s > 1e-10 * s.max()]


def newton_step(hessian: np.ndarray, gradient: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
    """Displacement (n, 3) in Å from ``hessian`` (kcal/(mol·Å²), 3N×3N) and
    ``gradient`` (kcal/(mol·Å), (n, 3)).

    Engines whose own minimizers stop on an RMS force or give up at round-off in
    their line search (OpenMM's L-BFGS, Tinker's) finish a relaxation with a few of
    these steps, which converge quadratically to the gradient a fit's finite
    differences over parameters need. Each works orthogonally to the rigid-body
    motions (where the Hessian is singular) and divides by |λ|, so a
    negative-curvature direction is descended, never climbed (the JAX engine's rule)."""
    modes = rigid_modes(coordinates)
    internal = np.eye(hessian.shape[0]) - modes.T @ modes
    lam, vec = np.linalg.eigh(internal @ hessian @ internal)
    g = internal @ np.asarray(gradient, dtype=float).ravel()
    keep = np.abs(lam) > MIN_CURVATURE
    coefficients = (vec[:, keep].T @ g) / np.abs(lam[keep])
    return -(vec[:, keep] @ coefficients).reshape(coordinates.shape)
