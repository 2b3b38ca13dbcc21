"""Finishing a relaxation with Newton steps on Tinker's analytical Hessian.

Tinker's L-BFGS stops on an RMS gradient per atom and its line search gives up near
round-off, before the gradient is as small as a fit's finite differences over
parameters need (|g| < 1e-8 kcal/(mol·Å), the JAX engine's criterion). Newton steps
converge quadratically from there. Each works orthogonally to the rigid-body motions
(where the Hessian is singular) and divides by |λ|, so a negative-curvature direction
is descended, never climbed (the JAX and OpenMM engines' rule; the same 20 lines as
``q2mm_engine_openmm.relax``, which this package does not depend on).
"""

from __future__ import annotations

import numpy as np

#: |λ| floor (kcal/(mol·Å²)) below which a mode is not stepped along.
MIN_CURVATURE = 1e-3


def rigid_modes(coordinates: np.ndarray) -> np.ndarray:
    """Orthonormal translations and rotations about the centroid, (k, 3N)."""
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
    """Displacement (n, 3) in Å from ``hessian`` (kcal/(mol·Å²)) and ``gradient``
    (kcal/(mol·Å), (n, 3))."""
    modes = rigid_modes(coordinates)
    internal = np.eye(hessian.shape[0]) - modes.T @ modes
    lam, vec = np.linalg.eigh(internal @ hessian @ internal)
    g = internal @ np.asarray(gradient, dtype=float).ravel()
    keep = np.abs(lam) > MIN_CURVATURE
    coefficients = (vec[:, keep].T @ g) / np.abs(lam[keep])
    return -(vec[:, keep] @ coefficients).reshape(coordinates.shape)
