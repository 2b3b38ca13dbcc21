"""Seminario (FUERZA) projection of a Cartesian Hessian onto bonds and angles.

Seminario (Int. J. Quantum Chem. 1996, 60, 1271) reads a bond's force constant off the
3×3 inter-atomic block of the Hessian: for atoms A, B the block −H_AB is the force on
A when B moves; decompose it (it is not symmetric, so eigenvalues may come in complex
pairs whose contributions are real together) and sum the eigenvalues weighted by how
much each eigenvector lies along the bond,

    k_AB = Σₙ λₙ |û_AB · vₙ|,

then average the A→B and B→A blocks (−H_BA = −H_ABᵀ has the same eigenvalues but other
eigenvectors, so the two differ).

Degenerate eigenvalues leave the eigenvectors free to rotate within their eigenspace,
and Σ|û·vₙ| over an arbitrary basis of that space is arbitrary too. Symmetry makes
this common: CH₃F's F–C block has a doubly degenerate transverse pair (split by 2·10⁻⁴
of its scale by numerical noise), and with the basis the noise picks the three
symmetry-equivalent F–C–H angles came out 0.79, 0.89 and 0.89 mdyn·Å/rad². Here
eigenvalues within ``DEGENERATE`` of the block's largest magnitude form one eigenspace
whose basis is chosen with one vector along the projection of û, so that space adds
λ·|P û| — the formula above, made independent of the basis (and equal to it wherever
the eigenvalues are distinct).

Angles follow the *modified* Seminario method of Allen, Payne & Cole
(J. Chem. Theory Comput. 2018, 14, 5777, doi:10.1021/acs.jctc.7b00785): for A–B–C
with centre B, project −H_AB onto the in-plane direction perpendicular to A–B and −H_CB
onto the one perpendicular to C–B, and combine the two like springs in series,

    1/k_θ = 1/(R_AB² S_A / f_A) + 1/(R_CB² S_C / f_C),

where f_A = 1 + mean |u_PA · u_PA′|² over the other angles A–B–X at the same centre
sharing the bond A–B (the correction that stops a bond's bending stiffness from being
counted once per angle it takes part in), and likewise f_C. A linear angle has no
plane: its constant is the mean over bending planes evenly spaced around the axis, with
f = 1 (and a linear angle contributes nothing to the f of its neighbours).

Units: the QM Hessian comes in Hartree/Bohr² and is converted with
``HESSIAN_AU_TO_KCALMOL_A2``. The projection gives the physical curvature k_phys of
E = ½ k_phys Δx²; q2mm's canonical convention is E = k Δx² (no ½), so every constant
returned here is **k_phys / 2** — kcal/(mol·Å²) for bonds, kcal/(mol·rad²) for angles.
Negative values are returned as they come (a transition state's reaction mode makes
them); the caller decides what to do with them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..model.units import HESSIAN_AU_TO_KCALMOL_A2

#: Eigenvalues of a block closer than this fraction of its largest one are degenerate.
DEGENERATE = 1e-3
#: |sin θ| below which an angle is treated as linear (θ within 0.06° of 0 or 180°).
LINEAR_SINE = 1e-3
#: Bending planes sampled around a linear angle's axis.
LINEAR_SAMPLES = 36


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a × b for 3-vectors, written out: ``np.cross``'s general machinery costs far
    more than the product itself for single vectors."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _block(hessian: np.ndarray, a: int, b: int) -> np.ndarray:
    """−H_ab in kcal/(mol·Å²): the stiffness between atoms a and b."""
    return -hessian[3 * a : 3 * a + 3, 3 * b : 3 * b + 3] * HESSIAN_AU_TO_KCALMOL_A2


def projected_stiffness(block: np.ndarray, direction: np.ndarray) -> float:
    """Σₙ λₙ |d · vₙ| over the eigenpairs of a 3×3 inter-atomic block, a degenerate
    eigenspace contributing λ·|P d| (see the module doc)."""
    eigenvalues, vectors = np.linalg.eig(block)
    tolerance = DEGENERATE * float(np.max(np.abs(eigenvalues)))
    total, left = 0.0, list(range(3))
    while left:
        group = [n for n in left if abs(eigenvalues[n] - eigenvalues[left[0]]) <= tolerance]
        left = [n for n in left if n not in group]
        if len(group) == 1:
            vector = vectors[:, group[0]]
            weight = abs(vector.conj() @ direction) / np.linalg.norm(vector)
        else:
            basis, _ = np.linalg.qr(vectors[:, group])
            weight = np.linalg.norm(basis.conj().T @ direction)
        total += np.mean(eigenvalues[group]) * weight
    return float(np.real(total))


def bond_constant(coordinates: np.ndarray, hessian: np.ndarray, a: int, b: int) -> float:
    """Canonical bond force constant k (E = k Δr²) of a–b, kcal/(mol·Å²); ``hessian``
    in Hartree/Bohr², ``coordinates`` in Å."""
    u = _unit(coordinates[b] - coordinates[a])
    k_phys = 0.5 * (
        projected_stiffness(_block(hessian, a, b), u) + projected_stiffness(_block(hessian, b, a), -u)
    )
    return k_phys / 2.0


def _in_plane_perpendicular(
    coordinates: np.ndarray, outer: int, centre: int, other: int
) -> np.ndarray | None:
    """Unit vector in the plane outer–centre–other, perpendicular to outer–centre (None
    when the angle is linear and there is no plane)."""
    u_outer = _unit(coordinates[centre] - coordinates[outer])
    u_other = _unit(coordinates[centre] - coordinates[other])
    normal = _cross(u_other, u_outer)
    if np.linalg.norm(normal) < LINEAR_SINE:
        return None
    return _unit(_cross(_unit(normal), u_outer))


def _multiplicity(
    coordinates: np.ndarray, outer: int, centre: int, other: int, neighbours: Sequence[int]
) -> float:
    """Allen's f: 1 + mean |u_P · u_P′|² over the other angles outer–centre–x."""
    u_p = _in_plane_perpendicular(coordinates, outer, centre, other)
    overlaps = []
    for x in neighbours:
        if x in (outer, other):
            continue
        u_x = _in_plane_perpendicular(coordinates, outer, centre, x)
        if u_x is not None:
            overlaps.append(float(u_p @ u_x) ** 2)
    return 1.0 + (float(np.mean(overlaps)) if overlaps else 0.0)


def _series(
    coordinates: np.ndarray, hessian: np.ndarray, a: int, b: int, c: int, u_pa, u_pc, f_a: float, f_c: float
) -> float:
    r_ab = np.linalg.norm(coordinates[a] - coordinates[b])
    r_cb = np.linalg.norm(coordinates[c] - coordinates[b])
    s_a = projected_stiffness(_block(hessian, a, b), u_pa) / f_a
    s_c = projected_stiffness(_block(hessian, c, b), u_pc) / f_c
    return 1.0 / (1.0 / (r_ab**2 * s_a) + 1.0 / (r_cb**2 * s_c))


def _linear_reference(
    coordinates: np.ndarray, hessian: np.ndarray, a: int, b: int, axis: np.ndarray, neighbours: Sequence[int]
) -> np.ndarray:
    """A unit vector across a linear angle's axis that the structure fixes (so the mean
    over bending planes does not depend on its orientation): toward the first other
    neighbour of the centre off the axis, else along the a–b block's eigenvector that
    lies most across it."""
    candidates = [coordinates[x] - coordinates[b] for x in neighbours if x != a]
    eigenvectors = np.real(np.linalg.eig(_block(hessian, a, b))[1]).T
    candidates += sorted(eigenvectors, key=lambda v: abs(v @ axis) / np.linalg.norm(v))
    candidates.append(np.eye(3)[int(np.argmin(np.abs(axis)))])
    for vector in candidates:
        across = vector - (vector @ axis) * axis
        if np.linalg.norm(across) > LINEAR_SINE * np.linalg.norm(vector):
            break
    return _unit(across)


def angle_constant(
    coordinates: np.ndarray, hessian: np.ndarray, a: int, b: int, c: int, neighbours: Sequence[int] = ()
) -> float:
    """Canonical angle force constant k (E = k Δθ²) of a–b–c (centre b), kcal/(mol·rad²).
    ``neighbours`` are the bonded neighbours of b, for the modified-Seminario
    correction (none given: no correction)."""
    u_ab = _unit(coordinates[b] - coordinates[a])
    u_cb = _unit(coordinates[b] - coordinates[c])
    normal = _cross(u_cb, u_ab)
    if np.linalg.norm(normal) >= LINEAR_SINE:
        normal = _unit(normal)
        f_a = _multiplicity(coordinates, a, b, c, neighbours)
        f_c = _multiplicity(coordinates, c, b, a, neighbours)
        k_phys = _series(
            coordinates,
            hessian,
            a,
            b,
            c,
            _unit(_cross(normal, u_ab)),
            _unit(_cross(u_cb, normal)),
            f_a,
            f_c,
        )
        return k_phys / 2.0
    # Linear: average over bending planes around the axis, starting from a plane the
    # structure itself defines so that the result does not depend on its orientation.
    e1 = _linear_reference(coordinates, hessian, a, b, u_ab, neighbours)
    e2 = _cross(u_ab, e1)
    values = []
    for phi in np.arange(LINEAR_SAMPLES) * (np.pi / LINEAR_SAMPLES):
        normal = np.cos(phi) * e1 + np.sin(phi) * e2
        values.append(
            _series(coordinates, hessian, a, b, c, _cross(normal, u_ab), _cross(u_cb, normal), 1.0, 1.0)
        )
    return float(np.mean(values)) / 2.0
