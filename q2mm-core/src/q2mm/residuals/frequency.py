"""The frequency residual: MM harmonic frequencies paired with QM modes by overlap.

How it is computed, and why (the pairing has to run inside ``jit``):

1. Project the MM Hessian on the QM normal modes, E = Vᵀ M^−½ H_MM M^−½ V
   (:mod:`q2mm.residuals.reference`). V spans exactly the vibrational space, so the
   eigenvalues of E are the MM vibrational eigenvalues with translations and rotations
   projected out (Eckart), and the columns w_j of its eigenvectors are the MM modes
   written in the QM-mode basis: the overlap of QM mode i with MM mode j is w_ij².
   No 3N-sized diagonalization, no near-zero rigid eigenvalues to find and drop.
2. Pair by overlap, not by sorted index: a one-to-one assignment built greedily —
   repeatedly take the largest remaining overlap and strike its row and column.
   The Hungarian algorithm maximizes the summed overlap instead; the two agree
   whenever each QM mode has one clearly dominant MM partner (overlap > ½), which is
   the regime in which pairing means anything. Greedy matching is n argmax steps of
   plain array operations (a rolled ``lax.fori_loop`` under JAX), so it runs in
   ``jit``. The pairing is piecewise constant in the parameters: gradients flow
   through the paired eigenvalues only, exactly as if the pairing were fixed.
3. Degenerate QM modes (|Δν̃| below ``degenerate_cm1``, e.g. CH₃F's E pairs) have no
   individual identity: any rotation within the pair is as good. The MM frequencies
   assigned to such a cluster are sorted before they are compared with the (sorted)
   QM ones, so the residual vector does not jump when the arbitrary pairing inside
   the cluster flips between two nearby parameter sets — finite differences and
   least-squares Jacobians stay smooth.
4. ν̃ = 5140.487 · sign(λ)√|λ| cm⁻¹ (:func:`q2mm.vibrations.to_wavenumbers`):
   imaginary modes are negative, on both sides.

The residual is ν̃_MM − ν̃_QM in cm⁻¹, one per QM vibrational mode in ascending QM
order. Transition states: method C targets the replaced curvature (5140 cm⁻¹ for the
default 1.0 Hartree/(Bohr²·amu)), methods D/E give the reaction mode zero weight.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ..estimate.curvature import DEFAULT_TS_METHOD
from ..model import MMSystem, Molecule
from ..vibrations import to_wavenumbers
from ._array import fori_loop
from .reference import DEFAULT_TS_CURVATURE, ModeReference, mode_reference
from .weights import DEFAULT_WEIGHTS


def assign_by_overlap(overlap: Any, xp: Any) -> Any:
    """Greedy one-to-one pairing: a 0/1 matrix P with P[i, j] = 1 when reference mode
    i pairs with mode j. ``overlap`` is square with entries in [0, 1]."""
    n = overlap.shape[0]
    index = xp.arange(n)

    def step(_, state):
        remaining, pairs = state
        best = xp.argmax(xp.reshape(remaining, (-1,)))
        row = index == best // n
        col = index == best % n
        pairs = pairs + xp.astype(row[:, None] & col[None, :], pairs.dtype)
        remaining = xp.where(row[:, None] | col[None, :], -1.0, remaining)
        return remaining, pairs

    _, pairs = fori_loop(xp, n, step, (overlap, xp.zeros_like(overlap)))
    return pairs


def degenerate_clusters(frequencies: np.ndarray, tolerance_cm1: float) -> tuple[tuple[int, int], ...]:
    """Contiguous [start, stop) runs of ascending frequencies closer than the tolerance."""
    runs, start = [], 0
    for i in range(1, len(frequencies) + 1):
        if i == len(frequencies) or frequencies[i] - frequencies[i - 1] >= tolerance_cm1:
            runs.append((start, i))
            start = i
    return tuple(runs)


@attrs.frozen(eq=False)
class FrequencyResidual:
    reference: ModeReference
    targets_cm1: np.ndarray
    clusters: tuple[tuple[int, int], ...]
    weights: np.ndarray
    name: str = "frequency"
    needs: frozenset[str] = frozenset({"hessian"})

    def mm_frequencies(self, mm_hessian: Any, xp: Any) -> Any:
        """MM frequencies (cm⁻¹) paired with the QM modes, in QM order."""
        eigenvalues, vectors = xp.linalg.eigh(self.reference.projected(mm_hessian, xp))
        pairs = assign_by_overlap(vectors * vectors, xp)
        frequencies = to_wavenumbers(pairs @ eigenvalues, xp)
        if all(stop - start == 1 for start, stop in self.clusters):
            return frequencies
        return xp.concatenate(
            [frequencies[a:b] if b - a == 1 else xp.sort(frequencies[a:b]) for a, b in self.clusters]
        )

    def evaluate(self, quantities: dict[str, Any], xp: Any) -> Any:
        return self.mm_frequencies(quantities["hessian"], xp) - xp.asarray(self.targets_cm1)


def build(
    molecule: Molecule,
    system: MMSystem,
    *,
    weight: float = DEFAULT_WEIGHTS["frequency"],
    degenerate_cm1: float = 1.0,
    stationary_point: str | None = None,
    ts_method: str = DEFAULT_TS_METHOD.value,
    ts_curvature: float = DEFAULT_TS_CURVATURE,
) -> FrequencyResidual:
    """``weight`` per cm⁻¹; ``stationary_point`` overrides the molecule's declared stationary kind."""
    reference = mode_reference(
        molecule,
        stationary_point=stationary_point,
        ts_method=ts_method,
        ts_curvature=ts_curvature,
        residual_name="frequency",
    )
    qm = to_wavenumbers(reference.eigenvalues)
    targets = to_wavenumbers(reference.targets)
    clusters = degenerate_clusters(qm, degenerate_cm1)
    weights = weight * reference.mode_weights()
    for array in (targets, weights):
        array.setflags(write=False)
    return FrequencyResidual(reference=reference, targets_cm1=targets, clusters=clusters, weights=weights)
