"""Finishing an MM relaxation with Newton steps.

OpenMM's ``LocalEnergyMinimizer`` (L-BFGS) gets close to the minimum but its
stopping rule is a root-mean-square force and its line search gives up at round-off
level, often before the gradient is as small as a fit needs: when the core takes
finite differences of relaxed geometries over parameters, a geometry that is only
converged to 1e-4 kcal/(mol·Å) moves by as much as the parameter step does. So the
L-BFGS result is polished with a few Newton steps on the finite-difference Hessian,
which converge quadratically from there. Each step works in the space orthogonal to
the rigid-body motions (where the Hessian is singular) and divides by |λ| so a
negative-curvature direction is descended, never climbed (the JAX engine's rule).
"""

from __future__ import annotations

import numpy as np

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
    ``gradient`` (kcal/(mol·Å), (n, 3))."""
    modes = rigid_modes(coordinates)
    internal = np.eye(hessian.shape[0]) - modes.T @ modes
    lam, vec = np.linalg.eigh(internal @ hessian @ internal)
    g = internal @ np.asarray(gradient, dtype=float).ravel()
    keep = np.abs(lam) > MIN_CURVATURE
    coefficients = (vec[:, keep].T @ g) / np.abs(lam[keep])
    return -(vec[:, keep] @ coefficients).reshape(coordinates.shape)
