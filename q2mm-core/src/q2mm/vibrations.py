"""Harmonic frequency analysis of Cartesian Hessians.

Conventions (those of every QM program, so QM and MM spectra compare directly):
Hessians in Hartree/Bohr², Cartesian, not mass-weighted; masses in amu (pass the
isotopic masses the QM program used — Gaussian, Jaguar and Psi4 use the most abundant
isotope, and standard atomic weights shift C–H stretches by ~0.3 cm⁻¹); coordinates
in any length unit (only directions enter the projector). Frequencies in cm⁻¹,
ν̃ = FREQUENCY_AU_TO_CM1 · sign(λ)·√|λ| for eigenvalues λ of the mass-weighted
Hessian, so imaginary modes come out negative. Modes are rows: an ``(n_modes, 3N)``
array, atom-major (x₀, y₀, z₀, x₁, …), matching ``Molecule.normal_modes``.

Rigid motions are removed by projection, not by dropping the smallest eigenvalues:
P = 1 − D (DᵀD)⁺ Dᵀ with D the mass-weighted translations and rotations about the
centre of mass (Eckart conditions). A linear molecule has one rotation with zero
length; the pseudo-inverse drops it, so 5 modes are removed instead of 6. The
rigid subspace is then lifted to a large eigenvalue (P H P + c (1 − P)) so that the
3N − k vibrational eigenvalues are simply the lowest ones: array shapes stay static,
which keeps :func:`mass_weight`, :func:`projector` and
:func:`frequencies_from_hessian` usable under ``jax.jit`` when ``xp`` is
``jax.numpy`` (pass ``linear`` there: detecting it needs concrete coordinates).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from .errors import ConfigError
from .model.units import FREQUENCY_AU_TO_CM1

#: A molecule is linear when its smallest principal moment of inertia is below this
#: fraction of the largest.
LINEAR_TOLERANCE = 1e-8


def mass_weight(hessian: Any, masses: Any, xp: Any = np) -> Any:
    """H_ij / √(m_i m_j) with one mass per atom, repeated over x, y, z."""
    inv_sqrt = 1.0 / xp.sqrt(xp.repeat(xp.asarray(masses, dtype=float), 3))
    return hessian * inv_sqrt[:, None] * inv_sqrt[None, :]


def _centred(coordinates: Any, masses: Any, xp: Any) -> tuple[Any, Any]:
    x = xp.asarray(coordinates, dtype=float)
    m = xp.asarray(masses, dtype=float)
    return x - (m[:, None] * x).sum(axis=0) / m.sum(), m


def _inertia(centred: Any, m: Any, xp: Any) -> Any:
    return (m * (centred * centred).sum(axis=1)).sum() * xp.eye(3) - (m[:, None] * centred).T @ centred


def is_linear(coordinates: Any, masses: Any) -> bool:
    """Whether the atoms lie on one line (needs concrete coordinates, not traced ones)."""
    centred, m = _centred(np.asarray(coordinates, dtype=float), np.asarray(masses, dtype=float), np)
    if centred.shape[0] < 2:
        raise ValueError("frequency analysis needs at least two atoms")
    moments = np.linalg.eigvalsh(_inertia(centred, m, np))
    return bool(moments[0] < LINEAR_TOLERANCE * moments[-1])


def projector(coordinates: Any, masses: Any, xp: Any = np, linear: bool | None = None) -> Any:
    """Projector (3N, 3N) onto the mass-weighted space orthogonal to translations and
    rotations about the centre of mass; apply as P H_mw P.

    With D = [T R] (√m-weighted unit translations, √m (e_a × r) rotations) the blocks
    are orthogonal, TᵀT = M·1 and RᵀR is the inertia tensor I, so
    P = 1 − T Tᵀ/M − R I⁺ Rᵀ. For a linear molecule I = I⊥ (1 − a aᵀ), whose
    pseudo-inverse is I / I⊥² with I⊥ = tr I / 2: no eigen-decomposition, hence
    finite derivatives under JAX. ``linear`` None means detect it (concrete input)."""
    if linear is None:
        linear = is_linear(coordinates, masses)
    centred, m = _centred(coordinates, masses, xp)
    n = centred.shape[0]
    sqrt_m = xp.sqrt(m)[:, None]
    axes = xp.eye(3)
    t = xp.stack([xp.reshape(sqrt_m * xp.broadcast_to(axes[a], (n, 3)), (3 * n,)) for a in range(3)], axis=1)
    r = xp.stack([xp.reshape(sqrt_m * xp.cross(axes[a], centred), (3 * n,)) for a in range(3)], axis=1)
    inertia = _inertia(centred, m, xp)
    if linear:
        perpendicular = xp.trace(inertia) / 2.0
        inertia_pinv = inertia / perpendicular**2
    else:
        inertia_pinv = xp.linalg.inv(inertia)
    return xp.eye(3 * n) - t @ t.T / m.sum() - r @ inertia_pinv @ r.T


def _lifted(hessian: Any, coordinates: Any, masses: Any, xp: Any, linear: bool) -> Any:
    """P H_mw P + c (1 − P): rigid modes at c, above every vibrational eigenvalue
    (c exceeds the Frobenius norm, which bounds the spectral radius)."""
    h = mass_weight(hessian, masses, xp)
    p = projector(coordinates, masses, xp, linear)
    c = 2.0 * xp.sqrt((h * h).sum()) + 1.0
    return p @ h @ p + c * (xp.eye(p.shape[0]) - p)


def to_wavenumbers(eigenvalues: Any, xp: Any = np) -> Any:
    """Eigenvalues in Hartree/(Bohr²·amu) → cm⁻¹, imaginary modes negative."""
    return FREQUENCY_AU_TO_CM1 * xp.sign(eigenvalues) * xp.sqrt(xp.abs(eigenvalues))


def frequencies_from_hessian(
    hessian: Any, coordinates: Any, masses: Any, xp: Any = np, linear: bool | None = None
) -> Any:
    """The 3N − 6 (3N − 5 if linear) harmonic frequencies in cm⁻¹, ascending.
    ``linear`` None means detect it (needs concrete coordinates; pass it under jit)."""
    if linear is None:
        linear = is_linear(coordinates, masses)
    eigenvalues = xp.linalg.eigvalsh(_lifted(hessian, coordinates, masses, xp, linear))
    return to_wavenumbers(eigenvalues[: eigenvalues.shape[0] - (5 if linear else 6)], xp)


@attrs.frozen(eq=False)
class NormalModes:
    """Vibrational modes, ascending by eigenvalue. ``vectors`` are the orthonormal
    eigenvectors of the projected mass-weighted Hessian; ``displacements`` the
    Cartesian displacements M^(−½)·v scaled to unit length (what QM programs print)."""

    frequencies: np.ndarray
    eigenvalues: np.ndarray  # Hartree/(Bohr²·amu)
    vectors: np.ndarray  # (n_modes, 3N), mass-weighted
    displacements: np.ndarray  # (n_modes, 3N), Cartesian


def normal_modes(hessian: Any, coordinates: Any, masses: Any) -> NormalModes:
    linear = is_linear(coordinates, masses)
    eigenvalues, eigenvectors = np.linalg.eigh(
        _lifted(np.asarray(hessian, dtype=float), coordinates, masses, np, linear)
    )
    n_modes = eigenvalues.shape[0] - (5 if linear else 6)
    vectors = eigenvectors[:, :n_modes].T
    displacements = vectors / np.sqrt(np.repeat(np.asarray(masses, dtype=float), 3))[None, :]
    displacements /= np.linalg.norm(displacements, axis=1, keepdims=True)
    return NormalModes(
        frequencies=to_wavenumbers(eigenvalues[:n_modes]),
        eigenvalues=eigenvalues[:n_modes],
        vectors=vectors,
        displacements=displacements,
    )


def match_modes(ref_vectors: Any, vectors: Any) -> np.ndarray:
    """For each reference mode (row), the index of the mode in ``vectors`` it pairs
    with: the one-to-one assignment maximizing the summed |cosine| overlap
    (Hungarian algorithm), so reordered or swapped modes still pair correctly.
    Rows are normalized first; ``vectors`` may hold more modes than the reference."""
    ref = np.asarray(ref_vectors, dtype=float)
    other = np.asarray(vectors, dtype=float)
    if ref.ndim != 2 or other.ndim != 2 or ref.shape[1] != other.shape[1] or ref.shape[0] > other.shape[0]:
        raise ValueError(f"cannot match modes of shapes {ref.shape} and {other.shape}")
    overlap = np.abs(
        (ref / np.linalg.norm(ref, axis=1, keepdims=True))
        @ (other / np.linalg.norm(other, axis=1, keepdims=True)).T
    )
    # scipy.optimize costs ~0.8 s to import; `q2mm plugins` and the config reach this
    # module (reaction_mode) without matching modes.
    from scipy.optimize import linear_sum_assignment

    rows, columns = linear_sum_assignment(overlap, maximize=True)
    order = np.empty(ref.shape[0], dtype=int)
    order[rows] = columns
    return order


#: Imaginary frequencies smaller than this (cm⁻¹) are the numerical noise of a
#: structure optimized to the usual thresholds (soft rotors, a slightly loose
#: geometry), not a negative curvature that makes it a saddle point.
IMAGINARY_NOISE_CM1 = 50.0


def imaginary_frequencies(hessian: Any, coordinates: Any, masses: Any) -> np.ndarray:
    """The imaginary harmonic frequencies (negative, cm⁻¹, most negative first) beyond
    :data:`IMAGINARY_NOISE_CM1`; rigid motions are projected out first."""
    frequencies = frequencies_from_hessian(np.asarray(hessian, dtype=float), coordinates, masses)
    return np.sort(frequencies[frequencies < -IMAGINARY_NOISE_CM1])


def rigid_body_basis(coordinates: np.ndarray) -> np.ndarray:
    """Orthonormal columns spanning the Cartesian translations and rotations."""
    centred = np.asarray(coordinates, dtype=float) - np.mean(coordinates, axis=0)
    moves = [np.tile(axis, len(centred)) for axis in np.eye(3)]
    moves += [np.cross(axis, centred).ravel() for axis in np.eye(3)]
    q, r = np.linalg.qr(np.array(moves).T)
    return q[:, np.abs(np.diag(r)) > 1e-8]  # a linear molecule has two rotations


def reaction_mode(hessian: np.ndarray, coordinates: np.ndarray, name: str = "?") -> tuple[np.ndarray, int]:
    """The eigen-decomposition of the Hessian's symmetric part (eigenvalues, vectors as
    columns) and the index of its reaction mode: the most negative eigenvalue whose
    eigenvector is not mostly a translation or rotation (away from an exact stationary
    point those pick up small eigenvalues of either sign)."""
    h = np.asarray(hessian, dtype=float)
    eigenvalues, vectors = np.linalg.eigh(0.5 * (h + h.T))
    rigid = rigid_body_basis(coordinates)
    internal = np.sum((rigid.T @ vectors) ** 2, axis=0) < 0.5
    candidates = np.flatnonzero(internal & (eigenvalues < 0))
    if not len(candidates):
        lowest = ", ".join(f"{v:.3g}" for v in np.sort(eigenvalues[internal])[:3])
        raise ConfigError(
            f"structure {name} is declared a transition state but its Hessian has no negative "
            f"eigenvalue (lowest internal ones: {lowest} Hartree/Bohr²)"
        )
    return (eigenvalues, vectors), int(candidates[np.argmin(eigenvalues[candidates])])
