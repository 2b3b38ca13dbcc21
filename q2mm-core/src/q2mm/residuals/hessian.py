"""The raw Hessian residual: Cartesian elements H_MM − H_QM (Hartree/Bohr²).

The unique elements (upper triangle with the diagonal) of the Hessians at the QM
geometry, nothing projected: this is the target of Q2MM's ``h`` data type. For a
transition state the QM Hessian is not a target as it stands:

- method C compares with the curvature-inverted QM Hessian: the most negative
  eigenvalue of the Cartesian Hessian replaced by ``inverted_eigenvalue``
  (Hartree/Bohr²) — exactly the Hessian the estimator starts from
  (:func:`q2mm.estimate.curvature.invert_reaction_curvature`);
- methods D/E remove the reaction mode (the mass-weighted QM normal mode v of
  negative eigenvalue) from the difference:
  M^½ Q M^−½ (H_MM − H_QM) M^−½ Q M^½ with Q = 1 − v vᵀ.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

from ..estimate.curvature import DEFAULT_INVERTED_EIGENVALUE, DEFAULT_TS_METHOD, invert_reaction_curvature
from ..model import MMSystem, Molecule
from .reference import mode_reference
from .weights import DEFAULT_WEIGHTS


@attrs.frozen(eq=False)
class HessianResidual:
    target: np.ndarray  # Hartree/Bohr², (3N, 3N)
    #: Q = 1 − v vᵀ in mass-weighted coordinates (methods D/E), else None.
    mode_filter: np.ndarray | None
    sqrt_masses: np.ndarray  # (3N,)
    weights: np.ndarray
    name: str = "hessian"
    needs: frozenset[str] = frozenset({"hessian"})

    def evaluate(self, quantities: dict[str, Any], xp: Any) -> Any:
        difference = quantities["hessian"] - xp.asarray(self.target)
        if self.mode_filter is not None:
            s = xp.asarray(self.sqrt_masses)
            q = xp.asarray(self.mode_filter)
            weighted = difference / s[:, None] / s[None, :]
            difference = (q @ weighted @ q) * s[:, None] * s[None, :]
        rows, cols = np.triu_indices(self.target.shape[0])
        return difference[rows, cols]


def build(
    molecule: Molecule,
    system: MMSystem,
    *,
    weight: float = DEFAULT_WEIGHTS["hessian"],
    stationary_point: str | None = None,
    ts_method: str = DEFAULT_TS_METHOD.value,
    inverted_eigenvalue: float = DEFAULT_INVERTED_EIGENVALUE,
) -> HessianResidual:
    """``weight`` per Hartree/Bohr²; ``stationary_point`` overrides the declared stationary kind;
    ``inverted_eigenvalue`` (Hartree/Bohr²) is method C's replacement curvature."""
    reference = mode_reference(
        molecule, stationary_point=stationary_point, ts_method=ts_method, residual_name="hessian"
    )
    sqrt_masses = np.sqrt(np.repeat(reference.masses, 3))
    target = np.array(molecule.hessian, dtype=float)
    mode_filter = None
    if reference.reaction_mode is not None and reference.drop_reaction_mode:
        v = reference.modes[:, reference.reaction_mode]
        mode_filter = np.eye(v.size) - np.outer(v, v)
        mode_filter.setflags(write=False)
    elif reference.reaction_mode is not None:
        target = invert_reaction_curvature(target, molecule.coordinates, inverted_eigenvalue)
    n = target.shape[0]
    weights = np.full(n * (n + 1) // 2, float(weight))
    for array in (target, sqrt_masses, weights):
        array.setflags(write=False)
    return HessianResidual(target=target, mode_filter=mode_filter, sqrt_masses=sqrt_masses, weights=weights)
