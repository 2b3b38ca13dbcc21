"""Torsion and out-of-plane starts from the QM Hessian's curvature along rigid motions.

Seminario's projection (:mod:`q2mm.estimate.seminario`) reads bond and angle constants
off inter-atomic Hessian blocks; torsions and out-of-plane bends have no such block.
Their starts come from the QM curvature along a displacement that moves, to first
order, only the coordinates the term describes — d²E/ds² = dᵀHd for a unit
displacement d — matched to the curvature the MM term gives along the same d:

- **Rotor** about a bond j–k outside rings: the side of k turns rigidly about the
  j→k axis (d = u × (x − x_k) on that side, zero elsewhere; a rotation of the whole
  molecule costs nothing at a stationary point, so which side turns does not matter).
  Bonds, angles and out-of-plane angles stay fixed; only the torsions about j–k
  change, each by the rotation angle, so the MM curvature is
  Σₜ kₜ n² cos(nφₜ − phaseₙ) over those torsions for one Fourier component n:
  n = 2 when both ends are planar trigonal centres (C=C, amide C–N), else 3. Each
  torsion takes the sign that makes the QM geometry its minimum (an O=C–C–H
  eclipsed at 0° wants V₃ < 0, the H–C–C–H of the same rotor at ±60°/180° V₃ > 0),
  all with one magnitude K = c_QM / Σₜ n² |cos(nφₜ − phaseₙ)|.
- **Pyramidalization** of a planar trigonal centre: the centre moves along the
  normal of its neighbours' plane and the neighbours back by a third each. In the
  plane bonds and angles change only to second order; the MM curvature is
  2 k Σ (∂χ/∂s)² over the centre's out-of-plane coordinates χ (MM3: the three
  Allinger angles, one per neighbour as the out-of-plane atom; harmonic: one
  improper dihedral, centre first).

A transition state's Hessian is negative along its reaction mode; a rotor or a
pyramidalization that *is* that mode (a rotation barrier) has negative QM curvature,
and the term starts from its magnitude: the TSFF is to hold the TS as a minimum,
about as firmly as QM curves away from it. Units: the Hessian in Hartree/Bohr²,
curvatures returned in kcal/mol per rad² (rotors, physical d²E/dΔ²) and the
out-of-plane constants in the canonical E = k χ² convention (no ½).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..model.units import HESSIAN_AU_TO_KCALMOL_A2
from ..residuals.geometry import torsion_angles
from ..topology import Topology

#: Finite-difference step (Å) for the out-of-plane coordinates' first derivatives.
_STEP = 1e-4
#: Phase of each Fourier component in MM3's V1/V2/V3 convention (radians).
PHASES = {1: 0.0, 2: np.pi, 3: 0.0}


def rotor_side(topology: Topology, j: int, k: int) -> tuple[int, ...] | None:
    """The atoms on k's side of bond j–k (k included), or ``None`` when j–k is in a
    ring (no rigid rotation about it exists)."""
    seen, frontier = {k}, [k]
    while frontier:
        atom = frontier.pop()
        for other in topology.neighbours[atom]:
            if atom == k and other == j:
                continue
            if other == j:
                return None
            if other not in seen:
                seen.add(other)
                frontier.append(other)
    return tuple(sorted(seen))


def _curvature(hessian: np.ndarray, displacement: np.ndarray) -> float:
    """dᵀHd (kcal/mol per unit of d²) for a Cartesian displacement (n, 3) in Å."""
    d = displacement.ravel()
    return float(d @ np.asarray(hessian, dtype=float) @ d) * HESSIAN_AU_TO_KCALMOL_A2


def rotor_curvature(
    coordinates: np.ndarray, hessian: np.ndarray, j: int, k: int, side: Sequence[int]
) -> float:
    """d²E/dΔ² (kcal/mol/rad²) for the rigid rotation Δ of ``side`` about j→k."""
    axis = coordinates[k] - coordinates[j]
    axis = axis / np.linalg.norm(axis)
    displacement = np.zeros_like(coordinates)
    side = list(side)
    displacement[side] = np.cross(axis, coordinates[side] - coordinates[k])
    return _curvature(hessian, displacement)


def torsion_starts(
    coordinates: np.ndarray, torsions: Sequence[tuple[int, int, int, int]], curvature: float, n: int
) -> list[float]:
    """The k_n of each torsion about one rotor (see the module doc), for a QM rotor
    curvature (kcal/mol/rad²); zeros when no torsion of the rotor has curvature in
    component n (every cos(nφ − phase) ≈ 0)."""
    phi = torsion_angles(coordinates, np.asarray(torsions), np)
    response = n * n * np.cos(n * phi - PHASES[n])
    total = float(np.sum(np.abs(response)))
    if total < 1e-6:
        return [0.0] * len(torsions)
    # E = k (1 + cos(nφ − phase)) curves by −k n² cos(nφ − phase): a minimum needs k
    # of the opposite sign to the cosine.
    return [float(-np.sign(r) * abs(curvature) / total) for r in response]


def allinger_angle(coordinates: np.ndarray, i: int, centre: int, k: int, l: int) -> float:
    """MM3's out-of-plane angle of ``centre`` seen from l: between l→centre and the
    plane i–k–l (Tinker's opbendtype ALLINGER), signed."""
    normal = np.cross(coordinates[i] - coordinates[l], coordinates[k] - coordinates[l])
    normal = normal / np.linalg.norm(normal)
    lj = coordinates[centre] - coordinates[l]
    height = lj @ normal
    return float(np.arctan2(height, np.linalg.norm(lj - height * normal)))


def improper_angle(coordinates: np.ndarray, centre: int, a: int, b: int, c: int) -> float:
    """The improper dihedral centre–a–b–c (0 for a planar centre)."""
    return float(torsion_angles(coordinates, np.array([[centre, a, b, c]]), np)[0])


def pyramidalization(coordinates: np.ndarray, centre: int, neighbours: Sequence[int]) -> np.ndarray:
    """Unit displacement (n, 3): the centre along its neighbours' plane normal, each
    neighbour back by a third (no net translation)."""
    a, b, c = (coordinates[n] for n in neighbours)
    normal = np.cross(b - a, c - a)
    displacement = np.zeros_like(coordinates)
    displacement[centre] = normal
    displacement[list(neighbours)] = -normal / 3.0
    return displacement / np.linalg.norm(displacement)


def out_of_plane_constant(
    coordinates: np.ndarray,
    hessian: np.ndarray,
    centre: int,
    neighbours: Sequence[int],
    measures: Sequence[Callable[[np.ndarray], float]],
) -> float:
    """The constant k of E = k Σ χ² over a centre's out-of-plane ``measures`` (each a
    function of the coordinates) that gives the QM curvature along its
    pyramidalization (kcal/mol/rad²; magnitude, see the module doc)."""
    d = pyramidalization(coordinates, centre, neighbours)
    slopes = [
        (measure(coordinates + _STEP * d) - measure(coordinates - _STEP * d)) / (2 * _STEP)
        for measure in measures
    ]
    response = 2.0 * float(np.sum(np.square(slopes)))
    return abs(_curvature(hessian, d)) / response
