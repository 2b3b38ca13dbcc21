"""The eigenmatrix residual: the classic Q2MM Hessian target.

The MM Hessian (at the QM geometry) is projected onto the QM normal modes,
E_MM = Vᵀ M^−½ H_MM M^−½ V, and compared with the diagonal matrix of QM eigenvalues:
diagonal elements E_ii − λ_i, then the couplings E_ij (i < j, target 0). Fitting E
rather than frequencies needs no mode pairing at all — V is fixed by the QM data —
so the residual is smooth in the parameters and identical on NumPy and in ``jit``.
Units: Hartree/(Bohr²·amu). Diagonal and off-diagonal elements carry separate
weights (:mod:`q2mm.residuals.weights`); a transition state's reaction mode follows
the TS method (see :mod:`q2mm.residuals.reference`); its couplings keep their weight
under every method.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ..estimate.curvature import DEFAULT_TS_METHOD
from ..model import MMSystem, Molecule
from .reference import DEFAULT_TS_CURVATURE, ModeReference, mode_reference
from .weights import DEFAULT_WEIGHTS


@attrs.frozen(eq=False)
class EigenmatrixResidual:
    reference: ModeReference
    weights: np.ndarray  # per element: diagonal first, then the upper triangle row by row
    name: str = "eigenmatrix"
    needs: frozenset[str] = frozenset({"hessian"})

    @property
    def upper(self) -> tuple[np.ndarray, np.ndarray]:
        return np.triu_indices(self.reference.n_modes, k=1)

    def evaluate(self, quantities: dict[str, Any], xp: Any) -> Any:
        e = self.reference.projected(quantities["hessian"], xp)
        rows, cols = self.upper
        diagonal = xp.diagonal(e) - xp.asarray(self.reference.targets)
        return xp.concatenate([diagonal, e[rows, cols]])

    def diagonal(self, mm_hessian: np.ndarray) -> np.ndarray:
        """The MM diagonal E_ii (for reports)."""
        return np.diagonal(self.reference.projected(np.asarray(mm_hessian), np))


def build(
    molecule: Molecule,
    system: MMSystem,
    *,
    diagonal_weight: float = DEFAULT_WEIGHTS["eigenmatrix.diagonal"],
    off_diagonal_weight: float = DEFAULT_WEIGHTS["eigenmatrix.off_diagonal"],
    stationary_point: str | None = None,
    ts_method: str = DEFAULT_TS_METHOD.value,
    ts_curvature: float = DEFAULT_TS_CURVATURE,
) -> EigenmatrixResidual:
    """``stationary_point`` overrides the molecule's declared stationary kind."""
    reference = mode_reference(
        molecule,
        stationary_point=stationary_point,
        ts_method=ts_method,
        ts_curvature=ts_curvature,
        residual_name="eigenmatrix",
    )
    # D and E leave out the reaction mode's own curvature, never its couplings: the QM
    # reaction mode is an eigenvector, so E_0j = 0 is still the target, and left free the
    # couplings let the stiff MM reaction coordinate push a real mode's frequency down
    # (HC–OH 1,2-shift: its 1459 cm⁻¹ mode fell to 31 cm⁻¹ at an exact diagonal).
    keep = reference.mode_weights()
    n = reference.n_modes
    weights = np.concatenate([diagonal_weight * keep, np.full(n * (n - 1) // 2, off_diagonal_weight)])
    weights.setflags(write=False)
    return EigenmatrixResidual(reference=reference, weights=weights)
